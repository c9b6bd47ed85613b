"""``lgformer train`` end to end on a tiny REFER-format dataset."""

import pytest
import yaml

from lgformer.cli import main
from lgformer.engine.checkpoint import load_checkpoint
from tests.refer_fixtures import build_refer


@pytest.fixture()
def config_file(tmp_path):
    fixture = build_refer(tmp_path / "data")  # refcoco/unc: 2 train refs, 2 val refs
    cfg = {
        "data": {"root": str(fixture.root), "image_size": 32, "num_workers": 0},
        "model": {"preset": "test_tiny"},
        "init": {"swin": None, "bert": None},
        "optim": {"epochs": 2, "batch_size": 2, "lr": 1e-3, "precision": "fp32"},
        "output": {"dir": str(tmp_path / "run"), "progress": False},
        "device": "cpu",
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_train_then_auto_resume(config_file, tmp_path, capsys):
    assert main(["train", "--config", str(config_file), "--set", "optim.epochs=1"]) == 0
    run = tmp_path / "run"
    assert {"last.pt", "best.pt", "config.yaml"} <= {p.name for p in run.iterdir()}
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["optim"]["epochs"] == 1 and saved["model"]["preset"] == "test_tiny"
    first = load_checkpoint(run / "last.pt")
    assert (first["epoch"], first["step"]) == (1, 1)
    assert set(first["metrics"]) >= {"overall_iou", "mean_iou", "precision@0.5"}

    # A second launch with more epochs continues from last.pt by itself.
    assert main(["train", "--config", str(config_file)]) == 0
    out = capsys.readouterr().out
    assert "resumed from" in out and "done: 2 epochs, 2 steps" in out
    assert load_checkpoint(run / "last.pt")["config"]["optim"]["epochs"] == 2


def test_print_config_and_errors(config_file, capsys):
    assert main(["train", "--config", str(config_file), "--print-config"]) == 0
    assert "preset: test_tiny" in capsys.readouterr().out
    assert main(["train", "--config", "missing.yaml"]) == 2
    assert "config file not found" in capsys.readouterr().err
    assert main(["train", "--config", str(config_file), "--set", "optim.batch_size=3"]) == 2
    assert "fewer than one batch" in capsys.readouterr().err
