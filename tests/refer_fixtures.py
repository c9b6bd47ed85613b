"""Tiny REFER-format datasets written to a temporary directory, with the expected masks.

Images are random RGB PNGs of a few dozen pixels. Annotations cover a single
polygon, a multi-part polygon whose parts overlap, a crowd annotation with an
uncompressed RLE and a compressed RLE; refs cover every split kind
(train, val, test, testA, testB, testAB, testC) with 1 to 3 sentences each.
"""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from lgformer.data.refer_layout import image_dir

# image_id -> (height, width)
IMAGES = {1: (30, 40), 2: (36, 28), 3: (24, 24)}


def rect(x0: int, y0: int, x1: int, y1: int) -> list[float]:
    """A polygon covering columns x0..x1-1 and rows y0..y1-1 (pycocotools' raster rule)."""
    return [x0, y0, x1, y0, x1, y1, x0, y1]


def rect_mask(shape: tuple[int, int], x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    m = np.zeros(shape, dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def uncompressed_rle(mask: np.ndarray) -> dict:
    """Column-major run lengths starting with a background run, as in COCO crowd annotations."""
    flat = mask.T.reshape(-1).astype(np.uint8)
    counts, value, run = [], 0, 0
    for v in flat:
        if v == value:
            run += 1
        else:
            counts.append(run)
            value, run = v, 1
    counts.append(run)
    return {"size": list(mask.shape), "counts": counts}


@dataclass
class ReferFixture:
    root: Path
    dataset: str
    split_by: str
    masks: dict[int, np.ndarray]  # ann_id -> expected (H, W) bool
    refs: list[dict] = field(default_factory=list)

    def refs_in(self, *splits: str) -> list[int]:
        return [r["ref_id"] for r in self.refs if r["split"] in splits]


def _annotations() -> tuple[list[dict], dict[int, np.ndarray]]:
    shape1, shape2, shape3 = IMAGES[1], IMAGES[2], IMAGES[3]
    crowd = np.zeros(shape2, dtype=bool)
    crowd[5:20, 3:9] = True
    crowd[25:30, 10:27] = True
    blob = np.zeros(shape3, dtype=bool)
    blob[4:9, 4:20] = True
    blob[12:22, 2:6] = True
    compressed = mask_utils.encode(np.asfortranarray(blob.astype(np.uint8)))
    compressed["counts"] = compressed["counts"].decode("ascii")
    anns = [
        {"id": 11, "image_id": 1, "iscrowd": 0, "segmentation": [rect(2, 3, 10, 8)]},
        {  # two overlapping parts: the overlap must stay foreground
            "id": 12,
            "image_id": 1,
            "iscrowd": 0,
            "segmentation": [rect(15, 10, 30, 25), rect(25, 5, 38, 15)],
        },
        {"id": 21, "image_id": 2, "iscrowd": 1, "segmentation": uncompressed_rle(crowd)},
        {"id": 31, "image_id": 3, "iscrowd": 0, "segmentation": compressed},
        {"id": 99, "image_id": 3, "iscrowd": 0, "segmentation": [rect(0, 0, 2, 2)]},
    ]
    for a in anns:
        a.update(category_id=1, area=1.0, bbox=[0, 0, 1, 1])
    masks = {
        11: rect_mask(shape1, 2, 3, 10, 8),
        12: rect_mask(shape1, 15, 10, 30, 25) | rect_mask(shape1, 25, 5, 38, 15),
        21: crowd,
        31: blob,
        99: rect_mask(shape3, 0, 0, 2, 2),
    }
    return anns, masks


# (ref_id, ann_id, split, sentences)
REFS = [
    (1, 11, "train", ["the small box", "left thing"]),
    (2, 12, "train", ["big shape on the right", "the right one", "shape"]),
    (3, 21, "val", ["crowd of people", "people"]),
    (4, 31, "val", ["blob"]),
    (5, 11, "testA", ["man on the left", "left man"]),
    (6, 12, "testB", ["the red car"]),
    (7, 21, "testAB", ["both kinds", "in a and b"]),
    (8, 31, "test", ["a very long sentence " + "with many many words " * 5]),
    (9, 12, "testC", ["only in c"]),
]


def build_refer(root: Path, dataset: str = "refcoco", split_by: str = "unc") -> ReferFixture:
    """Write ``<root>/<dataset>/refs(<split_by>).p``, ``instances.json`` and the images."""
    rng = np.random.default_rng(0)
    folder = image_dir(root, dataset)
    folder.mkdir(parents=True, exist_ok=True)
    images = []
    for image_id, (h, w) in IMAGES.items():
        name = f"img_{image_id:06d}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / name)
        images.append({"id": image_id, "file_name": name, "height": h, "width": w})
    anns, masks = _annotations()
    image_of = {a["id"]: a["image_id"] for a in anns}
    refs, sent_id = [], 100
    for ref_id, ann_id, split, sentences in REFS:
        sents = []
        for raw in sentences:
            sent = {"sent_id": sent_id, "raw": raw, "sent": raw.lower(), "tokens": raw.split()}
            sents.append(sent)
            sent_id += 1
        refs.append(
            {
                "ref_id": ref_id,
                "ann_id": ann_id,
                "image_id": image_of[ann_id],
                "category_id": 1,
                "split": split,
                "file_name": f"img_{image_of[ann_id]:06d}_{ann_id}.png",
                "sent_ids": [s["sent_id"] for s in sents],
                "sentences": sents,
            }
        )
    data_dir = root / dataset
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / f"refs({split_by}).p", "wb") as f:
        pickle.dump(refs, f, protocol=2)
    instances = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "x"}]}
    (data_dir / "instances.json").write_text(json.dumps(instances))
    return ReferFixture(root=root, dataset=dataset, split_by=split_by, masks=masks, refs=refs)
