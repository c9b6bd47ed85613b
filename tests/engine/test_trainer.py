"""Short end-to-end runs: the loss falls, checkpoints and logs appear, NaNs are handled."""

import math

import pytest
import torch

from lgformer.engine.checkpoint import load_checkpoint, seed_everything
from lgformer.engine.divergence import TrainingDivergedError
from lgformer.engine.run import build_model, run_training

from .tiny_data import SquaresDataset, squares_factory, tiny_config


def test_loss_falls_and_outputs_are_written(tmp_path):
    cfg = tiny_config(
        tmp_path, "optim.epochs=10", "optim.batch_size=4", "optim.lr=3e-3",
        "output.tensorboard=true", "output.log_every=5",
    )  # fmt: skip
    trainer = run_training(cfg, datasets=squares_factory(n_train=8, n_val=4, size=32))
    losses = trainer.loss_history
    assert len(losses) == 20 and all(math.isfinite(x) for x in losses)
    assert sum(losses[-4:]) / 4 < 0.4 * sum(losses[:2]) / 2
    assert trainer.metrics["overall_iou"] > 30.0

    assert {"last.pt", "best.pt", "config.yaml", "tensorboard"} <= {
        p.name for p in tmp_path.iterdir()
    }
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["best_iou"] == pytest.approx(best["metrics"]["overall_iou"])
    assert best["model_config"] == trainer.model.config.to_dict()
    assert best["config"]["optim"]["lr"] == 3e-3

    # A training checkpoint is a model file for the rest of the package.
    from lgformer.checkpoints import load_model

    model = load_model(tmp_path / "last.pt")
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(model.state_dict()[key], value.cpu()), key


class _PoisonedSquares(SquaresDataset):
    def __init__(self, poisoned: set[int]):
        super().__init__(8, 32, seed=1)
        for i in poisoned:
            self.images[i] = float("nan")


def _poisoned_factory(poisoned):
    return lambda cfg, max_words: (_PoisonedSquares(poisoned), None, None)


def test_a_non_finite_loss_skips_the_step(tmp_path):
    cfg = tiny_config(tmp_path, "optim.epochs=1", "validate=false")
    with pytest.warns(UserWarning, match="step skipped"):
        trainer = run_training(cfg, datasets=_poisoned_factory({3}))
    assert sum(not math.isfinite(x) for x in trainer.loss_history) == 1
    assert all(torch.isfinite(p).all() for p in trainer.model.parameters())
    assert trainer.position.step == 4


def test_repeated_non_finite_losses_abort_with_a_checkpoint(tmp_path):
    cfg = tiny_config(tmp_path, "optim.epochs=1", "optim.max_bad_steps=2", "validate=false")
    # No last.pt was written before the divergence: the message must not promise one.
    message = "2 steps in a row.*there is no last.pt yet, so a new launch starts over"
    with pytest.warns(UserWarning), pytest.raises(TrainingDivergedError, match=message):
        run_training(cfg, datasets=_poisoned_factory(set(range(8))))
    assert not (tmp_path / "last.pt").exists()
    saved = load_checkpoint(tmp_path / "diverged.pt")
    assert saved["step"] == 2 and saved["bad_steps"] == 2
    assert all(torch.isfinite(v).all() for v in saved["model"].values() if v.is_floating_point())


class _NaNFromLoad(SquaresDataset):
    """Every item loaded after the first ``clean`` ones is NaN (loading is in-process)."""

    def __init__(self, clean: int):
        super().__init__(8, 32, seed=1)
        self.clean, self.loads = clean, 0

    def __getitem__(self, index):
        self.loads += 1
        item = super().__getitem__(index)
        if self.loads > self.clean:
            item["image"] = torch.full_like(item["image"], float("nan"))
        return item


def test_checkpoints_wait_while_the_loss_is_not_finite(tmp_path, capsys):
    """A last.pt written during non-finite steps would resume into them (with their count):
    mid-epoch and epoch checkpoints wait, so last.pt is the state from before them."""
    cfg = tiny_config(
        tmp_path, "optim.epochs=2", "optim.max_bad_steps=3", "output.checkpoint_every=1",
        "validate=false",
    )  # fmt: skip
    data = lambda cfg, max_words: (_NaNFromLoad(clean=6), None, None)  # noqa: E731
    message = "3 steps in a row.*last.pt, written before these non-finite steps"
    with pytest.warns(UserWarning), pytest.raises(TrainingDivergedError, match=message):
        run_training(cfg, datasets=data)  # steps 1-3 finite, 4 (the epoch's end) on NaN
    saved = load_checkpoint(tmp_path / "last.pt")
    assert saved["step"] == 3 and saved["bad_steps"] == 0
    assert load_checkpoint(tmp_path / "diverged.pt")["step"] == 6
    out = capsys.readouterr().out
    assert "the epoch's checkpoint waits: the last 1 losses were not finite" in out
    assert "the checkpoint of step 5 waits: the last 2 losses were not finite" in out


def test_gradient_checkpointing_changes_nothing_with_frozen_embeddings(tmp_path):
    """Recomputation must still reach every BERT layer although the embeddings are frozen."""
    data = squares_factory(n_train=4, n_val=0, size=32)
    runs = []
    for flag in ("false", "true"):
        cfg = tiny_config(
            tmp_path / flag, "optim.epochs=1", "validate=false", f"model.grad_checkpointing={flag}",
            "model.overrides={text: {hidden_dropout_prob: 0.0, attention_probs_dropout_prob: 0.0}}",
        )  # fmt: skip
        runs.append(run_training(cfg, datasets=data))
    plain, ckpt = runs
    assert ckpt.loss_history == pytest.approx(plain.loss_history, rel=1e-6)
    seed_everything(0)
    initial = build_model(cfg).state_dict()
    layer = "text_encoder.encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(ckpt.model.state_dict()[layer], initial[layer])  # BERT did train
    for (name, a), b in zip(plain.model.named_parameters(), ckpt.model.parameters()):
        assert torch.allclose(a, b, atol=1e-6), name
