"""Evaluation throughput (samples/s) on CPU: batch 1 (the original one-sentence loop) vs batch 8.

Builds a random-weight model of a small preset and a synthetic REFER split
(640x480 JPEGs, ~3 sentences per ref), then runs ``lgformer.evaluation.evaluate``
at the paper's protocol (480x480, input resolution) with each setting and
checks that the metrics agree.

    python benchmarks/bench_evaluation.py [--preset synthetic_small] [--refs 24] [--threads 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import torch

from lgformer.config import build_config
from lgformer.data.datasets import ReferEvalDataset
from lgformer.data.refer import load_refer
from lgformer.evaluation import evaluate
from lgformer.model import build_lgformer
from refer_synth import write_synthetic_refer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="synthetic_small")
    parser.add_argument("--refs", type=int, default=24)
    parser.add_argument("--image-size", type=int, default=480)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument(
        "--settings", default="1:0,8:0,8:2", help="batch_size:num_workers pairs to time"
    )
    parser.add_argument("--repeats", type=int, default=2, help="keep the best of N runs")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_lgformer(build_config(args.preset)).eval()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_synthetic_refer(root, num_refs=args.refs, num_images=max(args.refs // 2, 1))
        # The synthetic train split holds ~85% of the refs; any split would do.
        split = load_refer(root, "refcoco", "unc", "train")
        dataset = ReferEvalDataset(split, image_size=args.image_size)
        print(
            f"model {args.preset} ({params:.1f}M parameters, random weights), "
            f"{len(dataset)} samples at {args.image_size}x{args.image_size}, "
            f"{args.threads} torch threads, device cpu"
        )
        with torch.inference_mode():  # warm-up: first-call allocations and kernel selection
            item = dataset[0]
            model(item["image"][None], item["token_ids"][None], item["attention_mask"][None])
        # Settings run interleaved, best of --repeats: the CPU may be shared.
        settings = [tuple(int(v) for v in s.split(":")) for s in args.settings.split(",")]
        best: dict[tuple[int, int], float] = {}
        metrics: dict[tuple[int, int], dict] = {}
        for _ in range(args.repeats):
            for batch_size, workers in settings:
                t = time.perf_counter()
                result = evaluate(
                    model, dataset, batch_size=batch_size, num_workers=workers, progress=False
                )
                dt = time.perf_counter() - t
                best[(batch_size, workers)] = min(dt, best.get((batch_size, workers), dt))
                metrics[(batch_size, workers)] = result.metrics.as_dict()
        first = metrics[settings[0]]
        for key in settings:
            m, dt = metrics[key], best[key]
            print(
                f"batch {key[0]:>2}, workers {key[1]}: {len(dataset) / dt:6.2f} samples/s "
                f"(best {dt:.1f}s of {args.repeats})  oIoU {m['overall_iou']:.2f} "
                f"mIoU {m['mean_iou']:.2f}  same metrics as batch {settings[0][0]}: {m == first}"
            )


if __name__ == "__main__":
    main()
