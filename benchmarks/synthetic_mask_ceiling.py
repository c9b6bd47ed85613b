"""The overall IoU a perfect stride-4 mask head could reach on the synthetic benchmark.

    python benchmarks/synthetic_mask_ceiling.py --data data/synthetic3500 --sizes 96 128 160

LGFormer predicts mask logits at a quarter of the input size and upsamples them
bilinearly. For each val target we average-pool the ground truth by 4, use
``fraction - 0.5`` as the ideal logit, upsample it back like the model does and
threshold at 0; the overall IoU of these masks against the truth bounds what
grounding every sentence right could score at that input size (a learned head can
do a little better with sub-cell logits, so read it as an estimate).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from lgformer.data.datasets import ReferEvalDataset
from lgformer.data.refer import load_refer
from lgformer.data.synthetic.writer import DATASET, SPLIT_BY
from lgformer.evaluation import compute_metrics, intersection_union

STRIDE = 4


def ceiling(data: Path, size: int, split: str = "val", every: int = 3) -> float:
    """Overall IoU (%) of ideal stride-4 masks on every ``every``-th sample of ``split``.

    Each ref has several sentences with the same target, so ``every=3`` visits each
    target about once."""
    dataset = ReferEvalDataset(load_refer(data, DATASET, SPLIT_BY, split), image_size=size)
    inters, unions = [], []
    for i in range(0, len(dataset), every):
        target = dataset[i]["target"][None, None]  # (1, 1, S, S)
        logit = F.avg_pool2d(target, STRIDE) - 0.5  # (1, 1, S/4, S/4)
        up = F.interpolate(logit, size=(size, size), mode="bilinear", align_corners=False)
        inter, union = intersection_union(up[0] > 0, target[0] > 0.5)
        inters.append(int(inter))
        unions.append(int(union))
    return compute_metrics(inters, unions).overall_iou


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="lgformer synth output")
    parser.add_argument("--sizes", type=int, nargs="+", default=[96, 128, 160])
    parser.add_argument("--split", default="val")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for size in args.sizes:
        print(f"{size} px: ideal stride-4 masks reach {ceiling(args.data, size, args.split):.1f}%")


if __name__ == "__main__":
    main()
