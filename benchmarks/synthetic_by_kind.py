"""Split an evaluation of the synthetic benchmark by expression kind.

    lgformer evaluate ... --dataset synthetic --split val --per-sample val.csv
    python benchmarks/synthetic_by_kind.py --data data/synthetic3500 --per-sample val.csv \
        [--output by_kind.json]

Each sentence of the synthetic benchmark has a ``kind`` (attribute, ordinal, relation,
superlative; see lgformer.data.synthetic); this prints overall IoU, mean IoU and
prec@0.5 per kind from ``lgformer evaluate --per-sample`` rows (spec section 9 metrics).
"""

from __future__ import annotations

import argparse
import csv
import json
import pickle
from collections import defaultdict
from pathlib import Path

from lgformer.data.synthetic.writer import DATASET, SPLIT_BY


def by_kind(data_root: Path, per_sample: Path) -> dict[str, dict[str, float]]:
    """{kind (and "all"): {"overall_iou", "mean_iou", "precision@0.5" (percent), "num_samples"}}."""
    refs = pickle.loads((data_root / DATASET / f"refs({SPLIT_BY}).p").read_bytes())
    kind = {s["sent_id"]: s["kind"] for ref in refs for s in ref["sentences"]}
    sums: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0, 0])
    with open(per_sample, newline="") as f:
        for row in csv.DictReader(f):
            inter, union, iou = int(row["intersection"]), int(row["union"]), float(row["iou"])
            for key in (kind[int(row["sent_id"])], "all"):
                acc = sums[key]
                acc[0] += inter
                acc[1] += union
                acc[2] += iou
                acc[3] += iou >= 0.5
                acc[4] += 1
    out = {}
    for key, (inter, union, iou_sum, hits, n) in sorted(sums.items()):
        out[key] = {
            "overall_iou": round(100 * inter / max(union, 1), 2),
            "mean_iou": round(100 * iou_sum / n, 2),
            "precision@0.5": round(100 * hits / n, 2),
            "num_samples": n,
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the synthetic data root")
    parser.add_argument("--per-sample", type=Path, required=True, help="lgformer evaluate CSV")
    parser.add_argument("--output", type=Path, default=None, help="also write JSON here")
    args = parser.parse_args()
    table = by_kind(args.data, args.per_sample)
    print(f"{'kind':12s} {'samples':>8s} {'oIoU':>7s} {'mIoU':>7s} {'prec@0.5':>9s}")
    for key, m in table.items():
        print(
            f"{key:12s} {m['num_samples']:8d} {m['overall_iou']:7.2f} {m['mean_iou']:7.2f} "
            f"{m['precision@0.5']:9.2f}"
        )
    if args.output:
        args.output.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
