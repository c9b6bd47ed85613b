"""Per-pixel object categories of REFER images: the targets of the auxiliary category loss.

Every annotated object of an image (not only the referred ones) is painted with
its COCO category, so a trunk can be taught what the objects are, independently
of any sentence. Label 0 is background, label ``1 + i`` the i-th category of
``instances.json`` in id order; later annotations overwrite earlier ones where
they overlap.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lgformer.data.masks import segmentation_to_mask
from lgformer.data.refer_layout import instances_path
from lgformer.data.transforms import resize_mask
from lgformer.errors import LGFormerError


@dataclass(frozen=True)
class ImageCategories:
    """The category objects of some images.

    Attributes:
        names: category names in COCO id order (label ``1 + i`` is ``names[i]``).
        objects: image id -> [(label, segmentation as in instances.json)], in file order.
    """

    names: list[str]
    objects: dict[int, list[tuple[int, Any]]]

    @property
    def num_labels(self) -> int:
        """Background plus one label per category."""
        return 1 + len(self.names)

    def label_map(self, image_id: int, height: int, width: int, size: int) -> np.ndarray:
        """(size, size) int64 labels of image ``image_id`` (``height`` x ``width`` pixels),
        each object's mask resized to ``size`` with nearest neighbour like the targets."""
        return self.object_labels(image_id)[self.instance_map(image_id, height, width, size)]

    def object_labels(self, image_id: int) -> np.ndarray:
        """(1 + N,) int64: 0, then the label of each of the image's N objects; indexed by an
        ``instance_map`` it gives the ``label_map``."""
        return np.array([0] + [label for label, _ in self.objects.get(image_id, [])], np.int64)

    def instance_map(self, image_id: int, height: int, width: int, size: int) -> np.ndarray:
        """(size, size) int64 object of every pixel: 0 background, ``1 + i`` the i-th
        object of ``objects[image_id]`` (later ones on top where they overlap)."""
        instances = np.zeros((size, size), np.int64)
        for i, (_, segmentation) in enumerate(self.objects.get(image_id, [])):
            mask = resize_mask(segmentation_to_mask(segmentation, height, width), size)
            instances[mask] = 1 + i
        return instances


def load_image_categories(
    root: str | Path,
    dataset: str,
    image_ids: Iterable[int] | None = None,
) -> ImageCategories:
    """Read the categories and the objects of ``image_ids`` (all images when None) from
    ``<root>/<dataset>/instances.json``.

    Raises:
        LGFormerError: a missing or malformed instances file.
    """
    path = instances_path(root, dataset)
    if not path.is_file():
        raise LGFormerError(f"instances file not found: {path}")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        categories = sorted(data["categories"], key=lambda c: c["id"])
        label_of = {int(c["id"]): 1 + i for i, c in enumerate(categories)}
        wanted = None if image_ids is None else {int(i) for i in image_ids}
        objects: dict[int, list[tuple[int, Any]]] = {}
        for ann in data["annotations"]:
            image_id = int(ann["image_id"])
            if wanted is None or image_id in wanted:
                label = label_of[int(ann["category_id"])]
                objects.setdefault(image_id, []).append((label, ann["segmentation"]))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise LGFormerError(f"cannot read instances file {path}: {err}") from err
    except (KeyError, TypeError, ValueError) as err:
        raise LGFormerError(
            f"instances file {path} has no usable categories/annotations for the category "
            f"loss: {err!r}"
        ) from err
    return ImageCategories(names=[str(c["name"]) for c in categories], objects=objects)
