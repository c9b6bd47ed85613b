"""The synthetic benchmark's configs: every shipped YAML loads, the text-blind control
is the bundled recipe with only the sentences shuffled, and the bundled model's input
size matches the one the package uses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from lgformer.bundled import BUNDLED_IMAGE_SIZE
from lgformer.engine.config import load_train_config

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_loads_and_builds_its_model_config(path):
    cfg = load_train_config(path)
    cfg.model.build()  # presets and overrides resolve


def test_text_blind_control_differs_from_the_bundled_recipe_only_by_shuffling():
    bundled = load_train_config(ROOT / "configs" / "synthetic_bundled.yaml").to_dict()
    control = load_train_config(ROOT / "configs" / "synthetic_text_blind.yaml").to_dict()
    assert bundled["data"].pop("shuffle_sentences") is False
    assert control["data"].pop("shuffle_sentences") is True
    assert bundled["output"].pop("dir") != control["output"].pop("dir")
    assert bundled == control


def test_bundled_image_size_is_the_training_size():
    cfg = load_train_config(ROOT / "configs" / "synthetic_bundled.yaml")
    assert cfg.data.image_size == BUNDLED_IMAGE_SIZE


def test_reproduction_script_is_valid_bash():
    script = ROOT / "scripts" / "train_bundled_model.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
