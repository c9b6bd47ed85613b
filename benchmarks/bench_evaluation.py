"""Evaluation throughput (samples/s): ``lgformer evaluate``'s loop vs the authors' batch-1 loop.

The batch-1 loop is the released test.py's: per ref, the image decoded and resized
once, then one forward pass per sentence at batch 1, compared at S x S. The other side
is ``lgformer.evaluation.evaluate`` (batches of consecutive sentences, each image sent
once and its text-free first stage run once, DataLoader workers decoding ahead). Both
run the same model on the same samples of a synthetic REFER split (640x480 JPEGs,
~3 sentences per ref, ~2.5 refs per image and the refs of an image together, as in
RefCOCO), interleaved (batch 1, then each setting, repeated), and the script checks
that every setting's metrics equal the batch-1 loop's to the reported decimals.

    python benchmarks/bench_evaluation.py --preset synthetic_small --refs 12
    python benchmarks/bench_evaluation.py --preset swin_base_w12 --refs 2 --repeats 1

Prints one line per run and, per setting, the median samples/s and the ratio of the
medians to the batch-1 loop's.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from bench_model import keep_freed_memory
from lgformer.config import build_config
from lgformer.data.datasets import ReferEvalDataset, decode_image
from lgformer.data.refer import load_refer
from lgformer.data.transforms import normalize, resize_mask
from lgformer.evaluation import IoUAccumulator, evaluate, predict_foreground
from lgformer.model import build_lgformer
from refer_synth import write_synthetic_refer


def batch1_loop(model: nn.Module, dataset: ReferEvalDataset) -> IoUAccumulator:
    """The authors' evaluation: each ref's image and target prepared once, then one
    forward pass per sentence, image (1, 3, S, S), at input resolution. Returns the
    per-sample counts (``.compute()`` gives the metrics)."""
    split, size = dataset.split, dataset.image_size
    acc = IoUAccumulator()
    model.eval()
    with torch.inference_mode():
        for r, ref in enumerate(split.refs):
            image = normalize(decode_image(split, r, size))[None]  # (1, 3, S, S)
            target = torch.from_numpy(resize_mask(split.mask(r), size))[None]  # (1, S, S)
            for row in range(ref.first_sentence, ref.first_sentence + ref.num_sentences):
                ids = torch.from_numpy(split.token_ids[row].astype(np.int64))[None]
                mask = torch.from_numpy(split.attention_mask[row].astype(np.int64))[None]
                logits = model(image, ids, mask).pred_logits  # (1, 1, S, S)
                acc.update(predict_foreground(logits[:, 0]), target, [row])
    return acc


def parse_settings(text: str) -> list[tuple[int, int]]:
    """``"16:2,4:2"`` -> [(16, 2), (4, 2)] (batch size, workers)."""
    return [tuple(int(v) for v in s.split(":")) for s in text.split(",")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="synthetic_small")
    parser.add_argument("--refs", type=int, default=12)
    parser.add_argument("--refs-per-image", type=float, default=2.5)
    parser.add_argument("--image-size", type=int, default=480)
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument(
        "--settings", default="16:2", help="evaluate's batch_size:num_workers pairs to time"
    )
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds")
    parser.add_argument(
        "--keep-freed-memory",
        action="store_true",
        help="glibc malloc keeps freed memory (both loops; see bench_model.py)",
    )
    args = parser.parse_args(argv)
    if args.keep_freed_memory:
        keep_freed_memory()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_lgformer(build_config(args.preset)).eval()
    params = sum(p.numel() for p in model.parameters()) / 1e6
    settings = parse_settings(args.settings)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        images = max(round(args.refs / args.refs_per_image), 1)
        # The synthetic train split holds ~85% of the refs (any split would do).
        write_synthetic_refer(root, num_refs=args.refs, num_images=images, group_by_image=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            split = load_refer(root, "refcoco", "unc", "train")
        dataset = ReferEvalDataset(split, image_size=args.image_size)
        n = len(dataset)
        print(
            f"model {args.preset} ({params:.1f}M parameters, random weights), {n} samples "
            f"({len(split.refs)} refs, {len({r.image_id for r in split.refs})} images) at "
            f"{args.image_size}x{args.image_size}, {args.threads} torch threads, cpu"
        )
        with torch.inference_mode():  # warm-up: first-call allocations and kernel selection
            item = dataset[0]
            model(item["image"][None], item["token_ids"][None], item["attention_mask"][None])
        times: dict[str, list[float]] = {"batch 1 loop": []}
        reference: dict | None = None
        same: dict[str, bool] = {}
        for round_ in range(args.repeats):
            start = time.perf_counter()
            reference = batch1_loop(model, dataset).compute().as_dict()
            times["batch 1 loop"].append(time.perf_counter() - start)
            print(f"round {round_}: batch 1 loop {n / times['batch 1 loop'][-1]:.3f} samples/s")
            for batch_size, workers in settings:
                name = f"evaluate batch {batch_size}, {workers} workers"
                start = time.perf_counter()
                result = evaluate(
                    model, dataset, batch_size=batch_size, num_workers=workers, progress=False
                )
                times.setdefault(name, []).append(time.perf_counter() - start)
                same[name] = same.get(name, True) and result.metrics.as_dict() == reference
                print(f"round {round_}: {name} {n / times[name][-1]:.3f} samples/s")
        base = statistics.median(times["batch 1 loop"])
        print(f"metrics of the batch 1 loop: {reference}")
        for name, runs in times.items():
            med = statistics.median(runs)
            check = "" if name == "batch 1 loop" else f", same metrics: {same[name]}"
            print(
                f"{name}: {n / med:.3f} samples/s (median of {len(runs)}), "
                f"{base / med:.2f}x the batch 1 loop{check}"
            )


if __name__ == "__main__":
    main()
