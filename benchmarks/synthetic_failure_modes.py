r"""How a model fails on the synthetic benchmark: the wrong object, several objects, or a poor mask.

    python benchmarks/synthetic_failure_modes.py --data data/synthetic3500 \
        [--checkpoint src/lgformer/weights/synthetic_small.safetensors] [--split val] \
        [--count 400] [--image-size 128]

For ``--count`` random sentences of the split it compares the predicted mask (at the
input size, as the spec metrics do) with every object of the image, and prints one
JSON object: the mean IoU with the referred object; the share of predictions whose
best-matching object is the referred one; the share that match some object well
(IoU > 0.5); the mean number of objects a prediction covers (at least half of an
object's pixels); and the median predicted/target area ratio. A model that hedges
between candidates covers several objects with a mask much larger than the target.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from lgformer.bundled import BUNDLED_IMAGE_SIZE, bundled_weights_path
from lgformer.checkpoints import load_model
from lgformer.data.datasets import ReferEvalDataset, collate_samples
from lgformer.data.masks import segmentation_to_mask
from lgformer.data.refer import load_refer
from lgformer.data.synthetic.writer import DATASET, SPLIT_BY
from lgformer.data.transforms import resize_mask
from lgformer.tokenizer import SentenceTokenizer

COVERED = 0.5  # a prediction covers an object when it holds at least this share of its pixels


def match_objects(pred: np.ndarray, objects: np.ndarray, target: int) -> dict[str, float]:
    """One prediction against the K objects of its image.

    Args:
        pred: (S, S) bool predicted mask.
        objects: (K, S, S) bool visible mask of every object of the image.
        target: index in ``objects`` of the referred object.

    Returns:
        ``target_iou``, ``best_iou`` (over all objects), ``best_is_target`` (0/1),
        ``objects_covered`` and ``area_ratio`` (predicted / target pixels).
    """
    flat = objects.reshape(len(objects), -1)
    p = pred.reshape(-1)
    inter = (flat & p).sum(1)
    union = (flat | p).sum(1)
    iou = inter / np.maximum(union, 1)
    best = int(iou.argmax())
    sizes = flat.sum(1)
    return {
        "target_iou": float(iou[target]),
        "best_iou": float(iou[best]),
        "best_is_target": float(best == target and iou[best] > 0),
        "objects_covered": float((inter >= COVERED * np.maximum(sizes, 1)).sum()),
        "area_ratio": float(p.sum() / max(int(sizes[target]), 1)),
    }


def summarize(rows: list[dict[str, float]]) -> dict[str, float]:
    """Aggregate ``match_objects`` rows (percentages rounded to 0.1)."""
    col = {key: np.array([r[key] for r in rows]) for key in rows[0]}
    return {
        "sentences": len(rows),
        "mean_target_iou": round(100 * col["target_iou"].mean(), 1),
        "best_object_is_target": round(100 * col["best_is_target"].mean(), 1),
        "matches_some_object": round(100 * (col["best_iou"] > 0.5).mean(), 1),
        "matches_target": round(100 * (col["target_iou"] > 0.5).mean(), 1),
        "mean_objects_covered": round(float(col["objects_covered"].mean()), 2),
        "median_area_ratio": round(float(np.median(col["area_ratio"])), 2),
    }


def annotations_by_image(annotations: list[dict]) -> dict[int, list[dict]]:
    """{image_id: its annotations, in file order} (missing ids give an empty list)."""
    out: dict[int, list[dict]] = defaultdict(list)
    for ann in annotations:
        out[ann["image_id"]].append(ann)
    return out


def image_objects(data_root: Path) -> dict[int, list[dict]]:
    """{image_id: its annotations} from the dataset's instances.json."""
    instances = json.loads((data_root / DATASET / "instances.json").read_text())
    return annotations_by_image(instances["annotations"])


def failure_modes(
    model: torch.nn.Module, data_root: Path, split_name: str, count: int, image_size: int
) -> dict[str, float]:
    split = load_refer(data_root, DATASET, SPLIT_BY, split_name, tokenizer=SentenceTokenizer())
    objects_of = image_objects(data_root)
    dataset = ReferEvalDataset(split, image_size=image_size)
    chosen = np.random.default_rng(0).permutation(len(dataset))[:count].tolist()
    loader = DataLoader(Subset(dataset, chosen), batch_size=32, collate_fn=collate_samples)
    masks_of: dict[int, np.ndarray] = {}  # image id -> (K, S, S), decoded once per image

    def object_masks(ref) -> np.ndarray:
        if ref.image_id not in masks_of:
            masks_of[ref.image_id] = np.stack(
                [
                    resize_mask(
                        segmentation_to_mask(a["segmentation"], ref.height, ref.width),
                        image_size,
                    )
                    for a in objects_of[ref.image_id]
                ]
            )
        return masks_of[ref.image_id]

    rows = []
    with torch.inference_mode():
        for batch in loader:
            logits = model(batch["image"], batch["token_ids"], batch["attention_mask"])
            preds = (logits.pred_logits[:, 0] > 0).numpy()  # (B, S, S)
            for pred, index in zip(preds, batch["index"].tolist(), strict=True):
                ref = split.refs[int(split.sent_ref[index])]
                target = [a["id"] for a in objects_of[ref.image_id]].index(ref.ann_id)
                rows.append(match_objects(pred, object_masks(ref), target))
    return summarize(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="lgformer synth output")
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: bundled model")
    parser.add_argument("--split", default="val")
    parser.add_argument("--count", type=int, default=400, help="random sentences scored")
    parser.add_argument("--image-size", type=int, default=BUNDLED_IMAGE_SIZE)
    args = parser.parse_args()
    model = load_model(args.checkpoint or bundled_weights_path())
    print(json.dumps(failure_modes(model, args.data, args.split, args.count, args.image_size)))


if __name__ == "__main__":
    main()
