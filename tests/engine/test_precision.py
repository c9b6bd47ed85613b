"""Which arithmetic a run gets on each device, and that CPU bf16 really trains in bf16."""

import math

import pytest
import torch

import lgformer.engine.precision as precision_module
from lgformer.engine.precision import Precision, resolve_precision
from lgformer.engine.run import run_training

from .tiny_data import squares_factory, tiny_config

CPU = torch.device("cpu")


def test_cpu_bf16_is_used_where_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("bf16", CPU) == Precision("bf16", "cpu")


def test_cpu_bf16_falls_back_to_fp32_with_a_warning_elsewhere(monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(UserWarning, match="no native bf16"):
        assert resolve_precision("bf16", CPU) == Precision("fp32", "cpu")


def test_cpu_fp16_falls_back_to_fp32_and_points_to_bf16():
    with pytest.warns(UserWarning, match="bf16 works on CPUs"):
        assert resolve_precision("fp16", CPU).name == "fp32"


def test_unknown_precision_is_rejected():
    with pytest.raises(ValueError, match="fp16, bf16 or fp32"):
        resolve_precision("int8", CPU)


def test_cpu_bf16_autocast_computes_matmuls_in_bf16():
    linear = torch.nn.Linear(8, 8)
    with Precision("bf16", "cpu").autocast():
        out = linear(torch.randn(2, 8))
    assert out.dtype == torch.bfloat16
    assert linear.weight.dtype == torch.float32
    assert Precision("bf16", "cpu").make_scaler().is_enabled() is False


def test_a_cpu_bf16_run_trains_and_keeps_fp32_weights(tmp_path, monkeypatch):
    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda: True)
    cfg = tiny_config(
        tmp_path, "optim.precision=bf16", "optim.epochs=10", "optim.batch_size=4",
        "optim.lr=3e-3",
    )  # fmt: skip
    trainer = run_training(cfg, datasets=squares_factory(n_train=8, n_val=4, size=32))
    assert trainer.precision == Precision("bf16", "cpu")
    losses = trainer.loss_history
    assert all(math.isfinite(x) for x in losses)
    assert sum(losses[-4:]) / 4 < 0.5 * sum(losses[:2]) / 2
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())


def test_a_torch_without_the_bf16_check_counts_as_no_native_bf16(monkeypatch):
    class NoCheck:
        def __getattr__(self, name):
            raise AttributeError(name)

    monkeypatch.setattr(torch.ops, "mkldnn", NoCheck())
    assert precision_module.cpu_has_native_bf16() is False
