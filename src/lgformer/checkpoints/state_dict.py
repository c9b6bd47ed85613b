"""Pure functions on state dicts (unwrap, strip prefixes, compare against a model) and the
report of a partial load."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

# Buffers the model recomputes; a checkpoint may or may not carry them.
RECOMPUTED_BUFFERS = ("relative_position_index", "attn_mask", "position_ids", "token_type_ids")


def unwrap_state_dict(obj: object) -> dict[str, torch.Tensor]:
    """``{'model': sd}``, ``{'state_dict': sd}`` or a bare state dict -> the state dict,
    without a DDP ``module.`` prefix."""
    if isinstance(obj, Mapping):
        for key in ("model", "state_dict", "model_state_dict"):
            inner = obj.get(key)
            if isinstance(inner, Mapping) and inner and _looks_like_state_dict(inner):
                obj = inner
                break
    if not isinstance(obj, Mapping) or not _looks_like_state_dict(obj):
        raise ValueError("no state dict found: expected {'model': state_dict} or a state dict")
    return strip_prefix(dict(obj), "module.")


def _looks_like_state_dict(d: Mapping) -> bool:
    return all(isinstance(k, str) for k in d) and any(
        isinstance(v, torch.Tensor) for v in d.values()
    )


def strip_prefix(sd: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    """Removes ``prefix`` from every key that has it (only if all keys have it)."""
    if sd and all(k.startswith(prefix) for k in sd):
        return {k[len(prefix) :]: v for k, v in sd.items()}
    return sd


@dataclass
class KeyReport:
    """How a state dict lines up with a model."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    # (key, checkpoint's shape, model's shape); a non-tensor value is described by a string.
    wrong_shape: list[tuple[str, tuple[int, ...] | str, tuple[int, ...] | str]] = field(
        default_factory=list
    )

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.wrong_shape)


def compare_keys(
    expected: Mapping[str, torch.Tensor], given: Mapping[str, torch.Tensor]
) -> KeyReport:
    """Compares a model's state dict (``expected``) with a checkpoint's (``given``).

    Recomputed buffers are optional on both sides.
    """

    def required(k: str) -> bool:
        return not k.endswith(RECOMPUTED_BUFFERS)

    report = KeyReport()
    report.missing = [k for k in expected if k not in given and required(k)]
    report.unexpected = [k for k in given if k not in expected and required(k)]
    report.wrong_shape = [
        (k, _shape(given[k]), _shape(expected[k]))
        for k in expected
        if k in given and _shape(given[k]) != _shape(expected[k])
    ]
    return report


def _shape(value: object) -> tuple[int, ...] | str:
    """A tensor's shape; for anything else (a checkpoint storing a number or a list under
    a weight's name), a description that never equals a shape."""
    shape = getattr(value, "shape", None)
    return tuple(shape) if shape is not None else f"not a tensor ({type(value).__name__})"


@dataclass
class LoadReport:
    """What a partial load did. ``missing`` are model parameters left at their init."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    resized: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def summary(self, source: str) -> str:
        lines = [
            f"{source}: loaded {len(self.loaded)} tensors, resized {len(self.resized)}, "
            f"dropped {len(self.dropped)}, missing {len(self.missing)}, "
            f"unexpected {len(self.unexpected)}"
        ]
        if self.unexpected:
            lines.append("  unexpected: " + ", ".join(self.unexpected[:10]))
        if self.missing:
            lines.append("  missing: " + ", ".join(self.missing[:10]))
        return "\n".join(lines)
