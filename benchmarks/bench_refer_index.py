"""Time to load and index a RefCOCO-scale REFER dataset, tokenisation included.

Writes a synthetic dataset shaped like RefCOCO (unc): 50,000 refs, ~150,000
sentences, 20,000 images, 200,000 polygon annotations in instances.json,
then times ``load_refer`` for each split (each call reads both files,
selects, checks images and tokenises).

    python benchmarks/bench_refer_index.py [--refs 50000] [--images 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

from lgformer.data.datasets import ReferTrainDataset
from lgformer.data.refer import load_refer
from lgformer.tokenizer import SentenceTokenizer
from refer_synth import write_synthetic_refer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--refs", type=int, default=50_000)
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--anns-per-image", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t = time.perf_counter()
        counts = write_synthetic_refer(
            root, num_refs=args.refs, num_images=args.images,
            anns_per_image=args.anns_per_image, write_pixels=False,
        )  # fmt: skip
        size = (root / "refcoco" / "instances.json").stat().st_size / 2**20
        print(f"synthetic dataset: {counts}, instances.json {size:.0f} MiB "
              f"(written in {time.perf_counter() - t:.1f}s)")  # fmt: skip
        t = time.perf_counter()
        tokenizer = SentenceTokenizer()
        print(f"tokenizer load: {time.perf_counter() - t:.2f}s")
        total_sentences = 0
        total = 0.0
        for split in ("train", "val", "testA", "testB"):
            t = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                data = load_refer(root, "refcoco", "unc", split, tokenizer=tokenizer)
            dt = time.perf_counter() - t
            total += dt
            total_sentences += data.num_sentences
            print(f"load_refer {split:>6}: {dt:6.2f}s  {data.describe()}")
        print(f"all four splits: {total:.2f}s for {total_sentences} sentences")
        train = ReferTrainDataset(data)
        t = time.perf_counter()
        for i in range(len(train)):
            train.sentence_index(i)
        per = (time.perf_counter() - t) / max(len(train), 1) * 1e6
        print(f"per-item sentence draw (training dataset): {per:.1f} us")


if __name__ == "__main__":
    main()
