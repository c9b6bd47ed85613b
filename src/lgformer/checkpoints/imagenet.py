"""Official Swin ImageNet weights -> the LGFormer backbone (spec section 8).

The official files are ``{'model': state_dict}`` with keys ``patch_embed.*``,
``layers.{i}.blocks.{j}.*``, ``layers.{i}.downsample.*``, ``norm.*`` and
``head.*``. Our backbone uses the same names for its Swin part, so loading is
a filter: drop the classifier ``head.*`` and the final ``norm.*`` (LGFormer
normalises each stage with its own ``norm{i}``), drop buffers the model
recomputes (``relative_position_index``, ``attn_mask``), and resize
relative-position bias tables bicubically when the window differs (e.g. a
window-7 ImageNet-1k model into a window-12 backbone). The fusion blocks,
gates and stage norms are not in the file and keep their initialisation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lgformer.checkpoints.io import read_checkpoint
from lgformer.checkpoints.state_dict import LoadReport, unwrap_state_dict
from lgformer.errors import CheckpointMismatchError

# Buffers the backbone rebuilds for its own window and input size.
SKIPPED_BUFFERS = ("relative_position_index", "attn_mask")
# LGFormer-only backbone parts: expected to be missing from an ImageNet file.
LGFORMER_ONLY = (".fusion.", ".res_gate.", ".sym_res_gate.")


def resize_bias_table(table: torch.Tensor, window: int) -> torch.Tensor:
    """((2w-1)^2, heads) -> ((2*window-1)^2, heads), bicubic on the 2-D offset grid."""
    length, heads = table.shape
    side = math.isqrt(length)
    if side * side != length:
        raise ValueError(f"a relative position bias table must be square, got length {length}")
    new_side = 2 * window - 1
    if new_side == side:
        return table
    grid = table.float().t().reshape(1, heads, side, side)  # (1, heads, S, S)
    grid = F.interpolate(grid, size=(new_side, new_side), mode="bicubic", align_corners=False)
    return grid.reshape(heads, new_side * new_side).t().to(table.dtype)  # (S'^2, heads)


def filter_swin_imagenet(
    state_dict: Mapping[str, torch.Tensor], target: Mapping[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], LoadReport]:
    """ImageNet Swin state dict -> the subset that fits ``target`` (a backbone state dict).

    Pure function: drops ``head.*``, the final ``norm.*`` and recomputed buffers,
    resizes bias tables to the target's window. Keys absent from ``target`` are
    reported as unexpected; other shape mismatches raise ``CheckpointMismatchError``.
    """
    report = LoadReport()
    out: dict[str, torch.Tensor] = {}
    wrong: list[str] = []
    for key, value in unwrap_state_dict(dict(state_dict)).items():
        if key.startswith(("head.", "norm.")) or key.endswith(SKIPPED_BUFFERS):
            report.dropped.append(key)
            continue
        if key not in target:
            report.unexpected.append(key)
            continue
        want = target[key].shape
        if key.endswith("relative_position_bias_table") and value.shape != want:
            if value.shape[1] != want[1]:
                wrong.append(f"{key}: {tuple(value.shape)} vs {tuple(want)} (heads differ)")
                continue
            value = resize_bias_table(value, (math.isqrt(want[0]) + 1) // 2)
            report.resized.append(key)
        if value.shape != want:
            wrong.append(f"{key}: file {tuple(value.shape)}, model {tuple(want)}")
            continue
        out[key] = value
    if wrong:
        raise CheckpointMismatchError(
            f"{len(wrong)} Swin tensors do not fit the backbone (another Swin size?): "
            + "; ".join(wrong[:5])
        )
    report.loaded = sorted(out)
    report.missing = [k for k in target if k not in out and not k.endswith(SKIPPED_BUFFERS)]
    return out, report


def load_swin_imagenet(
    backbone: nn.Module, source: str | Path | Mapping[str, torch.Tensor]
) -> LoadReport:
    """Load an official Swin ImageNet checkpoint (a path or its dict) into ``backbone``
    (``model.backbone``). Returns what was loaded, resized, missing and unexpected.

    Raises ``CheckpointMismatchError`` when shapes disagree (another Swin size) or
    when a Swin block of the backbone found nothing to load (a truncated file).
    """
    if isinstance(source, (str, Path)):
        state_dict, _ = read_checkpoint(source)
    else:
        state_dict = dict(source)
    target = backbone.state_dict()
    weights, report = filter_swin_imagenet(state_dict, target)
    swin_missing = [
        k for k in report.missing if not any(p in k for p in LGFORMER_ONLY) and not _stage_norm(k)
    ]
    if swin_missing:
        raise CheckpointMismatchError(
            f"{len(swin_missing)} Swin parameters of the backbone are not in the ImageNet "
            f"checkpoint (fewer blocks than the model?): {', '.join(swin_missing[:5])}"
        )
    backbone.load_state_dict(weights, strict=False)
    return report


def _stage_norm(key: str) -> bool:
    """``norm0.weight`` ... ``norm3.bias``: LGFormer's per-stage output norms."""
    head = key.split(".", 1)[0]
    return head.startswith("norm") and head[4:].isdigit()
