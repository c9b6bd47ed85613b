"""Poly learning-rate schedule, stepped once per iteration (spec section 8)."""

from __future__ import annotations

import warnings
from typing import Any

import torch

from lgformer.engine.config import OptimConfig
from lgformer.errors import LGFormerError


def poly_factor(iteration: int, total_iters: int, power: float = 0.9) -> float:
    """``(1 - iteration / total_iters) ** power``, 0 from ``total_iters`` on."""
    if total_iters <= 0:
        raise ValueError(f"total_iters must be positive, got {total_iters}")
    return max(0.0, 1.0 - iteration / total_iters) ** power


class PolySchedule:
    """Sets every parameter group's lr to ``initial_lr * poly_factor(iteration)``.

    Iteration 0 (before the first ``step``) uses the base lr; call ``step()``
    after each optimizer step, as the released code does with ``LambdaLR``.
    Skipped (non-finite) steps still count, so the schedule follows the data.

    Args:
        optimizer: its groups' current ``lr`` becomes ``initial_lr`` unless set.
        total_iters: ``iters_per_epoch * epochs``.
        power: 0.9 in the released recipe.
        hold: the first ``hold`` iterations keep the base lr and the poly curve spans
            the rest (a separate warm-start phase; 0 in the released recipe).
    """

    def __init__(
        self,
        optimizer: torch.optim.Optimizer,
        total_iters: int,
        *,
        power: float = 0.9,
        hold: int = 0,
    ) -> None:
        if not 0 <= hold < total_iters:
            raise ValueError(f"hold must be in [0, {total_iters}), got {hold}")
        self.optimizer = optimizer
        self.total_iters = int(total_iters)
        self.power = float(power)
        self.hold = int(hold)
        self.iteration = 0
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self._apply()

    def step(self) -> None:
        self.iteration += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [group["lr"] for group in self.optimizer.param_groups]

    def _apply(self) -> None:
        if self.iteration < self.hold:
            factor = 1.0
        else:
            factor = poly_factor(
                self.iteration - self.hold, self.total_iters - self.hold, self.power
            )
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor

    def state_dict(self) -> dict[str, Any]:
        return {
            "iteration": self.iteration,
            "total_iters": self.total_iters,
            "power": self.power,
            "hold": self.hold,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restores the iteration. The length and power stay those of this run, so a
        resumed run with more epochs stretches the remaining curve (with a warning)."""
        self.iteration = int(state["iteration"])
        before = (
            int(state["total_iters"]),
            float(state["power"]),
            int(state.get("hold", 0)),
        )
        now = (self.total_iters, self.power, self.hold)
        if before != now:
            warnings.warn(
                f"schedule changed on resume: {before[0]} iterations (power {before[1]}, hold "
                f"{before[2]}) -> {now[0]} (power {now[1]}, hold {now[2]})",
                stacklevel=2,
            )
        self._apply()


def build_schedule(
    optimizer: torch.optim.Optimizer, optim: OptimConfig, iters_per_epoch: int, *, hold: int = 0
) -> PolySchedule:
    """The run's schedule: ``optim.epochs`` epochs of ``iters_per_epoch`` steps, the first
    ``hold`` (the objective's vision-only warm start) at the base lr. Raises
    ``LGFormerError`` when the warm start leaves no referring steps."""
    total_steps = iters_per_epoch * optim.epochs
    if hold >= total_steps:
        raise LGFormerError(
            f"objective.category_warmup_steps={hold} leaves no full referring steps: the run "
            f"has {total_steps} steps in all"
        )
    return PolySchedule(optimizer, total_steps, power=optim.poly_power, hold=hold)
