"""Run under ``torchrun``: a few DDP training steps on the squares data; each rank
saves its final weights to ``<out>/rank<r>.pt``. Used by test_ddp_gloo.py; with
``LGFORMER_TEST_CATEGORIES=1`` the squares carry category labels."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo root, for tests.*

from lgformer.engine.run import run_training  # noqa: E402
from tests.engine.tiny_data import squares_factory, tiny_config  # noqa: E402


def main(out: str, size: str, poisoned: str, *overrides: str) -> None:
    torch.set_num_threads(1)
    data = squares_factory(
        8,
        4,
        size=int(size),
        poisoned=tuple(int(i) for i in poisoned.split(",") if i != "none"),
        categories=os.environ.get("LGFORMER_TEST_CATEGORIES") == "1",
    )
    trainer = run_training(tiny_config(Path(out), *overrides), datasets=data)
    state = {k: v.detach().cpu() for k, v in trainer.model.state_dict().items()}
    torch.save(
        {"model": state, "losses": trainer.loss_history, "metrics": trainer.metrics},
        Path(out) / f"rank{trainer.info.rank}.pt",
    )


if __name__ == "__main__":
    main(*sys.argv[1:])
