"""``--no-resume`` moves the previous run aside: nothing is lost, nothing stale is resumed
when the new run is killed before its first checkpoint."""

import pytest

import lgformer.engine.trainer as trainer_module
from lgformer.engine.checkpoint import load_checkpoint, set_aside
from lgformer.engine.run import run_training

from .tiny_data import squares_factory, tiny_config


def test_a_run_killed_before_its_first_checkpoint_does_not_resume_the_old_one(
    tmp_path, monkeypatch, capsys
):
    data = squares_factory(n_train=4, n_val=2, size=32)  # 2 iterations per epoch
    cfg = tiny_config(tmp_path, "optim.epochs=1", "output.tensorboard=true")
    run_training(cfg, datasets=data)
    old = {name: (tmp_path / name).read_bytes() for name in ("last.pt", "best.pt")}
    (tmp_path / "replaced").mkdir()
    (tmp_path / "replaced" / "older.txt").write_text("a run replaced before")
    capsys.readouterr()

    real_step = trainer_module.Trainer.train_step

    def killed(self, batch):
        raise KeyboardInterrupt  # killed during the first step: no checkpoint yet

    monkeypatch.setattr(trainer_module.Trainer, "train_step", killed)
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, auto_resume=False, datasets=data)
    monkeypatch.setattr(trainer_module.Trainer, "train_step", real_step)

    replaced = tmp_path / "replaced"
    moved = "last.pt, best.pt, config.yaml, tensorboard"
    assert f"moved the previous run's {moved} to {replaced} (the older one there kept as " in (
        capsys.readouterr().out
    )
    assert (tmp_path / "replaced.1" / "older.txt").read_text() == "a run replaced before"
    assert {p.name for p in replaced.iterdir()} == {
        "last.pt", "best.pt", "config.yaml", "tensorboard",
    }  # fmt: skip
    assert all((replaced / name).read_bytes() == content for name, content in old.items())
    assert list((replaced / "tensorboard").glob("events.out.tfevents.*"))
    assert not (tmp_path / "last.pt").exists() and not (tmp_path / "best.pt").exists()

    # The next plain launch starts over instead of resuming the run thrown away.
    trainer = run_training(cfg, datasets=data)
    assert "resumed from" not in capsys.readouterr().out
    assert len(trainer.loss_history) == trainer.position.step == 2
    assert load_checkpoint(tmp_path / "last.pt")["step"] == 2


def test_no_resume_without_checkpoints_touches_nothing(tmp_path):
    (tmp_path / "config.yaml").write_text("optim: {}\n")
    (tmp_path / "replaced").mkdir()
    assert set_aside(tmp_path, ("last.pt", "best.pt"), ("config.yaml",)) == []
    assert (tmp_path / "config.yaml").is_file() and (tmp_path / "replaced").is_dir()
    assert set_aside(tmp_path / "missing", ("last.pt",)) == []


def test_a_diverged_checkpoint_is_moved_too(tmp_path):
    (tmp_path / "diverged.pt").write_bytes(b"state")
    (tmp_path / "replaced").write_text("a file in the way")
    assert set_aside(tmp_path, ("last.pt", "best.pt", "diverged.pt")) == ["diverged.pt"]
    assert (tmp_path / "replaced" / "diverged.pt").read_bytes() == b"state"
    assert (tmp_path / "replaced.1").read_text() == "a file in the way"


def test_every_earlier_replaced_run_is_kept(tmp_path):
    for generation in range(4):
        (tmp_path / "last.pt").write_bytes(b"run %d" % generation)
        assert set_aside(tmp_path, ("last.pt",)) == ["last.pt"]
    assert (tmp_path / "replaced" / "last.pt").read_bytes() == b"run 3"
    for k in (1, 2, 3):  # oldest first
        assert (tmp_path / f"replaced.{k}" / "last.pt").read_bytes() == b"run %d" % (k - 1)
