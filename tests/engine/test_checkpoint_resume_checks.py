"""The resume compatibility rules on their own: which checkpoint a run may continue, and
which config changes it reports (the trainer-level behaviour is in
test_trainer_resume_safety.py)."""

from __future__ import annotations

from typing import Any

import pytest

from lgformer.engine.checkpoint import (
    RUN_KEYS,
    TRAINING_KEYS,
    check_resumable,
    check_same_data,
    config_changes,
)
from lgformer.engine.config import TrainConfig
from lgformer.errors import LGFormerError

MODEL = {"swin": {"depths": [1, 1, 1, 1]}, "decoder": {"hidden_dim": 32}}
SAMPLES = 40


def _checkpoint(cfg: TrainConfig, **overrides: Any) -> dict[str, Any]:
    ckpt: dict[str, Any] = {key: 0 for key in TRAINING_KEYS}
    ckpt.update(
        model={}, model_config=MODEL, config=cfg.to_dict(), sampler={"num_samples": SAMPLES}
    )
    ckpt.update(overrides)
    return ckpt


def _check(ckpt: dict[str, Any], cfg: TrainConfig, num_samples: int = SAMPLES) -> dict:
    """Both checks, in the order a resumed run makes them."""
    check_resumable(ckpt, "runs/x/last.pt", model_config=MODEL)
    return check_same_data(ckpt, "runs/x/last.pt", cfg=cfg, num_samples=num_samples)


def test_config_changes_lists_every_differing_leaf_by_dotted_key() -> None:
    before = {"optim": {"lr": 1e-3, "epochs": 10}, "seed": 0, "old": 1}
    after = {"optim": {"lr": 1e-4, "epochs": 10}, "seed": 0, "new": {"a": 2}}
    assert config_changes(before, after) == {
        "optim.lr": (1e-3, 1e-4),
        "old": (1, None),
        "new": (None, {"a": 2}),
    }
    assert config_changes(after, after) == {}


def test_the_same_run_resumes_and_allowed_changes_are_returned() -> None:
    cfg = TrainConfig()
    assert _check(_checkpoint(cfg), cfg) == {}
    later = TrainConfig.from_dict(
        {**cfg.to_dict(), "optim": {**cfg.to_dict()["optim"], "lr": 1e-6}}
    )
    assert _check(_checkpoint(cfg), later) == {"optim.lr": (cfg.optim.lr, 1e-6)}


def test_a_weights_only_file_is_refused_with_the_init_option_to_use() -> None:
    cfg = TrainConfig()
    with pytest.raises(LGFormerError, match=r"no optimizer, .*init\.checkpoint=runs/x/last\.pt"):
        _check({"model": {}}, cfg)


def test_another_model_config_is_refused() -> None:
    cfg = TrainConfig()
    other = {**MODEL, "decoder": {"hidden_dim": 64}}
    with pytest.raises(LGFormerError, match="another model than this run's.*--no-resume") as err:
        _check(_checkpoint(cfg, model_config=other), cfg)
    hidden = MODEL["decoder"]["hidden_dim"]
    assert f"decoder.hidden_dim: 64 -> {hidden}" in str(err.value)


@pytest.mark.parametrize("key", RUN_KEYS)
def test_a_change_of_the_data_order_is_refused_naming_the_key(key: str) -> None:
    cfg = TrainConfig()
    section, name = key.split(".")
    data = cfg.to_dict()
    old = data[section][name]
    data[section][name] = old * 2 if isinstance(old, int) else f"{old}_other"
    with pytest.raises(LGFormerError, match=rf"other data or batches \({key} "):
        _check(_checkpoint(cfg), TrainConfig.from_dict(data))


def test_another_training_set_size_is_refused() -> None:
    cfg = TrainConfig()
    with pytest.raises(LGFormerError, match=f"trained on {SAMPLES} samples.*has {SAMPLES + 1}"):
        _check(_checkpoint(cfg), cfg, num_samples=SAMPLES + 1)
