"""Two CPU processes (torchrun, gloo) against one process with the same global batch,
and a signal to one of them: both stop at the same step and resume exactly."""

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lgformer.engine.checkpoint import load_checkpoint, seed_everything
from lgformer.engine.run import build_model, run_training

from .tiny_data import squares_factory, tiny_config

# 64 px: at 32 the last stage is 1 x 1, where instance norms zero the signal and its
# gradients are rounding noise that Adam's first steps amplify to full-lr updates.
SIZE = 64
# No dropout: the two layouts draw random numbers differently.
SETTINGS = (
    "model.overrides={text: {hidden_dropout_prob: 0.0, attention_probs_dropout_prob: 0.0}}",
    "optim.batch_size=4",  # total: 2 processes x 2, or 1 x 4
    "optim.epochs=2",  # 8 samples -> 2 iterations per epoch, 4 steps
    "optim.lr=1e-3",
)


def _launch(
    out: Path, poisoned: str, settings: tuple[str, ...], size: int = SIZE, **env_vars: str
) -> tuple[dict, dict]:
    """Runs ddp_worker.py on two CPU processes (extra ``env_vars`` for it); returns both
    ranks' results."""
    worker = Path(__file__).with_name("ddp_worker.py")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore", **env_vars}
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        str(worker), str(out), str(size), poisoned, *settings,
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rank0 = torch.load(out / "rank0.pt", weights_only=True)
    rank1 = torch.load(out / "rank1.pt", weights_only=True)
    return rank0, rank1


def _two_ranks(
    out: Path, poisoned: str, settings: tuple[str, ...], categories: bool = False, size: int = SIZE
) -> tuple[dict, dict]:
    """Runs ddp_worker.py on two CPU processes; returns both ranks' results after
    checking that their weights are identical."""
    categories_flag = "1" if categories else "0"
    rank0, rank1 = _launch(out, poisoned, settings, size, LGFORMER_TEST_CATEGORIES=categories_flag)
    for key, value in rank0["model"].items():
        assert torch.equal(value, rank1["model"][key]), key
    return rank0, rank1


@pytest.mark.slow
def test_two_processes_match_each_other_and_one_process(tmp_path):
    rank0, rank1 = _two_ranks(tmp_path / "ddp", "5", SETTINGS)
    assert rank0["losses"] == pytest.approx(rank1["losses"], rel=0, abs=0, nan_ok=True)
    assert rank0["metrics"] == rank1["metrics"]
    assert (tmp_path / "ddp" / "last.pt").is_file()

    cfg = tiny_config(tmp_path / "single", *SETTINGS)
    seed_everything(cfg.seed)
    initial = build_model(cfg).state_dict()
    single = run_training(cfg, datasets=squares_factory(8, 4, size=SIZE, poisoned=(5,)))
    # Sample 5 is NaN: its global batch is skipped in both layouts, once per epoch (all
    # ranks agree to skip, so DDP does not wait for a backward pass that never comes).
    assert sum(math.isnan(x) for x in rank0["losses"]) == 2
    assert single.loss_history == pytest.approx(rank0["losses"], rel=1e-4, abs=1e-5, nan_ok=True)
    # Weight updates agree matrix by matrix. Vectors are checked only globally: several
    # biases have no true gradient (a conv bias before an instance/group norm, BERT's key
    # bias), so theirs is rounding noise that Adam's first steps scale up to +-lr.
    worst, diff, total = 0.0, 0.0, 0.0
    for key, value in single.model.state_dict().items():
        if value.is_floating_point() and not torch.equal(value, initial[key]):
            ours, theirs = value - initial[key], rank0["model"][key] - initial[key]
            diff += (ours - theirs).pow(2).sum().item()
            total += ours.pow(2).sum().item()
            if value.dim() >= 2:
                worst = max(worst, ((ours - theirs).norm() / ours.norm()).item())
    assert worst < 1e-2, worst
    assert (diff / total) ** 0.5 < 0.1
    # Evaluation covers the same samples once each: a dropped or doubled sample moves the
    # IoUs by points, while the weights' ~1e-3 rounding differences (thread counts differ
    # between this process and the workers) flip a few boundary pixels: ~0.01 points.
    assert single.metrics.keys() == rank0["metrics"].keys()
    assert single.metrics == pytest.approx(rank0["metrics"], abs=0.1)


