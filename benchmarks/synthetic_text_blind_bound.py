"""How well can a predictor that ignores the sentence do on the synthetic benchmark?

    python benchmarks/synthetic_text_blind_bound.py --images 1000 --seed 0   # into a temp dir
    python benchmarks/synthetic_text_blind_bound.py --data data/synthetic    # existing dataset

A text-blind predictor sees the image but not the sentence, so it must give
every sentence of an image the same mask. For each image we let it pick, with
hindsight, the single best mask among: each annotated object, the union of
all objects, and nothing - the one maximising the mean IoU over that image's
sentences (i.e. the object referred to most often, ties broken by overlap).
The mean IoU and prec@0.5 use the choice with the best mean IoU per image;
the overall IoU, not a per-image sum, uses the set of per-image choices that
maximises it (found exactly by Dinkelbach iterations). This oracle bounds any
text-blind model that outputs one of these masks, and in practice any
text-blind model (with k disjoint referred objects, a fixed union of j of them
also scores 1/k). We also print two plain priors: always the largest object,
always the most central one.

Metrics follow spec section 9 (overall IoU = sum I / sum U, mean IoU, prec@0.5),
at the dataset's own resolution; every sentence is one sample.
"""

from __future__ import annotations

import argparse
import json
import pickle
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from lgformer.data.masks import segmentation_to_mask
from lgformer.data.synthetic.writer import DATASET, SPLIT_BY, SPLITS, write_dataset


def _iou_counts(pred: np.ndarray, target: np.ndarray) -> tuple[int, int]:
    return int((pred & target).sum()), int((pred | target).sum())


def _image_samples(refs, anns_by_image, images):
    """Per image: its object masks (K, H, W) and the target index of every sentence."""
    per_image: dict[int, list[int]] = defaultdict(list)
    for ref in refs:
        per_image[ref["image_id"]] += [ref["ann_id"]] * len(ref["sentences"])
    for image_id, targets in per_image.items():
        anns = anns_by_image[image_id]
        im = images[image_id]
        masks = np.stack(
            [segmentation_to_mask(a["segmentation"], im["height"], im["width"]) for a in anns]
        )  # (K, H, W)
        ids = [a["id"] for a in anns]
        yield masks, [ids.index(t) for t in targets]


def _score(choices: list[tuple[np.ndarray, np.ndarray, list[int]]]) -> dict[str, float]:
    inter = union = 0
    ious = []
    for pred, masks, targets in choices:
        for t in targets:
            i, u = _iou_counts(pred, masks[t])
            inter, union = inter + i, union + u
            ious.append(i / u if u else 0.0)
    ious_a = np.asarray(ious)
    return {
        "oIoU": 100 * inter / max(union, 1),
        "mIoU": 100 * float(ious_a.mean()),
        "prec@0.5": 100 * float((ious_a >= 0.5).mean()),
        "samples": len(ious),
    }


def _best_overall(per_image: list[np.ndarray]) -> tuple[float, list[int]]:
    """Choose one candidate per image to maximise sum(I) / sum(U) (Dinkelbach iterations).

    ``per_image[k]`` is (C_k, 2): summed intersection and union of each candidate
    over the image's sentences. Returns the best ratio and the chosen indices.
    """
    ratio, chosen = 0.0, [0] * len(per_image)
    for _ in range(100):
        chosen = [int(np.argmax(c[:, 0] - ratio * c[:, 1])) for c in per_image]
        inter = sum(c[j, 0] for c, j in zip(per_image, chosen))
        union = sum(c[j, 1] for c, j in zip(per_image, chosen))
        new = inter / max(union, 1)
        if new <= ratio + 1e-12:
            break
        ratio = new
    return ratio, chosen


def analyse(root: Path, split: str) -> dict[str, dict[str, float]]:
    refs = pickle.loads((root / DATASET / f"refs({SPLIT_BY}).p").read_bytes())
    refs = [r for r in refs if r["split"] == split]
    instances = json.loads((root / DATASET / "instances.json").read_text())
    images = {im["id"]: im for im in instances["images"]}
    anns_by_image: dict[int, list[dict]] = defaultdict(list)
    for a in instances["annotations"]:
        anns_by_image[a["image_id"]].append(a)

    oracle, largest, central, counts, targets_per_image = [], [], [], [], []
    for masks, targets in _image_samples(refs, anns_by_image, images):
        targets_per_image.append(len(set(targets)))
        candidates = list(masks) + [masks.any(0), np.zeros_like(masks[0])]
        # (C, T, 2): intersection and union of every candidate with every sentence's target.
        iu = np.array([[_iou_counts(c, masks[t]) for t in targets] for c in candidates])
        mean_iou = (iu[..., 0] / np.maximum(iu[..., 1], 1)).mean(1)  # (C,)
        # Rounded so that exact ties go to the first candidate (a single object).
        oracle.append((candidates[int(np.argmax(np.round(mean_iou, 9)))], masks, targets))
        counts.append(iu.sum(1))  # (C, 2)
        largest.append((masks[int(masks.sum((1, 2)).argmax())], masks, targets))
        h, w = masks.shape[1:]
        yy, xx = np.mgrid[0:h, 0:w]
        dist = [np.hypot(xx[m].mean() - w / 2, yy[m].mean() - h / 2) for m in masks]
        central.append((masks[int(np.argmin(dist))], masks, targets))
    best = _score(oracle)
    best["oIoU"] = 100 * _best_overall(counts)[0]  # its own per-image choice
    result = {
        "text-blind oracle (best fixed mask per image)": best,
        "always the largest object": _score(largest),
        "always the most central object": _score(central),
    }
    result["_targets_per_image"] = {"mean": float(np.mean(targets_per_image))}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="an existing data root")
    parser.add_argument("--images", type=int, default=1000, help="images to generate (no --data)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--image-size", type=int, default=160)
    parser.add_argument("--splits", nargs="+", default=list(SPLITS))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = args.data
        if root is None:
            root = Path(tmp)
            write_dataset(root, args.images, args.seed, image_size=args.image_size)
            print(f"generated {args.images} images (seed {args.seed}, {args.image_size} px)")
        for split in args.splits:
            result = analyse(root, split)
            per = result.pop("_targets_per_image")["mean"]
            print(f"\n{split}: {per:.2f} referred objects per image")
            for name, m in result.items():
                print(
                    f"  {name:48s} oIoU {m['oIoU']:6.2f}  mIoU {m['mIoU']:6.2f}  "
                    f"prec@0.5 {m['prec@0.5']:6.2f}  ({m['samples']} sentences)"
                )


if __name__ == "__main__":
    main()
