"""The pieces a resume is built from: the schedule's length checks, the optimizer state
that keeps this run's hyperparameters, and per-process random states."""

from __future__ import annotations

import random

import pytest
import torch

from lgformer.engine.checkpoint import get_rng_state, restore_process_rng
from lgformer.engine.config import OptimConfig
from lgformer.engine.optimizer import load_optimizer_state
from lgformer.engine.schedule import build_schedule
from lgformer.errors import LGFormerError


def _optimizer(lr: float) -> torch.optim.AdamW:
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(3)), torch.nn.Parameter(torch.randn(2))]
    return torch.optim.AdamW(
        [{"params": [params[0]]}, {"params": [params[1]], "weight_decay": 0.0}], lr=lr
    )


def test_schedule_spans_the_run_and_holds_the_warm_start() -> None:
    optimizer = _optimizer(1e-3)
    schedule = build_schedule(optimizer, OptimConfig(epochs=2), 5, hold=3)
    assert schedule.total_iters == 10 and schedule.hold == 3
    for _ in range(3):
        schedule.step()
        assert schedule.get_last_lr()[0] == pytest.approx(1e-3)  # held through the warm start
    schedule.step()
    assert schedule.get_last_lr()[0] < 1e-3


@pytest.mark.parametrize("hold", [10, 12])
def test_schedule_without_referring_steps_is_refused(hold: int) -> None:
    with pytest.raises(LGFormerError, match="category_warmup_steps=.* leaves no full referring"):
        build_schedule(_optimizer(1e-3), OptimConfig(epochs=2), 5, hold=hold)


def test_optimizer_state_comes_back_with_this_runs_hyperparameters() -> None:
    before = _optimizer(1e-3)
    for group in before.param_groups:
        for p in group["params"]:
            p.grad = torch.ones_like(p)
    before.step()
    state = before.state_dict()

    after = _optimizer(2e-4)  # e.g. a lower lr after a divergence
    load_optimizer_state(after, state, "last.pt")
    assert [g["lr"] for g in after.param_groups] == [2e-4, 2e-4]
    assert [g["weight_decay"] for g in after.param_groups] == [0.01, 0.0]
    moments = [after.state[p]["exp_avg"] for g in after.param_groups for p in g["params"]]
    expected = [before.state[p]["exp_avg"] for g in before.param_groups for p in g["params"]]
    assert all(torch.equal(a, b) for a, b in zip(moments, expected))


def test_optimizer_state_of_other_groups_names_the_file() -> None:
    other = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-3)
    with pytest.raises(LGFormerError, match="old.pt: optimizer state does not fit"):
        load_optimizer_state(_optimizer(1e-3), other.state_dict(), "old.pt")


def test_each_process_gets_its_own_random_state() -> None:
    states = []
    for seed in (1, 2):
        random.seed(seed)
        torch.manual_seed(seed)
        states.append(get_rng_state())
    expected = torch.rand(3)  # what follows seed 2's state
    restore_process_rng(states, rank=0, world_size=2, source="last.pt")
    first = torch.rand(3)
    restore_process_rng(states, rank=1, world_size=2, source="last.pt")
    assert torch.equal(torch.rand(3), expected)
    assert not torch.equal(first, expected)


def test_another_process_count_warns_and_uses_the_nearest_state() -> None:
    torch.manual_seed(5)
    states = [get_rng_state()]
    expected = torch.rand(2)
    with pytest.warns(UserWarning, match="written by 1 processes, this run has 2"):
        restore_process_rng(states, rank=1, world_size=2, source="last.pt")
    assert torch.equal(torch.rand(2), expected)
    with pytest.warns(UserWarning, match="written by 0 processes"):
        restore_process_rng([], rank=0, world_size=1, source="last.pt")
