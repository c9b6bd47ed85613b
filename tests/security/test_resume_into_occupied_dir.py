"""``train --resume OTHER/best.pt`` into an output.dir holding another run keeps that run
(in ``replaced/``, as ``--no-resume`` does) instead of overwriting its last.pt and config."""

from __future__ import annotations

import yaml

from lgformer.cli import main
from lgformer.engine.checkpoint import load_checkpoint
from tests.security.train_fixture import tiny_train_config


def test_resume_from_another_run_keeps_the_run_in_output_dir(tmp_path, capsys):
    config = tiny_train_config(tmp_path)
    other = tmp_path / "other"
    assert main(["train", "--config", str(config), "--set", f"output.dir={other}"]) == 0
    occupied = tmp_path / "run"
    set_lr = ["--set", "optim.lr=0.002"]  # tells the two runs' configs apart
    assert main(["train", "--config", str(config), *set_lr]) == 0
    before = (occupied / "last.pt").read_bytes()
    capsys.readouterr()

    argv = ["train", "--config", str(config), "--set", "optim.epochs=2"]
    assert main([*argv, "--resume", str(other / "best.pt")]) == 0
    printed = capsys.readouterr().out
    assert f"{occupied} held another run; its last.pt, best.pt, config.yaml moved to" in printed
    kept = occupied / "replaced"
    assert (kept / "last.pt").read_bytes() == before  # the earlier run, untouched
    assert yaml.safe_load((kept / "config.yaml").read_text())["optim"]["lr"] == 0.002
    resumed = load_checkpoint(occupied / "last.pt")
    assert resumed["step"] == 2 and resumed["config"]["optim"]["lr"] == 0.001


def test_resume_from_the_runs_own_best_keeps_its_last(tmp_path, capsys):
    """Going back to ``run/best.pt`` of the same run: its later last.pt is kept too, and the
    resume reads best.pt from where it moved."""
    config = tiny_train_config(tmp_path)
    run = tmp_path / "run"
    assert main(["train", "--config", str(config)]) == 0
    best = (run / "best.pt").read_bytes()
    argv = ["train", "--config", str(config), "--set", "optim.epochs=2"]
    assert main([*argv, "--resume", str(run / "best.pt")]) == 0
    assert (run / "replaced" / "best.pt").read_bytes() == best
    assert load_checkpoint(run / "last.pt")["step"] == 2


def test_resume_from_its_own_last_is_a_plain_resume(tmp_path, capsys):
    config = tiny_train_config(tmp_path)
    run = tmp_path / "run"
    assert main(["train", "--config", str(config)]) == 0
    argv = ["train", "--config", str(config), "--set", "optim.epochs=2"]
    assert main([*argv, "--resume", str(run / "last.pt")]) == 0
    assert not (run / "replaced").exists()
    assert load_checkpoint(run / "last.pt")["step"] == 2
