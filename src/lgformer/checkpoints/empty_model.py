"""Building a model from a checkpoint without a throwaway random init.

``build_empty_model`` builds the model on PyTorch's meta device: every tensor has
its shape and dtype but no memory, so a config that asks for 22 GB costs nothing
and its shapes can be checked against a file's before anything is allocated.
``fill_empty_model`` then takes the file's tensors as the parameters
(``load_state_dict(..., assign=True)``: no copy, no random init) and computes the
buffers the model derives from its sizes; a file cannot change those.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping

import torch

from lgformer.checkpoints.diagnosis import explain_mismatch
from lgformer.checkpoints.state_dict import RECOMPUTED_BUFFERS, compare_keys
from lgformer.config import LGFormerConfig
from lgformer.errors import CheckpointMismatchError
from lgformer.model.swin import relative_position_index

_ALIGNMENT = 64  # bytes, as PyTorch's CPU allocator aligns
# Builds the model a config describes: ``lgformer.model.build_lgformer`` (passed in by the
# caller: the model's own loading hooks use this module, so it does not import the model).
ModelBuilder = Callable[[LGFormerConfig], torch.nn.Module]


def build_empty_model(config: LGFormerConfig, build: ModelBuilder) -> torch.nn.Module:
    """``build(config)`` with every parameter and buffer on the meta device."""
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")  # transformers' notes on untrained BERT weights
        return build(config)


def check_fits(model: torch.nn.Module, sd: Mapping[str, torch.Tensor], source: str) -> None:
    """``CheckpointMismatchError`` naming the keys unless ``sd`` has exactly the model's
    keys and shapes (recomputed buffers optional). ``sd`` may hold meta tensors: only
    shapes are read."""
    report = compare_keys(model.state_dict(), sd)
    if not report.ok:
        raise CheckpointMismatchError(explain_mismatch(report, source))


def fill_empty_model(
    model: torch.nn.Module, sd: Mapping[str, torch.Tensor], source: str = "checkpoint"
) -> torch.nn.Module:
    """Makes the tensors of ``sd`` the parameters of a ``build_empty_model`` model.

    Checks keys and shapes first (``check_fits``). Floating-point tensors are cast to
    the model's dtype (a float16 file gives a float32 model), and copied only when
    misaligned (a memory-mapped file's tensors stay mapped); the recomputed buffers
    (Swin's relative position index, BERT's position and token type ids) are derived
    from their shapes, whatever the file holds under their names. Returns ``model``.
    """
    check_fits(model, sd, source)
    target = model.state_dict()
    weights = {
        key: _as_parameter(value, target[key].dtype)
        for key, value in sd.items()
        if key in target and not key.endswith(RECOMPUTED_BUFFERS)
    }
    model.load_state_dict(weights, strict=False, assign=True)
    for module in model.modules():
        for name, buffer in list(module.named_buffers(recurse=False)):
            if buffer is not None and buffer.is_meta:
                setattr(module, name, _recomputed_buffer(name, buffer.shape))
    left = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:  # check_fits lets no parameter through unfilled; a new buffer kind would be here
        raise RuntimeError(f"no value for {left[:5]} after loading {source}")
    return model


def _as_parameter(value: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``value`` cast to ``dtype`` if floating-point, in memory aligned as PyTorch's own
    (kernels round differently on unaligned data; ``save_model`` aligns all but a few
    small tensors, a safetensors file from another writer aligns few)."""
    if value.is_floating_point() and value.dtype != dtype:
        return value.to(dtype)
    return value.clone() if value.data_ptr() % _ALIGNMENT else value


def _recomputed_buffer(name: str, shape: torch.Size) -> torch.Tensor:
    """The value the model's constructor gives buffer ``name`` of ``shape``."""
    if name == "relative_position_index":  # (w*w, w*w)
        return relative_position_index(math.isqrt(shape[0]))
    if name == "position_ids":  # (1, max_positions)
        return torch.arange(shape[-1]).expand(shape)
    if name == "token_type_ids":  # (1, max_positions)
        return torch.zeros(shape, dtype=torch.long)
    raise RuntimeError(f"do not know how to compute buffer {name!r} of shape {tuple(shape)}")
