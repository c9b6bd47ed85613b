"""Sine position embedding (DETR style, normalised, no padding mask)."""

from __future__ import annotations

import functools
import math

import torch


def sine_position_embedding(
    height: int,
    width: int,
    num_feats: int,
    *,
    device: torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    temperature: float = 10000.0,
) -> torch.Tensor:
    """(2*num_feats, H, W): y features then x features, each interleaving sin (even), cos (odd).

    Positions are cumulative sums over an all-valid mask (1..H), divided by the
    last value + 1e-6 and scaled by 2*pi. Depends on the sizes alone, so it is
    cached (callers must not write into it); not while exporting, whose traced
    tensors must not outlive the export.
    """
    if torch.compiler.is_exporting():
        return _sine_position_embedding(height, width, num_feats, device, dtype, temperature)
    device = torch.device("cpu") if device is None else torch.device(device)
    return _cached(height, width, num_feats, device, dtype, temperature)


@functools.lru_cache(maxsize=32)
def _cached(
    height: int,
    width: int,
    num_feats: int,
    device: torch.device,
    dtype: torch.dtype,
    temperature: float,
) -> torch.Tensor:
    with torch.inference_mode(False), torch.no_grad():  # also usable outside inference mode
        return _sine_position_embedding(height, width, num_feats, device, dtype, temperature)


def _sine_position_embedding(
    height: int,
    width: int,
    num_feats: int,
    device: torch.device | None,
    dtype: torch.dtype,
    temperature: float,
) -> torch.Tensor:
    eps, scale = 1e-6, 2 * math.pi
    y = torch.arange(1, height + 1, dtype=torch.float32, device=device)
    x = torch.arange(1, width + 1, dtype=torch.float32, device=device)
    y = y / (y[-1] + eps) * scale
    x = x / (x[-1] + eps) * scale
    dim_t = torch.arange(num_feats, dtype=torch.float32, device=device)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / num_feats)
    pos_y = y[:, None] / dim_t  # (H, F)
    pos_x = x[:, None] / dim_t  # (W, F)
    pos_y = torch.stack([pos_y[:, 0::2].sin(), pos_y[:, 1::2].cos()], dim=2).flatten(1)
    pos_x = torch.stack([pos_x[:, 0::2].sin(), pos_x[:, 1::2].cos()], dim=2).flatten(1)
    pos = torch.cat(
        [pos_y[:, None, :].expand(height, width, -1), pos_x[None, :, :].expand(height, width, -1)],
        dim=-1,
    )  # (H, W, 2F)
    return pos.permute(2, 0, 1).to(dtype)
