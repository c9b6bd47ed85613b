"""The auxiliary instance-order loss: targets, heads, and their place in training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lgformer.data.instance_order import ORDER_CLASSES
from lgformer.engine.category_loss import CategoryHeads
from lgformer.engine.order_loss import OrderHeads, order_targets
from lgformer.engine.run import run_training
from lgformer.engine.training_model import TrainingModel
from lgformer.errors import LGFormerError

from .tiny_data import assert_resume_is_exact, squares_factory, tiny_config, train_with_heads

TASKS = 8


def _scene() -> tuple[torch.Tensor, torch.Tensor]:
    """Two 16 x 16 images: object 1 on the left half, object 2 bottom-right, padding row 3."""
    instances = torch.zeros(2, 16, 16, dtype=torch.int64)
    instances[:, :, :8] = 1
    instances[:, 8:, 8:] = 2
    order = torch.randint(
        0, ORDER_CLASSES, (2, 3, TASKS), generator=torch.Generator().manual_seed(0)
    )
    order[:, 2] = -1
    return instances, order


def test_targets_mix_the_objects_rank_classes_by_their_share_of_each_cell() -> None:
    instances, order = _scene()
    targets, foreground = order_targets(instances, order, (4, 4))
    assert targets.shape == (2, TASKS, ORDER_CLASSES, 4, 4) and foreground.shape == (2, 4, 4)
    one_hot = F.one_hot(order.clamp(min=0), ORDER_CLASSES).float()  # (2, 3, T, C)
    # Cells wholly inside object 1 or 2, and a background cell.
    torch.testing.assert_close(targets[:, :, :, 0, 0], one_hot[:, 0])
    torch.testing.assert_close(targets[:, :, :, 3, 3], one_hot[:, 1])
    assert targets[:, :, :, 0, 3].abs().sum() == 0 and foreground[:, 0, 3].eq(0).all()
    # Each cell's targets sum to its object share; a 3 x 3 grid splits cells.
    targets, foreground = order_targets(instances, order, (3, 3))
    torch.testing.assert_close(targets.sum(2), foreground[:, None].expand(-1, TASKS, -1, -1))
    assert ((foreground > 0) & (foreground < 1)).any()


def test_heads_score_the_right_ranks_far_better_than_other_ones() -> None:
    instances, order = _scene()

    def features(s: int) -> torch.Tensor:  # channel t*C + c = 1 where task t has class c
        targets, _ = order_targets(instances, order, (s, s))
        return targets.flatten(1, 2)  # (B, T*C, s, s)

    heads = OrderHeads((TASKS * ORDER_CLASSES,) * 2, TASKS)
    with torch.no_grad():
        for head in heads.heads:
            head.weight.zero_()
            head.bias.zero_()
            head.weight[:, :, 0, 0] = 20 * torch.eye(TASKS * ORDER_CLASSES)
        maps = [features(8), features(4)]
        right = heads(maps, instances, order)
        wrong = heads(
            maps, instances, (order + 1) % ORDER_CLASSES * (order >= 0) - (order < 0).long()
        )
        empty = heads(maps, torch.zeros_like(instances), order)
    assert right.ndim == 0 and right.item() < 0.05 * wrong.item()
    assert empty.item() == 0.0  # no object anywhere: nothing to count, no NaN


def _batch(b: int = 2, size: int = 32):
    torch.manual_seed(0)
    image = torch.randn(b, 3, size, size)
    ids = torch.tensor([[101, 1996, 2417, 102] + [0] * 16] * b)
    instances = torch.zeros(b, size, size, dtype=torch.int64)
    instances[:, 4:20, 8:24] = 1
    instances[:, 22:30, 2:10] = 2
    order = torch.randint(0, ORDER_CLASSES, (b, 2, TASKS))
    return image, ids, (ids > 0).long(), instances.clamp(max=1), instances, order


def test_warm_start_and_full_steps_train_the_global_stages_to_count(tiny_model) -> None:
    channels = TrainingModel.order_head_channels(tiny_model)
    assert channels[:2] == list(tiny_model.config.swin.stage_channels[2:4])
    heads = CategoryHeads(TrainingModel.head_channels(tiny_model), num_labels=2)
    wrapper = TrainingModel(tiny_model, heads, order_heads=OrderHeads(channels, TASKS))
    image, ids, mask, labels, instances, order = _batch()
    warm = wrapper(image, ids, mask, labels, None, instances, order, visual_only=True)
    assert warm.mask_logits is None and warm.order_loss.ndim == 0
    warm.order_loss.backward()
    grads = {n: p.grad for n, p in wrapper.named_parameters()}
    assert grads["order_heads.heads.0.weight"] is not None
    assert grads["order_heads.heads.1.weight"] is not None
    assert grads["order_heads.heads.2.weight"] is None  # mask features need the decoders
    assert grads["model.backbone.layers.3.blocks.0.attn.qkv.weight"] is not None
    wrapper.zero_grad(set_to_none=True)
    full = wrapper(image, ids, mask, labels, None, instances, order)
    assert full.mask_logits is not None and full.order_loss.ndim == 0
    full.order_loss.backward()
    assert all(head.weight.grad is not None for head in wrapper.order_heads.heads)
    # Without the instance fields it is a step without the order loss.
    assert wrapper(image, ids, mask, labels).order_loss is None


ORDER_RUN = ("optim.order_loss_weight=0.5", "optim.category_warmup_steps=3")


def test_training_with_the_order_loss_keeps_it_out_of_the_model(tmp_path) -> None:
    data = squares_factory(n_train=8, n_val=2, size=32, orders=True)
    trainer = train_with_heads(tmp_path, ORDER_RUN, data, "order_heads", 3)
    # The loss is part of the objective: the same run without it has other losses.
    plain = run_training(
        tiny_config(tmp_path / "plain", "optim.category_warmup_steps=3"),
        datasets=squares_factory(n_train=8, n_val=2, size=32, categories=True),
    )
    assert plain.loss_history[0] < trainer.loss_history[0]


def test_resume_with_order_heads_is_exact(tmp_path) -> None:
    data = squares_factory(n_train=8, n_val=2, size=32, orders=True)
    # Stopped in the warm start (step 2) and in the referring steps (step 5).
    assert_resume_is_exact(tmp_path, ORDER_RUN, data, (2, 5), "order_heads")


def test_order_loss_needs_labels_heads_in_the_checkpoint_and_a_valid_weight(tmp_path) -> None:
    cfg = tiny_config(tmp_path / "a", "optim.order_loss_weight=1")
    with pytest.raises(LGFormerError, match="instance-order labels"):
        run_training(cfg, datasets=squares_factory(n_train=4, n_val=0, size=32, categories=True))
    data = squares_factory(n_train=4, n_val=0, size=32, orders=True)
    run_training(tiny_config(tmp_path / "b", "optim.epochs=1", "validate=false"), datasets=data)
    cfg = tiny_config(
        tmp_path / "b", "optim.epochs=2", "validate=false", "optim.order_loss_weight=1"
    )
    with pytest.raises(LGFormerError, match="without the instance-order heads"):
        run_training(cfg, datasets=data)
    with pytest.raises(LGFormerError, match=">= 0"):
        tiny_config(tmp_path, "optim.order_loss_weight=-1")


def test_order_loss_can_be_kept_to_the_warm_start(tmp_path) -> None:
    from lgformer.engine.checkpoint import load_checkpoint

    data = squares_factory(n_train=8, n_val=2, size=32, orders=True)
    both = run_training(tiny_config(tmp_path / "both", *ORDER_RUN), datasets=data)
    warm_only = (*ORDER_RUN, "optim.order_loss_in_referring=false")
    warm = run_training(tiny_config(tmp_path / "warm", *warm_only), datasets=data)
    # The same warm start (3 steps), then referring steps without the order term.
    assert warm.loss_history[:3] == both.loss_history[:3]
    # The first referring step starts from the same weights: only the order term differs.
    assert warm.loss_history[3] < both.loss_history[3]
    # The order heads stop where the warm start left them.
    run_training(tiny_config(tmp_path / "cut", *warm_only, "max_steps=3"), datasets=data)
    left = load_checkpoint(tmp_path / "cut" / "last.pt")["order_heads"]
    final = load_checkpoint(tmp_path / "warm" / "last.pt")["order_heads"]
    assert all(torch.equal(left[k], final[k]) for k in left)
