"""Which auxiliary heads a run builds, how its checkpoints name them, and which of them
stay out of DDP (the training runs with them are in test_*_loss.py)."""

from __future__ import annotations

import pytest
import torch

from lgformer.engine.auxiliary_heads import AuxiliaryHeads
from lgformer.engine.optim_config import OptimConfig
from lgformer.errors import LGFormerError

from .tiny_data import SquaresDataset

CPU = torch.device("cpu")


def _build(tiny_model, dataset, **optim) -> AuxiliaryHeads:
    return AuxiliaryHeads.build(OptimConfig(**optim), tiny_model, dataset, CPU)


def test_no_option_no_heads(tiny_model) -> None:
    heads = _build(tiny_model, SquaresDataset(2))
    assert heads.present() == []
    assert heads.state_dicts() == {"category_heads": None, "stage_heads": None}
    assert heads.warm_start_only_parameters(OptimConfig()) == []


def test_each_option_builds_its_heads_under_its_checkpoint_key(tiny_model) -> None:
    data = SquaresDataset(2, categories=True)
    heads = _build(tiny_model, data, category_loss_weight=1.0, stage_mask_loss_weight=1.0)
    assert len(heads.present()) == 2
    states = heads.state_dicts()
    assert len(states["category_heads"]) == 2 * 4  # stages 1-3 and the mask features
    assert len(states["stage_heads"]) == 2 * 4  # the four fused backbone maps
    assert heads.category is not None and heads.category.num_labels == data.categories.num_labels


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
    warm_only = {"category_warmup_steps": 4}
    optim = OptimConfig(**warm_only)
    heads = AuxiliaryHeads.build(optim, tiny_model, data, CPU)
    expected = list(heads.category.parameters())
    assert heads.warm_start_only_parameters(optim) == expected
    # Used in the referring steps as well: DDP synchronises them.
    both = OptimConfig(**warm_only, category_loss_weight=1.0)
    heads = AuxiliaryHeads.build(both, tiny_model, data, CPU)
    assert heads.warm_start_only_parameters(both) == []


def test_load_restores_the_heads_and_refuses_a_checkpoint_without_them(tiny_model) -> None:
    data = SquaresDataset(2, categories=True)
    saved = _build(tiny_model, data, category_loss_weight=1.0, stage_mask_loss_weight=1.0)
    loaded = _build(tiny_model, data, category_loss_weight=1.0, stage_mask_loss_weight=1.0)
    for p in loaded.stage.parameters():
        torch.nn.init.constant_(p, 0.5)
    loaded.load(saved.state_dicts(), "last.pt")
    for key, state in saved.state_dicts().items():
        if state is not None:
            after = loaded.state_dicts()[key]
            assert all(torch.equal(state[name], after[name]) for name in state)
    plain = _build(tiny_model, data).state_dicts()
    with pytest.raises(LGFormerError, match="last.pt was trained without the category heads"):
        loaded.load(plain, "last.pt")


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
    config = OptimConfig(**optim)
    assert config.step_uses_categories(True) == warm
    assert config.step_uses_categories(False) == referring
