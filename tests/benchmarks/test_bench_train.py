"""benchmarks/bench_train.py times the real train_step, referring or warm-start steps."""

from __future__ import annotations

import argparse
import re

import torch

from lgformer.engine.config import CONFIG_DIR
from tests.benchmark_scripts import load_benchmark_script

CONFIG = CONFIG_DIR / "synthetic_bundled.yaml"


def _args(**changes) -> argparse.Namespace:
    args = dict(
        config=str(CONFIG), preset=None, compile=False, size=32, batch=2, steps=1, warmup=1,
        warm_start=False, device="cpu", words=None,
    )  # fmt: skip
    args.update(changes)
    return argparse.Namespace(**args)


def test_bundled_config_times_both_kinds_of_step() -> None:
    script = load_benchmark_script("bench_train")
    referring = script.bench_one(_args(), "fp32", False)
    warm = script.bench_one(_args(warm_start=True), "fp32", False)
    pattern = r"step (\d+) ms .* ([\d.]+) img/s, peak RSS [\d.]+ GiB, last loss ([\d.]+)$"
    for line in (referring, warm):
        assert re.search(pattern, line), line
    assert "warm-start" in warm and "warm-start" not in referring
    # Each kind of step computes another loss: two different numbers.
    losses = {re.search(pattern, line).group(3) for line in (referring, warm)}
    assert len(losses) == 2


def test_words_sets_the_id_slots() -> None:
    script = load_benchmark_script("bench_train")
    batch = script.random_batch(2, 32, 10, torch.device("cpu"))
    assert batch["token_ids"].shape == (2, 10) and int(batch["attention_mask"].sum()) == 16
    line = script.bench_one(_args(words=10), "fp32", False)
    assert re.search(r"step \d+ ms", line), line
