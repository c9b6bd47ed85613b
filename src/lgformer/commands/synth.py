"""``lgformer synth``: write the synthetic referring benchmark in the REFER format."""

from __future__ import annotations

import argparse
import sys
import time

HELP = "Write a synthetic referring dataset in the REFER format."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", required=True,
        help="data root: writes <out>/synthetic/refs(unc).p, instances.json and "
        "<out>/images/synthetic/*.jpg",
    )  # fmt: skip
    parser.add_argument("--images", type=int, required=True, help="number of images (>= 4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--image-size", type=int, default=160, help="side of the square images (default 160)"
    )
    parser.add_argument(
        "--sentences-per-ref", type=int, default=3,
        help="at most this many sentences per referred object (default 3)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="print only the summary")


def run(args: argparse.Namespace) -> int:
    from lgformer.data.synthetic import write_dataset

    def progress(done: int, total: int) -> None:
        if not args.quiet and done % 1000 == 0 and done < total:
            print(f"{done}/{total} images", file=sys.stderr, flush=True)

    start = time.perf_counter()
    stats = write_dataset(
        args.out,
        args.images,
        args.seed,
        image_size=args.image_size,
        sentences_per_ref=args.sentences_per_ref,
        progress=progress,
    )
    seconds = time.perf_counter() - start
    print(
        f"wrote {stats['images']} images, {stats['refs']} refs, {stats['sentences']} sentences "
        f"to {args.out} in {seconds:.1f}s ({stats['images'] / max(seconds, 1e-9):.0f} images/s)"
    )
    for split, counts in stats["splits"].items():
        print(
            f"  {split:6s} {counts.get('images', 0):6d} images {counts.get('refs', 0):7d} refs "
            f"{counts.get('sentences', 0):7d} sentences"
        )
    kinds = ", ".join(f"{k} {v}" for k, v in stats["sentence_kinds"].items())
    print(f"  sentence kinds: {kinds}")
    print(f"  load with dataset 'synthetic', splitBy 'unc', root {args.out}")
    return 0
