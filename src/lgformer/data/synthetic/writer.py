"""Writing a synthetic dataset in the REFER format (spec section 10).

Layout under ``out``::

    synthetic/refs(unc).p            pickled list of refs
    synthetic/instances.json         COCO images / annotations (polygons) / categories
    synthetic/info.json              generator settings and statistics (not read by loaders)
    images/synthetic/synthetic_NNNNNN.jpg

Dataset name "synthetic", splitBy "unc", splits train / val / testA / testB.
testB images refer only to objects of the held-out colour+shape pairs, which
never appear in the other splits. Every object of every image is an
annotation; refs exist for the referred ones. Every image has its own random
stream (seed, image index), so the output is identical for the same seed and
count whatever else changes.
"""

from __future__ import annotations

import json
import pickle
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from lgformer.data.synthetic.attributes import HELD_OUT_COMBOS, SHAPES
from lgformer.data.synthetic.build import SyntheticImage, build_image
from lgformer.data.synthetic.contours import mask_to_polygons
from lgformer.data.synthetic.raster import mask_bbox
from lgformer.data.synthetic.scene import SceneObject
from lgformer.errors import LGFormerError

DATASET = "synthetic"
SPLIT_BY = "unc"
IMAGE_DIR = ("images", "synthetic")  # relative to the data root
SPLITS: tuple[str, ...] = ("train", "val", "testA", "testB")
EVAL_FRACTION = 0.1  # of the images, for each of val, testA and testB
MIN_IMAGES = len(SPLITS)
VERSION = 1
JPEG_QUALITY = 95
TESTB_HELD_OUT = 2  # held-out objects seeded into each testB scene (copies add more)


def assign_splits(num_images: int, seed: int) -> list[str]:
    """The split of each image: 10% each for val, testA and testB (at least one), the rest train."""
    if num_images < MIN_IMAGES:
        raise LGFormerError(f"need at least {MIN_IMAGES} images (one per split), got {num_images}")
    n_eval = max(1, round(EVAL_FRACTION * num_images))
    labels = ["val"] * n_eval + ["testA"] * n_eval + ["testB"] * n_eval
    labels += ["train"] * (num_images - len(labels))
    order = np.random.default_rng(seed).permutation(num_images)
    return [labels[i] for i in order]


def _segmentation(obj: SceneObject) -> list[list[float]]:
    if not obj.occluded:
        return [obj.polygon.reshape(-1).tolist()]  # the exact outline
    polygons, holes = mask_to_polygons(obj.mask)
    if holes:  # the scene sampler rejects these; a hole would be filled by COCO decoding
        raise RuntimeError("visible region with a hole")
    return polygons


def _annotation(obj: SceneObject, ann_id: int, image_id: int) -> dict[str, Any]:
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": SHAPES.index(obj.shape) + 1,
        "segmentation": _segmentation(obj),
        "area": float(obj.mask.sum()),
        "bbox": mask_bbox(obj.mask),
        "iscrowd": 0,
        # Not in COCO: what the sentences talk about, so any sentence can be re-checked
        # (lgformer.data.synthetic.expressions.resolve) from the files alone.
        "attributes": {
            "shape": obj.shape,
            "colour": obj.colour,
            "size": obj.size,
            "centre": [obj.cx, obj.cy],
            "shape_area": obj.area,  # of the whole shape, occluded or not
        },
    }