def _follows_one_process(tmp_path: Path, settings: tuple[str, ...], part: str) -> None:
    """Two ranks with category labels match one process with the same global batch: the
    losses of all 4 steps, and every weight matrix whose name contains ``part``."""
    rank0, _ = _two_ranks(tmp_path / "ddp", "none", settings, categories=True)
    cfg = tiny_config(tmp_path / "single", *settings)
    seed_everything(cfg.seed)
    single = run_training(cfg, datasets=squares_factory(8, 4, size=SIZE, categories=True))
    assert len(rank0["losses"]) == 4
    assert single.loss_history == pytest.approx(rank0["losses"], rel=1e-4, abs=1e-5)
    keys = [k for k in rank0["model"] if part in k and k.endswith("weight")]
    assert keys
    for key in keys:
        ours, theirs = single.model.state_dict()[key], rank0["model"][key]
        assert (ours - theirs).norm() <= 1e-2 * ours.norm() + 1e-6, key


@pytest.mark.slow
def test_vision_only_warm_start_averages_gradients_like_one_process(tmp_path):
    """The warm-start steps all-reduce the Swin's gradients outside DDP's buckets: the
    two ranks stay identical and follow a single process (steps 1-2 warm start, 3-4
    referring)."""
    settings = (*SETTINGS, "objective.category_warmup_steps=2", "objective.category_loss_weight=1")
    _follows_one_process(tmp_path, settings, ".blocks.")


@pytest.mark.slow
def test_heads_used_only_in_the_warm_start_train_under_ddp(tmp_path):
    """DDP remembers what its no_sync steps used; heads the referring steps leave out
    must be kept from it, or its first synchronised step fails."""
    # Category heads without a category loss: warm start only.
    settings = (*SETTINGS, "objective.category_warmup_steps=2", "objective.category_loss_weight=0")
    rank0, rank1 = _launch(tmp_path / "ddp", "none", settings, LGFORMER_TEST_CATEGORIES="1")
    for key, value in rank0["model"].items():
        assert torch.equal(value, rank1["model"][key]), key
    data = squares_factory(8, 4, size=SIZE, categories=True)
    cfg = tiny_config(tmp_path / "single", *settings)
    seed_everything(cfg.seed)
    single = run_training(cfg, datasets=data)
    assert len(rank0["losses"]) == 4  # 2 warm-start + 2 referring steps
    assert single.loss_history == pytest.approx(rank0["losses"], rel=1e-4, abs=1e-5)


@pytest.mark.slow
def test_a_signal_to_one_rank_stops_both_at_that_step_and_resumes_exactly(tmp_path):
    """SIGTERM reaches rank 1 alone during step 1: the per-step agreement stops both ranks
    after it (neither hangs in the other's collectives), rank 0 writes last.pt there, and
    the resumed run ends bitwise equal to an uninterrupted two-process run."""
    settings = (
        "model.overrides={swin: {drop_path_rate: 0.2}, text: {hidden_dropout_prob: 0.1}}",
        "optim.batch_size=4",  # 2 processes x 2: 2 iterations per epoch, 4 steps
        "optim.epochs=2",
    )
    full, _ = _two_ranks(tmp_path / "full", "none", settings, size=32)

    out = tmp_path / "parts"
    stopped = _launch(out, "none", settings, 32, LGFORMER_TEST_SIGNAL="1:1:SIGTERM")
    assert [r["stopped"] for r in stopped] == [signal.SIGTERM, signal.SIGTERM]
    assert [r["step"] for r in stopped] == [1, 1]
    ckpt = load_checkpoint(out / "last.pt")
    assert (ckpt["epoch"], ckpt["step_in_epoch"], ckpt["step"]) == (0, 1, 1)
    assert len(ckpt["rng"]) == 2

    resumed, _ = _two_ranks(out, "none", settings, size=32)  # resumes from last.pt
    assert resumed["losses"] == full["losses"][1:]
    for key, value in full["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    assert resumed["metrics"] == full["metrics"]
