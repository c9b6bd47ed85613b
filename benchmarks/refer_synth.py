"""A synthetic REFER dataset of any size, for the data and evaluation benchmarks.

Refs get polygon annotations (1-2 parts of ~16 points), 1-5 sentences of
common referring words (almost all distinct, the worst case for the
tokenisation cache) and splits train/val/testA/testB in 85/5/5/5 proportions.
``instances.json`` carries extra annotations per image like COCO does.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
from PIL import Image

from lgformer.data.refer_layout import image_dir

WORDS = (
    "man woman person guy girl boy lady kid player people left right middle center front back "
    "behind near far top bottom red blue green white black yellow brown gray orange pink shirt "
    "jacket hat bag chair table car bus truck bike horse dog cat cow sheep elephant giraffe zebra "
    "bear umbrella bottle cup bowl plate pizza sandwich banana apple cake donut couch bed tv "
    "laptop phone book clock vase the a on in with of to at by next closest furthest second "
    "third first big small tall short standing sitting holding wearing looking striped dark light"
).split()


def _polygon(rng: np.random.Generator, h: int, w: int) -> list[float]:
    cx, cy = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h
    radius = rng.uniform(0.05, 0.2) * min(h, w)
    angles = np.sort(rng.uniform(0, 2 * np.pi, 16))
    r = radius * rng.uniform(0.6, 1.0, 16)
    xs, ys = np.clip(cx + r * np.cos(angles), 0, w - 1), np.clip(cy + r * np.sin(angles), 0, h - 1)
    return np.stack([xs, ys], 1).round(2).reshape(-1).tolist()


def write_synthetic_refer(
    root: Path,
    *,
    num_refs: int,
    num_images: int,
    anns_per_image: int = 10,
    image_size: tuple[int, int] = (480, 640),
    write_pixels: bool = True,
    dataset: str = "refcoco",
    split_by: str = "unc",
    seed: int = 0,
    group_by_image: bool = False,
) -> dict[str, int]:
    """Write ``<root>/<dataset>/refs(<split_by>).p``, ``instances.json`` and the images.

    With ``write_pixels=False`` the image files are empty (enough for indexing). With
    ``group_by_image`` the refs of one image are consecutive, as in the RefCOCO files.
    Returns counts of refs, sentences, images and annotations.
    """
    rng = np.random.default_rng(seed)
    h, w = image_size
    folder = image_dir(root, dataset)
    folder.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for image_id in range(1, num_images + 1):
        name = f"COCO_train2014_{image_id:012d}.jpg"
        path = folder / name
        if write_pixels:
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(path, quality=90)
        else:
            path.touch()
        images.append({"id": image_id, "file_name": name, "height": h, "width": w})
        for _ in range(anns_per_image):
            parts = [_polygon(rng, h, w) for _ in range(1 + int(rng.random() < 0.2))]
            anns.append(
                {"id": len(anns) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                 "segmentation": parts, "area": 1.0, "bbox": [0, 0, 1, 1]}
            )  # fmt: skip
    splits = rng.choice(["train", "val", "testA", "testB"], num_refs, p=[0.85, 0.05, 0.05, 0.05])
    refs, sent_id = [], 0
    ann_order = rng.permutation(len(anns))
    if group_by_image:
        chosen = ann_order[np.arange(num_refs) % len(anns)]
        ann_order = chosen[np.argsort([anns[int(a)]["image_id"] for a in chosen], kind="stable")]
    for ref_id in range(num_refs):
        ann = anns[int(ann_order[ref_id % len(ann_order)])]
        sents = []
        for _ in range(int(rng.integers(1, 6))):
            raw = " ".join(rng.choice(WORDS, int(rng.integers(2, 12))))
            sents.append({"sent_id": sent_id, "raw": raw, "sent": raw, "tokens": raw.split()})
            sent_id += 1
        refs.append(
            {"ref_id": ref_id, "ann_id": ann["id"], "image_id": ann["image_id"], "category_id": 1,
             "split": str(splits[ref_id]), "file_name": "unused.jpg",
             "sent_ids": [s["sent_id"] for s in sents], "sentences": sents}
        )  # fmt: skip
    out = root / dataset
    out.mkdir(parents=True, exist_ok=True)
    with open(out / f"refs({split_by}).p", "wb") as f:
        pickle.dump(refs, f, protocol=2)
    instances = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "x"}]}
    (out / "instances.json").write_text(json.dumps(instances))
    return {"refs": num_refs, "sentences": sent_id, "images": num_images, "annotations": len(anns)}
