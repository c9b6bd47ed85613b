"""Mixed precision: fp16 autocast with a grad scaler, bf16 autocast, or fp32."""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import torch


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


def resolve_precision(requested: str, device: torch.device) -> Precision:
    """``requested`` on CUDA; fp32 on CPU (with a warning when something else was asked)."""
    if requested not in ("fp16", "bf16", "fp32"):
        raise ValueError(f"precision must be fp16, bf16 or fp32, got {requested!r}")
    if device.type != "cuda":
        if requested != "fp32":
            warnings.warn(f"{requested} needs a GPU; training in fp32 on {device}", stacklevel=2)
        return Precision("fp32", device.type)
    if requested == "bf16" and not torch.cuda.is_bf16_supported():
        raise RuntimeError("this GPU does not support bf16; use optim.precision=fp16")
    return Precision(requested, "cuda")
