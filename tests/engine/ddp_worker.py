"""Run under ``torchrun``: a few DDP training steps on the squares data; each rank
saves its final weights to ``<out>/rank<r>.pt``. Used by test_trainer_ddp_gloo.py; with
``LGFORMER_TEST_CATEGORIES=1`` the squares carry category labels. With
``LGFORMER_TEST_SIGNAL=<rank>:<item>:<SIGNAME>`` that rank sends itself the signal while
loading its ``item``-th training item; a run stopped by a signal saves
``{"stopped": signum, "step": step}`` instead."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, for tests.*

from lgformer.engine.run import run_training  # noqa: E402
from lgformer.engine.stop_signals import TrainingInterrupted  # noqa: E402
from tests.engine.tiny_data import signalling, squares_factory, tiny_config  # noqa: E402


def main(out: str, size: str, poisoned: str, *overrides: str) -> None:
    torch.set_num_threads(1)
    data = squares_factory(
        8,
        4,
        size=int(size),
        poisoned=tuple(int(i) for i in poisoned.split(",") if i != "none"),
        categories=os.environ.get("LGFORMER_TEST_CATEGORIES") == "1",
    )
    rank = int(os.environ["RANK"])
    spec = os.environ.get("LGFORMER_TEST_SIGNAL", "")
    if spec and int(spec.split(":")[0]) == rank:
        _, item, name = spec.split(":")
        data = signalling(data, {int(item): [getattr(signal, name)]})
    try:
        trainer = run_training(tiny_config(Path(out), *overrides), datasets=data)
    except TrainingInterrupted as stop:
        torch.save({"stopped": stop.signum, "step": stop.step}, Path(out) / f"rank{rank}.pt")
        return
    state = {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()}
    torch.save(
        {"model": state, "losses": trainer.loss_history, "metrics": trainer.metrics},
        Path(out) / f"rank{trainer.info.rank}.pt",
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
