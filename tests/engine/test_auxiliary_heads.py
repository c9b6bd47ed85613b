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
    assert heads.state_dicts() == {"category_heads": None, "stage_heads": None, "order_heads": None}
    assert heads.warm_start_only_parameters(OptimConfig()) == []


def test_each_option_builds_its_heads_under_its_checkpoint_key(tiny_model) -> None:
    data = SquaresDataset(2, categories=True, orders=True)
    heads = _build(
        tiny_model,
        data,
        category_loss_weight=1.0,
        stage_mask_loss_weight=1.0,
        order_loss_weight=0.5,
    )
    assert len(heads.present()) == 3
    states = heads.state_dicts()
    assert len(states["category_heads"]) == 2 * 4  # stages 1-3 and the mask features
    assert len(states["stage_heads"]) == 2 * 4  # the four fused backbone maps
    assert len(states["order_heads"]) == 2 * 3  # stages 3-4 and the mask features
    assert heads.category is not None and heads.category.num_labels == data.categories.num_labels


@pytest.mark.parametrize(
    ("optim", "message"),
    [
        ({"category_loss_weight": 1.0}, "per-pixel category labels"),
        ({"category_warmup_steps": 4}, "per-pixel category labels"),
        ({"order_loss_weight": 1.0}, "instance-order labels"),
    ],
)
def test_an_option_without_its_labels_is_refused(tiny_model, optim, message) -> None:
    with pytest.raises(LGFormerError, match=message):
        _build(tiny_model, SquaresDataset(2), **optim)


def test_order_labels_are_needed_besides_categories(tiny_model) -> None:
    with pytest.raises(LGFormerError, match="instance-order labels"):
        _build(tiny_model, SquaresDataset(2, categories=True), order_loss_weight=1.0)


def test_heads_the_referring_steps_never_use_are_warm_start_only(tiny_model) -> None:
    data = SquaresDataset(2, categories=True, orders=True)
    warm_only = {"category_warmup_steps": 4, "order_loss_weight": 1.0}
    optim = OptimConfig(**warm_only, order_loss_in_referring=False)
    heads = AuxiliaryHeads.build(optim, tiny_model, data, CPU)
    expected = [*heads.category.parameters(), *heads.order.parameters()]
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
        ({}, (False, False), (False, False)),
        ({"category_warmup_steps": 10}, (True, False), (False, False)),
        ({"category_loss_weight": 1.0}, (True, False), (True, False)),
        ({"category_warmup_steps": 10, "order_loss_weight": 1.0}, (True, True), (False, True)),
        (
            {
                "category_warmup_steps": 10,
                "order_loss_weight": 1.0,
                "order_loss_in_referring": False,
            },
            (True, True),
            (False, False),
        ),
    ],
)
def test_which_labels_each_kind_of_step_reads(
    optim: dict, warm: tuple[bool, bool], referring: tuple[bool, bool]
) -> None:
    """(categories, instance order) read by a warm-start and by a referring step: the same
    answers decide which heads DDP leaves to the warm start."""
    config = OptimConfig(**optim)
    assert (config.step_uses_categories(True), config.step_uses_instance_order(True)) == warm
    assert (config.step_uses_categories(False), config.step_uses_instance_order(False)) == referring
