"""The multi-scale deformable attention module (Deformable DETR)."""

from __future__ import annotations

import math

import torch
from torch import nn

from lgformer.ops import multi_scale_deformable_attention


class MSDeformAttn(nn.Module):
    """Each query samples ``points`` locations per head and level around its reference point."""

    def __init__(self, dim: int, levels: int, heads: int, points: int) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"width {dim} must be divisible by heads {heads}")
        self.dim, self.levels, self.heads, self.points = dim, levels, heads, points
        self.sampling_offsets = nn.Linear(dim, heads * levels * points * 2)
        self.attention_weights = nn.Linear(dim, heads * levels * points)
        self.value_proj = nn.Linear(dim, dim)
        self.output_proj = nn.Linear(dim, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Deformable DETR initialisation: zero offset weights, "star" offset biases."""
        nn.init.zeros_(self.sampling_offsets.weight)
        theta = torch.arange(self.heads, dtype=torch.float32) * (2.0 * math.pi / self.heads)
        grid = torch.stack([theta.cos(), theta.sin()], -1)  # (heads, 2)
        grid = grid / grid.abs().max(-1, keepdim=True)[0]
        grid = grid.view(self.heads, 1, 1, 2).repeat(1, self.levels, self.points, 1)
        for i in range(self.points):
            grid[:, :, i, :] *= i + 1
        bias = self.sampling_offsets.bias
        with torch.no_grad():
            bias.copy_(grid.view(-1).to(bias.device)) if not bias.is_meta else None
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.zeros_(self.value_proj.bias)
        nn.init.xavier_uniform_(self.output_proj.weight)
        nn.init.zeros_(self.output_proj.bias)

    def forward(
        self,
        query: torch.Tensor,
        reference_points: torch.Tensor,
        value: torch.Tensor,
        spatial_shapes: list[tuple[int, int]],
    ) -> torch.Tensor:
        """query (B, Q, C), reference_points (B, Q, L, 2) as (x, y) in [0, 1],
        value (B, S, C) all levels flattened -> (B, Q, C)."""
        b, q, _ = query.shape
        v = self.value_proj(value).view(b, value.shape[1], self.heads, self.dim // self.heads)
        offsets = self.sampling_offsets(query).view(b, q, self.heads, self.levels, self.points, 2)
        weights = self.attention_weights(query).view(b, q, self.heads, self.levels * self.points)
        weights = weights.softmax(-1).view(b, q, self.heads, self.levels, self.points)
        # Offsets are in pixels of each level: normalise by (W_l, H_l).
        normalizer = torch.tensor(
            [[w, h] for h, w in spatial_shapes], dtype=query.dtype, device=query.device
        )  # (L, 2)
        locations = (
            reference_points[:, :, None, :, None, :]
            + offsets / normalizer[None, None, None, :, None, :]
        )  # (B, Q, heads, L, P, 2)
        out = multi_scale_deformable_attention(v, spatial_shapes, locations, weights)
        return self.output_proj(out)
