"""The configs that ship with the package: every one loads by name and by path, every
training option is set by one of them or is operational, the text-blind control is the
bundled recipe with only the sentences shuffled, and the bundled model's input size
matches the one the package uses."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from lgformer.bundled import BUNDLED_IMAGE_SIZE
from lgformer.engine.config import (
    CONFIG_DIR,
    OPERATIONAL_OPTIONS,
    TrainConfig,
    load_train_config,
    resolve_config,
    shipped_configs,
)
from lgformer.errors import LGFormerError

ROOT = Path(__file__).resolve().parents[2]
RELEASED = ("refcoco", "refcoco+", "refcocog_umd", "refcocog_google", "refclef")
SYNTHETIC = ("synthetic_bundled", "synthetic_text_blind", "synthetic_small")


def _leaves(tree: dict, prefix: str = "") -> set[str]:
    """Dotted keys of a config dict; ``model.overrides`` is one option (a free mapping)."""
    out = set()
    for key, value in tree.items():
        if isinstance(value, dict) and key != "overrides":
            out |= _leaves(value, f"{prefix}{key}.")
        else:
            out.add(prefix + key)
    return out


def test_the_released_and_synthetic_configs_ship_with_the_package():
    assert set(shipped_configs()) == {*RELEASED, *SYNTHETIC}
    assert CONFIG_DIR == ROOT / "src" / "lgformer" / "configs"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"configs/*.yaml"' in pyproject  # the package-data pattern that installs them


@pytest.mark.parametrize("name", [*RELEASED, *SYNTHETIC])
def test_every_shipped_config_loads_by_name_and_by_path(name):
    by_name = load_train_config(name)
    by_name.model.build()  # presets and overrides resolve
    assert load_train_config(CONFIG_DIR / f"{name}.yaml") == by_name
    assert load_train_config(f"{name}.yaml") == by_name
    assert load_train_config(f"configs/{name}.yaml") == by_name  # the path from a clone


def test_a_file_of_that_name_wins_over_the_shipped_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "refcoco").write_text("optim: {lr: 1.0e-3}\n")
    assert resolve_config("refcoco") == Path("refcoco")
    assert load_train_config("refcoco").optim.lr == 1e-3


def test_an_unknown_config_names_the_shipped_ones():
    with pytest.raises(LGFormerError, match=r"config file not found: nope.*refcoco, refcoco\+"):
        load_train_config("nope")
    with pytest.raises(LGFormerError, match="config file not found: runs/refcoco.yaml"):
        load_train_config("runs/refcoco.yaml")  # a path elsewhere is not a shipped name


def test_every_training_option_is_set_by_a_shipped_config_or_operational():
    """An option no shipped config sets is either an operational one (a launch's choice,
    listed in engine/config.py) or dead weight that should leave the package."""
    options = _leaves(TrainConfig().to_dict())
    set_by_configs = set()
    for name in shipped_configs():
        set_by_configs |= _leaves(yaml.safe_load((CONFIG_DIR / f"{name}.yaml").read_text()))
    assert set(OPERATIONAL_OPTIONS) <= options, set(OPERATIONAL_OPTIONS) - options
    assert set_by_configs <= options, set_by_configs - options
    unused = options - set_by_configs - set(OPERATIONAL_OPTIONS)
    assert not unused, f"options no shipped config sets and not operational: {sorted(unused)}"


def test_text_blind_control_differs_from_the_bundled_recipe_only_by_shuffling():
    bundled = load_train_config("synthetic_bundled").to_dict()
    control = load_train_config("synthetic_text_blind").to_dict()
    assert bundled["data"].pop("shuffle_sentences") is False
    assert control["data"].pop("shuffle_sentences") is True
    assert bundled["output"].pop("dir") != control["output"].pop("dir")
    assert bundled == control


def test_bundled_image_size_is_the_training_size():
    assert load_train_config("synthetic_bundled").data.image_size == BUNDLED_IMAGE_SIZE


def test_reproduction_script_is_valid_bash():
    script = ROOT / "scripts" / "train_bundled_model.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
