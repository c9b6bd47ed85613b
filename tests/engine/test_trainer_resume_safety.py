"""Resuming safely: kills between checkpoint writes, leftovers of killed saves, configs
that changed since the checkpoint, and files that cannot be resumed."""

import pytest
import torch

import lgformer.engine.checkpoint as checkpoints_module
import lgformer.engine.trainer as trainer_module
from lgformer.engine.checkpoint import load_checkpoint
from lgformer.engine.precision import resolve_precision
from lgformer.engine.run import run_training
from lgformer.engine.schedule import poly_factor
from lgformer.errors import LGFormerError

from .tiny_data import squares_factory, tiny_config


def test_a_kill_between_best_and_last_loses_no_best_checkpoint(tmp_path, monkeypatch) -> None:
    """Killed between the two files of a new best: the resumed run still ends with a best.pt
    that holds its best epoch."""
    data = squares_factory(n_train=4, n_val=2, size=32)
    cfg = tiny_config(tmp_path, "optim.epochs=1")

    def killed(src, dst):
        raise KeyboardInterrupt  # the process dies after the first of the two files

    monkeypatch.setattr(checkpoints_module, "atomic_copy", killed)
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, datasets=data)
    monkeypatch.undo()

    trainer = run_training(cfg, datasets=data)  # resumes from last.pt if it was written
    assert (tmp_path / "best.pt").is_file()
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["best_iou"] == trainer.best_iou == best["metrics"]["overall_iou"]


def test_temporaries_of_a_killed_save_are_removed(tmp_path, capsys) -> None:
    data = squares_factory(n_train=4, n_val=0, size=32)
    tmp_path.mkdir(exist_ok=True)
    stale = tmp_path / ".last.pt.12345.tmp"
    stale.write_bytes(b"half a checkpoint")
    keep = tmp_path / ".notes.12345.tmp"
    keep.write_text("not ours")
    run_training(tiny_config(tmp_path, "optim.epochs=1", "validate=false"), datasets=data)
    assert not stale.exists() and keep.exists()
    assert "removed .last.pt.12345.tmp" in capsys.readouterr().out


def test_resume_applies_this_runs_optimizer_settings(tmp_path, capsys) -> None:
    """After a divergence the message advises a lower optim.lr: the resumed run must use it
    (the optimizer's state dict used to bring back the checkpoint's lr and weight decay)."""
    data = squares_factory(n_train=8, n_val=0, size=32)  # 4 iterations per epoch, 8 in all
    common = ("validate=false", "optim.lr=1e-3")
    run_training(tiny_config(tmp_path, *common, "max_steps=3"), datasets=data)
    cfg = tiny_config(tmp_path, *common, "max_steps=4", "optim.lr=1e-4", "optim.weight_decay=0.05")
    trainer = run_training(cfg, datasets=data)
    assert trainer.position.step == 4
    for group in trainer.optimizer.param_groups:
        assert group["initial_lr"] == 1e-4
        assert group["lr"] == pytest.approx(1e-4 * poly_factor(4, 8))
        expected = 0.0 if group.get("name") == "backbone_no_decay" else 0.05
        assert group["weight_decay"] == expected
    out = capsys.readouterr().out
    assert "config changed since that checkpoint" in out and "optim.lr 0.001 -> 0.0001" in out


@pytest.mark.parametrize(
    "override, n_train, message",
    [
        ("optim.batch_size=4", 8, r"optim.batch_size 2 -> 4"),
        ("data.dataset=refcoco+", 8, r"data.dataset 'refcoco' -> 'refcoco\+'"),
        ("seed=0", 6, "trained on 8 samples per epoch, this run's training set has 6"),
        (
            "model.overrides={decoder: {mask_decoder_layers: 1}}",
            8,
            r"another model than this run's \(decoder.mask_decoder_layers: \d+ -> 1, checkpoint",
        ),
    ],
)
def test_a_checkpoint_of_another_run_is_refused(tmp_path, override, n_train, message) -> None:
    """An output dir holding another run's last.pt: a clear error, not a resume that
    silently skips data (a new batch size made the old step count point past the epoch)."""
    run_training(
        tiny_config(tmp_path, "validate=false", "max_steps=3"),
        datasets=squares_factory(n_train=8, n_val=0, size=32),
    )
    cfg = tiny_config(tmp_path, "validate=false", override)
    with pytest.raises(LGFormerError, match=message) as err:
        run_training(cfg, datasets=squares_factory(n_train=n_train, n_val=0, size=32))
    assert "--no-resume or another output.dir" in str(err.value)
    run_training(cfg, auto_resume=False, datasets=squares_factory(n_train=n_train, n_val=0))


def test_resuming_a_model_file_points_to_init_checkpoint(tmp_path) -> None:
    data = squares_factory(n_train=4, n_val=0, size=32)
    run_training(tiny_config(tmp_path / "a", "optim.epochs=1", "validate=false"), datasets=data)
    weights = {"model": load_checkpoint(tmp_path / "a" / "last.pt")["model"]}
    torch.save(weights, tmp_path / "released.pth")
    cfg = tiny_config(tmp_path / "b", "validate=false")
    with pytest.raises(LGFormerError, match="no training state .* use --set init.checkpoint="):
        run_training(cfg, resume=tmp_path / "released.pth", datasets=data)


def test_bf16_on_a_gpu_without_it_is_a_clear_error(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    with pytest.raises(LGFormerError, match="use optim.precision=fp16"):
        resolve_precision("bf16", torch.device("cuda"))


def test_tensorboard_shows_each_step_once_after_a_kill_and_resume(tmp_path, monkeypatch) -> None:
    """The killed run logged steps after its last checkpoint; the resumed run logs them
    again, and TensorBoard must show only the resumed run's values."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    data = squares_factory(n_train=16, n_val=0, size=32)  # 8 iterations
    cfg = tiny_config(
        tmp_path, "validate=false", "optim.epochs=1", "output.tensorboard=true",
        "output.log_every=1", "output.checkpoint_every=2",
    )  # fmt: skip
    real_step = trainer_module.Trainer.train_step

    def killed_after_five_steps(self, batch):
        if self.position.step == 5:  # the last checkpoint was at step 4
            raise KeyboardInterrupt
        return real_step(self, batch)

    monkeypatch.setattr(trainer_module.Trainer, "train_step", killed_after_five_steps)
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, datasets=data)
    monkeypatch.undo()
    trainer = run_training(cfg, datasets=data)

    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    losses = events.Scalars("train/loss")
    assert [e.step for e in losses] == list(range(1, 9))
    assert losses[-1].value == pytest.approx(trainer.loss_history[-1])
