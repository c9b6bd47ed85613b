"""It learns: the real trainer on a tiny synthetic dataset, and the bundled model's demo.

CI-sized versions of the synthetic benchmark's claims (README, notes/SYNTHETIC_EXPERIMENTS.md): a
tiny LGFormer trained for 240 steps by ``run_training`` on a few generated scenes
drives its loss down and its training-set IoU (every sentence, spec protocol) up past
a threshold, while the same run with the sentences shuffled across samples (the
text-blind control) cannot; and ``lgformer demo`` with the shipped weights segments
fresh scenes well.
"""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lgformer.data.datasets import ReferEvalDataset
from lgformer.data.refer import load_refer
from lgformer.data.synthetic import write_dataset
from lgformer.engine.checkpoint import seed_everything
from lgformer.engine.config import load_train_config
from lgformer.engine.run import build_model, run_training
from lgformer.evaluation import evaluate
from lgformer.tokenizer import SentenceTokenizer

IMAGES, SIZE, EPOCHS = 6, 64, 60  # 4 training images, 16 objects: 4 steps of 4 per epoch
# Measured (2-core CPU, seeds 0-2): the training-set overall IoU goes from 2-4% to 72-74%;
# with shuffled sentences it ends near 13%. About 30 s per run on one core.
MIN_TRAIN_IOU = 55.0
MAX_TEXT_BLIND_IOU = 40.0
# The bundled model's demo at seed 0 (3 scenes) measures 75.1% mean IoU (seeds 1, 2: 79.2,
# 58.5); the best possible text-blind predictor reaches ~22% mean IoU
# (benchmarks/synthetic_breakdown.py --text-blind-bound), so this floor shows the shipped
# model uses the sentence (it is still below the 85% target on val).
MIN_DEMO_IOU = 60.0  # margin for float differences across CPUs


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("synthetic")
    write_dataset(root, IMAGES, seed=0, image_size=SIZE)
    return root


def _train_iou(model: torch.nn.Module, root: Path) -> float:
    """Overall IoU over every sentence of the training split."""
    tokenizer = SentenceTokenizer(max_words=model.config.max_words)
    split = load_refer(root, "synthetic", "unc", "train", tokenizer=tokenizer)
    dataset = ReferEvalDataset(split, image_size=SIZE)
    result = evaluate(model.eval(), dataset, batch_size=16, num_workers=0, progress=False)
    return result.metrics.overall_iou


def _train(root: Path, out: Path, *extra: str) -> tuple[list[float], float, float]:
    """(per-step losses, training IoU at init, training IoU after the run)."""
    cfg = load_train_config(
        overrides=[
            f"data.root={root}",
            "data.dataset=synthetic",
            f"data.image_size={SIZE}",
            "data.num_workers=0",
            "model.preset=test_tiny",
            f"optim.epochs={EPOCHS}",
            "optim.batch_size=4",
            "optim.lr=2e-3",
            "optim.grad_clip=1.0",
            "objective.dice_weight=1.0",
            "optim.precision=fp32",
            "optim.fused=true",
            "objective.gate_std=0.02",
            "validate=false",
            "device=cpu",
            f"output.dir={out}",
            "output.tensorboard=false",
            "output.progress=false",
            "output.log_every=1000",
            *extra,
        ]
    )
    torch.use_deterministic_algorithms(True)
    try:
        seed_everything(cfg.seed)
        initial = _train_iou(build_model(cfg), root)  # the run's own initial weights
        trainer = run_training(cfg, auto_resume=False)
    finally:
        torch.use_deterministic_algorithms(False)
    return trainer.loss_history, initial, _train_iou(trainer.model, root)


def test_a_tiny_model_learns_to_ground_the_training_sentences(data_root, tmp_path):
    losses, initial, final = _train(data_root, tmp_path)
    assert len(losses) == EPOCHS * 4 and all(math.isfinite(x) for x in losses)
    first, last = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    assert last < 0.5 * first, (first, last)
    assert initial < 20.0 and final > MIN_TRAIN_IOU, (initial, final)


def test_the_text_blind_control_cannot(data_root, tmp_path):
    """Same run, sentences dealt out at random: it can only guess which object is meant."""
    _, _, final = _train(data_root, tmp_path, "data.shuffle_sentences=true")
    assert final < MAX_TEXT_BLIND_IOU, final


def test_demo_with_the_bundled_weights(tmp_path):
    from lgformer.bundled import BUNDLED_WEIGHTS

    if not BUNDLED_WEIGHTS.is_file():
        pytest.fail(f"bundled weights missing: {BUNDLED_WEIGHTS}")
    out = tmp_path / "demo"
    cmd = [sys.executable, "-m", "lgformer.cli", "demo", "--out", str(out), "--seed", "0"]
    cmd += ["--scenes", "3"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    ious = [float(x) for x in re.findall(r"IoU\s+([0-9.]+)%", proc.stdout)]
    assert ious, proc.stdout
    mean = re.search(r"mean IoU over (\d+) expressions: ([0-9.]+)%", proc.stdout)
    assert mean and int(mean.group(1)) == len(ious), proc.stdout
    assert float(mean.group(2)) > MIN_DEMO_IOU, proc.stdout
    assert len(list(out.rglob("*.png"))) > len(ious)
