"""A tiny ``lgformer train`` config on the REFER fixture (seconds on a CPU)."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.refer_fixtures import build_refer


def tiny_train_config(tmp_path: Path, **sections: dict) -> Path:
    """``tiny.yaml`` training test_tiny for one epoch into ``tmp_path / "run"``;
    ``sections`` update the config's sections (e.g. ``init={"bert": ...}``)."""
    fixture = build_refer(tmp_path / "data")
    cfg = {
        "data": {"root": str(fixture.root), "image_size": 32, "num_workers": 0},
        "model": {"preset": "test_tiny"},
        "init": {"swin": None, "bert": None},
        "optim": {"epochs": 1, "batch_size": 2, "lr": 1e-3, "precision": "fp32"},
        "output": {"dir": str(tmp_path / "run"), "progress": False, "tensorboard": False},
        "device": "cpu",
    }
    for name, values in sections.items():
        cfg[name].update(values)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path
