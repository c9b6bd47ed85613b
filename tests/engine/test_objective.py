"""The objective: which heads a run builds, how its checkpoints name them, which of them
stay out of DDP, and which steps read the category labels (the training runs with the
heads are in test_objective_category_loss.py and test_objective_stage_mask_loss.py)."""

from __future__ import annotations

import pytest
import torch

from lgformer.engine.config import ObjectiveConfig
from lgformer.engine.objective import Objective
from lgformer.errors import LGFormerError

from .tiny_data import SquaresDataset


def _build(tiny_model, dataset, **options) -> Objective:
    categories = getattr(dataset, "categories", None)
    num = None if categories is None else categories.num_labels
    return Objective(tiny_model, ObjectiveConfig(**options), num_categories=num)


def test_no_option_no_heads(tiny_model) -> None:
    heads = _build(tiny_model, SquaresDataset(2))
    assert heads.heads() == []
    assert heads.head_state_dicts() == {"category_heads": None, "stage_heads": None}
    assert heads.warm_start_only_parameters() == []


def test_each_option_builds_its_heads_under_its_checkpoint_key(tiny_model) -> None:
    data = SquaresDataset(2, categories=True)
    heads = _build(tiny_model, data, category_loss_weight=1.0, stage_mask_loss_weight=1.0)
    assert len(heads.heads()) == 2
    states = heads.head_state_dicts()
    assert len(states["category_heads"]) == 2 * 4  # stages 1-3 and the mask features
    assert len(states["stage_heads"]) == 2 * 4  # the four fused backbone maps
    assert heads.category_heads is not None
    assert heads.category_heads.num_labels == data.categories.num_labels


@pytest.mark.parametrize(
    ("optim", "message"),
    [
        ({"category_loss_weight": 1.0}, "per-pixel category labels"),
        ({"category_warmup_steps": 4}, "per-pixel category labels"),
    ],
)
def test_an_option_without_its_labels_is_refused(tiny_model, optim, message) -> None:
    with pytest.raises(LGFormerError, match=message):
        _build(tiny_model, SquaresDataset(2), **optim)


def test_heads_the_referring_steps_never_use_are_warm_start_only(tiny_model) -> None:
    data = SquaresDataset(2, categories=True)
    heads = _build(tiny_model, data, category_warmup_steps=4)
    expected = list(heads.category_heads.parameters())
    assert heads.warm_start_only_parameters() == expected
    # Used in the referring steps as well: DDP synchronises them.
    heads = _build(tiny_model, data, category_warmup_steps=4, category_loss_weight=1.0)
    assert heads.warm_start_only_parameters() == []


def test_load_restores_the_heads_and_refuses_a_checkpoint_without_them(tiny_model) -> None:
    data = SquaresDataset(2, categories=True)
    saved = _build(tiny_model, data, category_loss_weight=1.0, stage_mask_loss_weight=1.0)
    loaded = _build(tiny_model, data, category_loss_weight=1.0, stage_mask_loss_weight=1.0)
    for p in loaded.stage_heads.parameters():
        torch.nn.init.constant_(p, 0.5)
    loaded.load_heads(saved.head_state_dicts(), "last.pt")
    for key, state in saved.head_state_dicts().items():
        if state is not None:
            after = loaded.head_state_dicts()[key]
            assert all(torch.equal(state[name], after[name]) for name in state)
    plain = _build(tiny_model, data).head_state_dicts()
    with pytest.raises(LGFormerError, match="last.pt was trained without the category heads"):
        loaded.load_heads(plain, "last.pt")


@pytest.mark.parametrize(
    ("optim", "warm", "referring"),
    [
        ({}, False, False),
        ({"category_warmup_steps": 10}, True, False),
        ({"category_loss_weight": 1.0}, True, True),
    ],
)
def test_which_steps_read_the_category_labels(optim: dict, warm: bool, referring: bool) -> None:
    """Categories read by a warm-start and by a referring step: the same answers decide
    which heads DDP leaves to the warm start."""
    config = ObjectiveConfig(**optim)
    assert config.step_uses_categories(True) == warm
    assert config.step_uses_categories(False) == referring


def test_the_warm_start_is_the_first_steps_and_decides_the_phase() -> None:
    config = ObjectiveConfig(category_warmup_steps=3)
    assert [config.warming(step) for step in range(5)] == [True, True, True, False, False]
    assert not ObjectiveConfig().warming(0)
