"""Multi-scale deformable attention (Deformable DETR), in pure PyTorch.

One entry point, ``multi_scale_deformable_attention``, so a fused kernel can be
dispatched from here later without touching the modules that call it. The
reference path reproduces the released CUDA op: bilinear sampling with
``grid_sample(align_corners=False, padding_mode="zeros")`` semantics, i.e. a
location ``(x, y)`` in [0, 1] addresses pixel centres at ``(x * W - 0.5,
y * H - 0.5)`` and taps outside the map read zero.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def multi_scale_deformable_attention(
    value: torch.Tensor,
    spatial_shapes: list[tuple[int, int]],
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    """Sample every level at the given locations and sum with the given weights.

    Args:
        value: (B, S, M, D) per-head values of all levels flattened, S = sum(H_l * W_l).
        spatial_shapes: [(H_l, W_l)] for the L levels, in the order of ``value``.
        sampling_locations: (B, Q, M, L, P, 2) normalised (x, y) in [0, 1].
        attention_weights: (B, Q, M, L, P), already softmax-normalised.

    Returns:
        (B, Q, M * D).

    Raises:
        ValueError: shapes that do not fit together (checked before any work).
    """
    _check_shapes(value, spatial_shapes, sampling_locations, attention_weights)
    return _reference(value, spatial_shapes, sampling_locations, attention_weights)


def _check_shapes(
    value: torch.Tensor,
    spatial_shapes: list[tuple[int, int]],
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> None:
    """The layouts documented in ``multi_scale_deformable_attention``, in one message."""
    v, loc, w = tuple(value.shape), tuple(sampling_locations.shape), tuple(attention_weights.shape)
    levels = len(spatial_shapes)
    total = sum(int(h) * int(wd) for h, wd in spatial_shapes)
    ok = (
        len(v) == 4
        and len(loc) == 6
        and loc[-1] == 2
        and loc[0] == v[0]
        and loc[2] == v[2]
        and loc[3] == levels
        and v[1] == total
        and w == loc[:-1]
    )
    if not ok:
        raise ValueError(
            "multi_scale_deformable_attention expects value (B, S, M, D) with S = sum(H*W) "
            f"over spatial_shapes, sampling_locations (B, Q, M, L, P, 2) with L = "
            f"len(spatial_shapes), attention_weights (B, Q, M, L, P); got value {v}, "
            f"spatial_shapes {[tuple(int(x) for x in s) for s in spatial_shapes]} (S = {total}), "
            f"sampling_locations {loc}, attention_weights {w}"
        )


def _reference(
    value: torch.Tensor,
    spatial_shapes: list[tuple[int, int]],
    sampling_locations: torch.Tensor,
    attention_weights: torch.Tensor,
) -> torch.Tensor:
    batch, _, heads, dim = value.shape
    _, queries, _, levels, points, _ = sampling_locations.shape
    sizes = [h * w for h, w in spatial_shapes]
    value_per_level = value.split(sizes, dim=1)
    # (B, Q, M, L, P, 2) -> (B, M, L, P, Q, 2) in [-1, 1]: points outer, queries inner, so
    # that each sampled point is a contiguous (D, Q) slab.
    grids = (2 * sampling_locations - 1).permute(0, 2, 3, 4, 1, 5)
    # (B, Q, M, L, P) -> (B*M, L, P, 1, Q)
    weights = attention_weights.permute(0, 2, 3, 4, 1).reshape(
        batch * heads, levels, points, 1, queries
    )
    out = None
    for level, (h, w) in enumerate(spatial_shapes):
        # (B, HW, M, D) -> (B*M, D, H, W)
        v = value_per_level[level].flatten(2).transpose(1, 2).reshape(batch * heads, dim, h, w)
        # (B*M, D, P, Q): the level's points
        sampled = F.grid_sample(
            v,
            grids[:, :, level].flatten(0, 1),
            mode="bilinear",
            padding_mode="zeros",
            align_corners=False,
        )
        # Summed with their weights point by point into one (B*M, D, Q) buffer: contiguous
        # multiply-adds, no reduction over a 4-wide axis and no transposed copy.
        for p in range(points):
            if out is None:
                out = sampled[:, :, p] * weights[:, level, p]
            else:
                out.addcmul_(sampled[:, :, p], weights[:, level, p])
    # (B, M*D, Q) -> (B, Q, M*D)
    return out.view(batch, heads * dim, queries).transpose(1, 2).contiguous()
