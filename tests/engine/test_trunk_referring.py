"""Trunk-only referring steps (optim.trunk_referring_steps): the words, fusions and Swin
trained on the stage-mask loss without the decoders, between the warm start and the
full referring steps."""

from __future__ import annotations

import pytest
import torch

from lgformer.engine.category_loss import CategoryHeads
from lgformer.engine.optim_config import OptimConfig
from lgformer.engine.run import run_training
from lgformer.engine.stage_mask_loss import StageMaskHeads
from lgformer.engine.trainer import Trainer
from lgformer.engine.training_model import TrainingModel
from lgformer.errors import LGFormerError

from .tiny_data import assert_resume_is_exact, squares_factory, tiny_config

TRUNK_RUN = (
    "optim.epochs=3",  # 8 samples, batch 2: 4 steps an epoch, 12 in all
    "optim.category_warmup_steps=2",
    "optim.category_loss_weight=0.5",
    "optim.trunk_referring_steps=4",
    "optim.stage_mask_loss_weight=2.0",
)


def _inputs(size: int = 32) -> tuple[torch.Tensor, ...]:
    torch.manual_seed(0)
    image = torch.randn(2, 3, size, size)
    ids = torch.tensor([[101, 1996, 2417, 102]] * 2)
    target = torch.zeros(2, size, size)
    target[:, 4:20, 8:24] = 1
    categories = target.long()
    return image, ids, torch.ones_like(ids), categories, target


def test_trunk_step_trains_the_fusions_and_leaves_the_decoders(tiny_model) -> None:
    channels = list(tiny_model.config.swin.stage_channels)
    wrapper = TrainingModel(
        tiny_model,
        heads=CategoryHeads(TrainingModel.head_channels(tiny_model), num_labels=2),
        stage_heads=StageMaskHeads(channels),
    )
    image, ids, mask, categories, target = _inputs()
    out = wrapper(image, ids, mask, categories, target, trunk_only=True)
    assert out.mask_logits is None and out.order_loss is None
    optim = OptimConfig(stage_mask_loss_weight=2.0, category_loss_weight=0.5)
    loss = out.total_loss(target, optim)
    torch.testing.assert_close(loss, 2.0 * out.stage_mask_loss + 0.5 * out.category_loss)
    # The category loss reads stages 1-3 only, as in the warm start.
    expected = wrapper.heads(tiny_model.language_guided_features(image, ids, mask).features[:3],
                             categories)  # fmt: skip
    torch.testing.assert_close(out.category_loss, expected)
    loss.backward()
    grads = {n: p.grad for n, p in wrapper.named_parameters()}
    assert all(grads[n] is None for n in grads if n.startswith("model.classifier."))
    assert grads["heads.heads.3.weight"] is None  # the mask-feature head: no decoders
    fusion = [n for n in grads if ".fusion." in n and ".layers.3." in n]
    assert fusion and any(grads[n] is not None and grads[n].abs().sum() > 0 for n in fusion)


def test_trunk_step_needs_stage_heads_and_a_target(tiny_model) -> None:
    image, ids, mask, _, target = _inputs()
    with pytest.raises(ValueError, match="stage-mask heads"):
        TrainingModel(tiny_model)(image, ids, mask, None, target, trunk_only=True)
    wrapper = TrainingModel(
        tiny_model, stage_heads=StageMaskHeads(tiny_model.config.swin.stage_channels)
    )
    with pytest.raises(ValueError, match="'target'"):
        wrapper(image, ids, mask, trunk_only=True)


def test_phases_of_a_run_and_what_is_validated(tmp_path, monkeypatch) -> None:
    data = squares_factory(n_train=8, n_val=2, size=32, categories=True)
    kinds: list[str] = []
    real = TrainingModel.forward

    def spy(self, *args, **kwargs):
        out = real(self, *args, **kwargs)
        kinds.append(
            "warm" if kwargs["visual_only"] else "trunk" if kwargs["trunk_only"] else "full"
        )
        return out

    validated: list[int] = []
    monkeypatch.setattr(TrainingModel, "forward", spy)
    monkeypatch.setattr(Trainer, "_validate", lambda self: validated.append(self.step))
    trainer = run_training(tiny_config(tmp_path, *TRUNK_RUN), datasets=data)
    assert kinds == ["warm"] * 2 + ["trunk"] * 4 + ["full"] * 6
    # Epoch 1 ends inside the trunk-only steps: no decoders to validate yet.
    assert validated == [8, 12]
    assert trainer.scheduler.hold == 6 and trainer.scheduler.get_last_lr()[0] == 0.0
    assert all(map(torch.isfinite, torch.tensor(trainer.loss_history)))


def test_resume_inside_and_after_the_trunk_steps_is_exact(tmp_path) -> None:
    data = squares_factory(n_train=8, n_val=2, size=32, categories=True)
    assert_resume_is_exact(tmp_path, TRUNK_RUN, data, (3, 7), "stage_heads")


def test_trunk_options_are_checked(tmp_path) -> None:
    with pytest.raises(LGFormerError, match="stage_mask_loss_weight > 0"):
        tiny_config(tmp_path, "optim.trunk_referring_steps=4")
    with pytest.raises(LGFormerError, match=">= 0"):
        tiny_config(tmp_path, "optim.trunk_referring_steps=-1")
    data = squares_factory(n_train=8, n_val=0, size=32)
    too_long = tiny_config(
        tmp_path, "optim.trunk_referring_steps=8", "optim.stage_mask_loss_weight=1"
    )
    with pytest.raises(LGFormerError, match="no full referring steps"):
        run_training(too_long, datasets=data)