class _Accumulator:
    """Collects images, annotations and refs with running ids."""

    def __init__(self) -> None:
        self.images: list[dict] = []
        self.annotations: list[dict] = []
        self.refs: list[dict] = []
        self.sent_count = 0
        self.kinds: Counter[str] = Counter()
        self.per_split: dict[str, Counter[str]] = {s: Counter() for s in SPLITS}
        self.objects = 0
        self.occluded = 0

    def add(self, image: SyntheticImage, image_id: int, file_name: str, split: str) -> None:
        size = image.scene.image_size
        self.images.append({"id": image_id, "file_name": file_name, "height": size, "width": size})
        ann_ids = []
        for obj in image.scene.objects:
            ann_ids.append(len(self.annotations) + 1)
            self.annotations.append(_annotation(obj, ann_ids[-1], image_id))
            self.objects += 1
            self.occluded += obj.occluded
        for target in image.targets:
            obj = image.scene.objects[target.index]
            sents = []
            for text, kind in zip(target.sentences, target.kinds, strict=True):
                sents.append(
                    {"sent_id": self.sent_count, "raw": text, "sent": text,
                     "tokens": text.split(), "kind": kind}
                )  # fmt: skip
                self.sent_count += 1
                self.kinds[kind] += 1
            self.refs.append(
                {
                    "ref_id": len(self.refs),
                    "ann_id": ann_ids[target.index],
                    "image_id": image_id,
                    "category_id": SHAPES.index(obj.shape) + 1,
                    "split": split,
                    "file_name": file_name,
                    "sent_ids": [s["sent_id"] for s in sents],
                    "sentences": sents,
                }
            )
            self.per_split[split]["refs"] += 1
            self.per_split[split]["sentences"] += len(sents)
        self.per_split[split]["images"] += 1

    def statistics(self) -> dict[str, Any]:
        return {
            "images": len(self.images),
            "objects": self.objects,
            "occluded_objects": self.occluded,
            "refs": len(self.refs),
            "sentences": self.sent_count,
            "sentence_kinds": dict(sorted(self.kinds.items())),
            "splits": {s: dict(c) for s, c in self.per_split.items()},
        }


def write_dataset(
    out: str | Path,
    num_images: int,
    seed: int,
    *,
    image_size: int = 160,
    sentences_per_ref: int = 3,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Generate and write a synthetic REFER dataset under ``out``; returns its statistics.

    Args:
        out: the data root (gets ``synthetic/`` and ``images/synthetic/``).
        num_images: number of images (at least 4: one per split).
        seed: non-negative integer; the same seed and count give identical files.
        image_size: side of the square images in pixels.
        sentences_per_ref: at most this many sentences per referred object (at least 1).
        progress: called as ``progress(done, total)`` after each image.
    """
    if seed < 0:
        raise LGFormerError(f"seed must be a non-negative integer, got {seed}")
    if image_size < 64:
        raise LGFormerError(f"image size must be at least 64 pixels, got {image_size}")
    if sentences_per_ref < 1:
        raise LGFormerError(f"sentences per ref must be at least 1, got {sentences_per_ref}")
    splits = assign_splits(num_images, seed)
    root = Path(out)
    ann_dir, img_dir = root / DATASET, root.joinpath(*IMAGE_DIR)
    for folder in (ann_dir, img_dir):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:  # a file in the way, no permission, ...
            raise LGFormerError(f"cannot create the directory {folder}: {err.strerror}") from err
    acc = _Accumulator()
    for index, split in enumerate(splits):
        rng = np.random.default_rng([seed, index])
        held_out = TESTB_HELD_OUT if split == "testB" else 0
        image = build_image(
            rng, image_size, num_held_out=held_out, sentences_per_target=sentences_per_ref
        )
        file_name = f"synthetic_{index + 1:06d}.jpg"
        # JPEG at quality 95 without chroma subsampling: 15x faster to write than PNG
        # and 3x smaller; the ground truth is the polygons, not the pixels.
        Image.fromarray(image.rgb).save(img_dir / file_name, quality=JPEG_QUALITY, subsampling=0)
        acc.add(image, index + 1, file_name, split)
        if progress is not None:
            progress(index + 1, num_images)

    categories = [{"id": i + 1, "name": s, "supercategory": "shape"} for i, s in enumerate(SHAPES)]
    instances = {"images": acc.images, "annotations": acc.annotations, "categories": categories}
    with open(ann_dir / "instances.json", "w") as f:
        json.dump(instances, f)
    with open(ann_dir / f"refs({SPLIT_BY}).p", "wb") as f:
        pickle.dump(acc.refs, f, protocol=4)
    stats = acc.statistics()
    info = {
        "generator": "lgformer synth",
        "version": VERSION,
        "seed": seed,
        "image_size": image_size,
        "sentences_per_ref": sentences_per_ref,
        "held_out_combos": sorted(f"{c} {s}" for c, s in HELD_OUT_COMBOS),
        "statistics": stats,
    }
    with open(ann_dir / "info.json", "w") as f:
        json.dump(info, f, indent=1)
    return stats
