"""Non-finite losses: the step is skipped, checkpoints wait, and too many in a row stop the run.

A step whose loss (averaged over processes, so that all of them agree) is NaN or inf
makes no update, but the schedule still advances: it follows the data, skipped or not.
While the last steps' losses were not finite the checkpoints wait, so that last.pt keeps
the state from before them and a relaunch does not resume into them. After
``optim.max_bad_steps`` such steps in a row the run saves diverged.pt and stops.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lgformer.engine.checkpoint import LAST
from lgformer.errors import LGFormerError


class TrainingDivergedError(LGFormerError):
    """The loss stayed NaN/inf for ``optim.max_bad_steps`` steps in a row."""


@dataclass
class BadSteps:
    """The non-finite losses in a row just before now (``count``, checkpointed as
    ``bad_steps``) and how many end the run (``limit``)."""

    limit: int
    count: int = 0

    def skip(self, value: float, where: str, *, warn: bool) -> bool:
        """Counts a skipped step whose loss was ``value`` (at ``where``, in words), with a
        warning when ``warn``; True when it is the last one tolerated."""
        self.count += 1
        if warn:
            warnings.warn(
                f"loss is {value} at {where}: step skipped ({self.count}/{self.limit} in a row)",
                stacklevel=3,
            )
        return self.count >= self.limit

    def waits(self, what: str, log: Callable[[str], None]) -> bool:
        """Whether checkpoint ``what`` waits for a finite loss (then ``log`` says so)."""
        if self.count:
            log(
                f"{what} waits: the last {self.count} losses were not finite; "
                f"{LAST} keeps the state from before them"
            )
        return bool(self.count)

    def diverged(self, where: str, saved: Path, out_dir: Path) -> TrainingDivergedError:
        """The error that ends the run, its state saved in ``saved``."""
        if (out_dir / LAST).is_file():
            relaunch = (
                f"{LAST}, written before these non-finite steps (checkpoints wait while "
                "the loss is not finite), is where a new launch resumes"
            )
        else:
            relaunch = f"there is no {LAST} yet, so a new launch starts over"
        return TrainingDivergedError(
            f"training stopped: the loss was not finite for {self.count} steps in a row "
            f"(last at {where}). The state is saved in {saved}; {relaunch}. "
            "Try a lower optim.lr, optim.grad_clip=1.0 or optim.precision=bf16."
        )
