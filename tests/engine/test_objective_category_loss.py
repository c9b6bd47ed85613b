"""The auxiliary category loss, the vision-only warm start, and their place in training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lgformer.distributed import env_process_info
from lgformer.engine.checkpoint import load_checkpoint
from lgformer.engine.config import ObjectiveConfig
from lgformer.engine.objective import CategoryHeads, Objective, soft_labels
from lgformer.engine.run import build_model, run_training
from lgformer.engine.trainer import Trainer
from lgformer.errors import LGFormerError

from .tiny_data import assert_resume_is_exact, squares_factory, tiny_config


def _labels() -> torch.Tensor:
    labels = torch.zeros(2, 16, 16, dtype=torch.int64)
    labels[:, :8] = 1
    labels[:, 8:, :8] = 2
    labels[1, 3:6, 10:15] = 0
    return labels


@pytest.mark.parametrize("size", [(8, 8), (4, 2), (5, 3)])
def test_soft_labels_are_pooled_one_hot_maps(size) -> None:
    labels = _labels()
    expected = F.adaptive_avg_pool2d(F.one_hot(labels, 3).permute(0, 3, 1, 2).float(), size)
    torch.testing.assert_close(soft_labels(labels, size, 3), expected)


def test_heads_score_the_right_labels_far_better_than_shuffled_ones() -> None:
    labels = _labels()

    def features(c: int, s: int) -> torch.Tensor:  # channel k = 1 where the label is k
        onehot = F.one_hot(labels, 3).permute(0, 3, 1, 2).float()
        return torch.cat([F.adaptive_avg_pool2d(onehot, s), torch.zeros(2, c - 3, s, s)], 1)

    heads = CategoryHeads((4, 8, 16, 4), num_labels=3)
    with torch.no_grad():
        for head in heads.heads:
            head.weight.zero_()
            head.bias.zero_()
            head.weight[:3, :3, 0, 0] = 20 * torch.eye(3)
        maps = [features(4, 8), features(8, 4), features(16, 2), features(4, 8)]
        right, wrong = heads(maps, labels), heads(maps, labels.flip(1))
        first_three = heads(maps[:3], labels)
    assert right.ndim == 0 and right.item() < 0.3 * wrong.item()
    assert first_three.item() < right.item()  # fewer maps read, fewer terms summed


def _batch(model, b: int = 2, size: int = 32):
    torch.manual_seed(0)
    image = torch.randn(b, 3, size, size)
    ids = torch.tensor([[101, 1996, 2417, 102] + [0] * 16] * b)
    labels = torch.zeros(b, size, size, dtype=torch.int64)
    labels[:, 4:20, 8:24] = 1
    return image, ids, (ids > 0).long(), labels


def test_vision_only_step_trains_the_swin_path_alone(tiny_model) -> None:
    wrapper = Objective(tiny_model, ObjectiveConfig(category_loss_weight=1), num_categories=2)
    image, ids, mask, labels = _batch(tiny_model)
    out = wrapper(image, ids, mask, labels, visual_only=True)
    assert out.mask_logits is None and out.category_loss.ndim == 0
    out.category_loss.backward()
    grads = {n: p.grad for n, p in wrapper.named_parameters()}
    assert grads["model.backbone.patch_embed.proj.weight"] is not None
    assert grads["category_heads.heads.0.weight"] is not None
    assert grads["category_heads.heads.3.weight"] is None  # the mask feature head needs decoders
    untouched = [n for n, g in grads.items() if ".fusion." in n or n.startswith("model.classi")]
    assert untouched and all(grads[n] is None for n in untouched)


def test_full_step_returns_masks_and_a_category_loss(tiny_model) -> None:
    with_heads = Objective(tiny_model, ObjectiveConfig(category_loss_weight=1), num_categories=2)
    heads = with_heads.category_heads
    image, ids, mask, labels = _batch(tiny_model)
    out = with_heads(image, ids, mask, labels)
    assert len(out.mask_logits) >= 1 and out.mask_logits[-1].shape == (2, 1, 32, 32)
    out.category_loss.backward()
    assert heads.heads[3].weight.grad is not None
    with pytest.raises(ValueError, match="categories"):
        with_heads(image, ids, mask, visual_only=True)
    # Without labels (heads or not) it is a plain referring step.
    plain_objective = Objective(tiny_model, ObjectiveConfig(), num_categories=None)
    for wrapper in (plain_objective, with_heads):
        plain = wrapper(image, ids, mask)
        assert plain.category_loss is None and len(plain.mask_logits) == len(out.mask_logits)


CATEGORY_RUN = ("objective.category_loss_weight=0.5", "objective.category_warmup_steps=3")


def test_training_with_warm_start_and_category_loss(tmp_path) -> None:
    data = squares_factory(n_train=8, n_val=2, size=32, categories=True)
    trainer = run_training(tiny_config(tmp_path / "run", *CATEGORY_RUN), datasets=data)
    assert trainer.position.step == 8 and all(
        map(torch.isfinite, torch.tensor(trainer.loss_history))
    )
    # 4 steps per epoch: the first epoch ends in the warm start (3 steps) plus one referring
    # step, so both epochs are validated; a warm start covering an epoch skips it.
    assert trainer.metrics and (tmp_path / "run" / "best.pt").is_file()
    ckpt = load_checkpoint(tmp_path / "run" / "last.pt")
    heads = ckpt["category_heads"]
    assert set(heads) == {f"heads.{i}.{p}" for i in range(4) for p in ("weight", "bias")}
    # The model's own state (what export and evaluation read) has no trace of them.
    assert not any("heads." in key for key in ckpt["model"])
    # Four parameter groups of the model plus one of the heads.
    assert len(ckpt["optimizer"]["param_groups"]) == len(trainer.optimizer.param_groups)
    assert trainer.optimizer.param_groups[-1]["params"] and len(ckpt["optimizer"]["state"]) > 0


def test_warm_start_steps_leave_the_fusion_and_decoders_alone(tmp_path) -> None:
    cfg = tiny_config(
        tmp_path, "optim.epochs=2", "validate=false", "objective.category_warmup_steps=4",
        "max_steps=3",
    )  # fmt: skip
    model = build_model(cfg)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    train_set, _, _ = squares_factory(n_train=8, n_val=0, size=32, categories=True)(cfg, 20)
    trainer = Trainer(
        cfg, model, train_set, None, info=env_process_info(), device=torch.device("cpu")
    )
    trainer.fit()
    assert trainer.position.step == 3
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, start[k])}
    assert "backbone.patch_embed.proj.weight" in changed
    assert any(".blocks." in k for k in changed)
    frozen = [k for k in start if ".fusion." in k or k.startswith(("classifier.", "text_enc"))]
    assert frozen and not changed.intersection(frozen)


def test_epochs_inside_the_warm_start_are_not_validated(tmp_path, monkeypatch) -> None:
    data = squares_factory(n_train=8, n_val=2, size=32, categories=True)
    cfg = tiny_config(tmp_path, "optim.epochs=3", "objective.category_warmup_steps=4")
    validated = []
    monkeypatch.setattr(Trainer, "_validate", lambda self: validated.append(self.position.step))
    trainer = run_training(cfg, datasets=data)
    assert trainer.position.step == 12 and validated == [8, 12]
    # The learning rate is held through the warm start, then decays to zero.
    assert trainer.scheduler.hold == 4 and trainer.scheduler.get_last_lr()[0] == 0.0
    too_long = tiny_config(tmp_path / "b", "optim.epochs=1", "objective.category_warmup_steps=4")
    with pytest.raises(LGFormerError, match="no full referring steps"):
        run_training(too_long, datasets=data)


def test_resume_with_category_heads_is_exact(tmp_path) -> None:
    data = squares_factory(n_train=8, n_val=2, size=32, categories=True)
    # Stopped in the warm start (step 2) and in the referring steps (step 5).
    assert_resume_is_exact(tmp_path, CATEGORY_RUN, data, (2, 5), "category_heads")


def test_warm_start_alone_leaves_referring_steps_plain(tmp_path, monkeypatch) -> None:
    data = squares_factory(n_train=8, n_val=0, size=32, categories=True)
    cfg = tiny_config(tmp_path, "validate=false", "objective.category_warmup_steps=3")
    losses = []
    real = Objective.forward

    def spy(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        losses.append(out.category_loss is not None)
        return out

    monkeypatch.setattr(Objective, "forward", spy)
    run_training(cfg, datasets=data)
    assert losses == [True] * 3 + [False] * 5  # weight 0: no category loss after step 3


def test_resuming_a_plain_checkpoint_with_category_heads_is_refused(tmp_path) -> None:
    plain = squares_factory(n_train=4, n_val=0, size=32)
    run_training(tiny_config(tmp_path, "optim.epochs=1", "validate=false"), datasets=plain)
    data = squares_factory(n_train=4, n_val=0, size=32, categories=True)
    cfg = tiny_config(tmp_path, "optim.epochs=2", "validate=false", *CATEGORY_RUN)
    with pytest.raises(LGFormerError, match="without the category heads"):
        run_training(cfg, datasets=data)


def test_category_options_need_labels_and_non_negative_values(tmp_path) -> None:
    cfg = tiny_config(tmp_path, "objective.category_loss_weight=1")
    with pytest.raises(LGFormerError, match="category labels"):
        run_training(cfg, datasets=squares_factory(n_train=4, n_val=0, size=32))
    with pytest.raises(LGFormerError, match=">= 0"):
        tiny_config(tmp_path, "objective.category_warmup_steps=-1")
