"""Mixed precision: fp16 autocast with a grad scaler, bf16 autocast, or fp32.

On a GPU every mode is available (bf16 where the GPU has it). On a CPU, bf16
autocast is used when the CPU computes bf16 natively (AVX512-BF16 or AMX,
through oneDNN): on the 2-core AVX512-BF16 machine of the synthetic benchmark
it trains 1.31x the images per second of fp32
(benchmarks/results/bench_train_bf16_cpu.txt). Elsewhere a CPU trains in fp32, and so
does any CPU asked for fp16.
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import torch

from lgformer.errors import LGFormerError


@dataclass(frozen=True)
class Precision:
    """The arithmetic of the forward pass on one device type."""

    name: str  # "fp16", "bf16" or "fp32"
    device_type: str  # "cuda" or "cpu"

    @property
    def dtype(self) -> torch.dtype:
        return {"fp16": torch.float16, "bf16": torch.bfloat16}.get(self.name, torch.float32)

    def autocast(self) -> contextlib.AbstractContextManager:
        """Autocast for fp16/bf16; a null context for fp32."""
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device_type, dtype=self.dtype)

    def make_scaler(self) -> torch.amp.GradScaler:
        """A grad scaler, enabled only for fp16 (bf16 and fp32 have fp32's exponent range)."""
        return torch.amp.GradScaler(self.device_type, enabled=self.name == "fp16")


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products natively (oneDNN's own check).

    The check is a private torch op; a torch without it counts as "no" (fp32 then).
    """
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_precision(requested: str, device: torch.device) -> Precision:
    """``requested`` on CUDA; on CPU bf16 where native, else fp32 (with a warning when
    something else was asked)."""
    if requested not in ("fp16", "bf16", "fp32"):
        raise ValueError(f"precision must be fp16, bf16 or fp32, got {requested!r}")
    if device.type == "cpu" and requested == "bf16":
        if cpu_has_native_bf16():
            return Precision("bf16", "cpu")
        warnings.warn(
            "this CPU has no native bf16 (AVX512-BF16 or AMX); training in fp32", stacklevel=2
        )
        return Precision("fp32", "cpu")
    if device.type != "cuda":
        if requested != "fp32":
            warnings.warn(
                f"{requested} needs a GPU; training in fp32 on {device}"
                + (" (bf16 works on CPUs with AVX512-BF16 or AMX)" if requested == "fp16" else ""),
                stacklevel=2,
            )
        return Precision("fp32", device.type)
    if requested == "bf16" and not torch.cuda.is_bf16_supported():
        raise LGFormerError("this GPU does not support bf16; use optim.precision=fp16")
    return Precision(requested, "cuda")
