"""Pixel decoder: deformable self-attention interleaved with text cross-attention, then FPN.

Spec section 5. Levels are ordered coarsest first: stage outputs s4, s3, s2.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lgformer.config import DecoderConfig
from lgformer.model.cross_attention import CrossAttentionLayer
from lgformer.model.deformable_attention import MSDeformAttn
from lgformer.model.position import sine_position_embedding
from lgformer.model.residual import add_residual

NUM_LEVELS = 3


class DeformableEncoderLayer(nn.Module):
    """Post-norm deformable self-attention over all levels + FFN."""

    def __init__(self, dim: int, heads: int, points: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.self_attn = MSDeformAttn(dim, NUM_LEVELS, heads, points)
        self.dropout1 = nn.Dropout(dropout)
        self.norm1 = nn.LayerNorm(dim)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.dropout2 = nn.Dropout(dropout)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.dropout3 = nn.Dropout(dropout)
        self.norm2 = nn.LayerNorm(dim)

    def forward(
        self,
        src: torch.Tensor,
        pos: torch.Tensor,
        reference_points: torch.Tensor,
        spatial_shapes: list[tuple[int, int]],
    ) -> torch.Tensor:
        """src, pos: (B, S, C); reference_points (B, S, L, 2)."""
        attn = self.self_attn(src + pos, reference_points, src, spatial_shapes)
        src = self.norm1(add_residual(self.dropout1(attn), src))
        # In place on the fresh (B, S, ffn_dim) product: one large buffer fewer to allocate.
        ffn = self.linear2(self.dropout2(self.linear1(src).relu_()))
        return self.norm2(add_residual(self.dropout3(ffn), src))


class TextGuidedEncoder(nn.Module):
    """Six (deformable layer, text cross-attention layer) pairs."""

    def __init__(self, cfg: DecoderConfig, text_dim: int, max_words: int) -> None:
        super().__init__()
        dim = cfg.hidden_dim
        self.layers = nn.ModuleList(
            DeformableEncoderLayer(
                dim, cfg.num_heads, cfg.deform_points, cfg.deform_ffn_dim, cfg.dropout
            )
            for _ in range(cfg.pixel_decoder_layers)
        )
        self.cross_attn_layers = nn.ModuleList(
            CrossAttentionLayer(
                dim, text_dim, cfg.num_heads, cfg.text_cross_attn_ffn_dim, cfg.dropout
            )
            for _ in range(cfg.pixel_decoder_layers)
        )
        # Learned word-slot embedding added to the keys, shared by all layers.
        self.key_embed = nn.Embedding(max_words, text_dim)

    def forward(
        self,
        src: torch.Tensor,
        pos: torch.Tensor,
        reference_points: torch.Tensor,
        spatial_shapes: list[tuple[int, int]],
        text: torch.Tensor,
        text_padding: torch.Tensor,
    ) -> torch.Tensor:
        """src, pos (B, S, C); text (B, L, D); text_padding (B, L) True at padding."""
        key = text + self.key_embed.weight[: text.shape[1]]
        for deform, cross in zip(self.layers, self.cross_attn_layers):
            src = deform(src, pos, reference_points, spatial_shapes)
            src = cross(src, pos, key, text, key_padding_mask=text_padding)
        return src


class DeformableTransformer(nn.Module):
    def __init__(self, cfg: DecoderConfig, text_dim: int, max_words: int) -> None:
        super().__init__()
        self.level_embed = nn.Parameter(torch.empty(NUM_LEVELS, cfg.hidden_dim))
        self.encoder = TextGuidedEncoder(cfg, text_dim, max_words)
        nn.init.normal_(self.level_embed)


def reference_points(
    spatial_shapes: list[tuple[int, int]], batch: int, device: torch.device
) -> torch.Tensor:
    """(B, S, L, 2): pixel centres ((j+0.5)/W, (i+0.5)/H), the same for every level slot."""
    points = []
    for h, w in spatial_shapes:
        y, x = torch.meshgrid(
            (torch.arange(h, dtype=torch.float32, device=device) + 0.5) / h,
            (torch.arange(w, dtype=torch.float32, device=device) + 0.5) / w,
            indexing="ij",
        )
        points.append(torch.stack([x.reshape(-1), y.reshape(-1)], -1))
    ref = torch.cat(points, 0)  # (S, 2)
    return ref[None, :, None, :].expand(batch, -1, len(spatial_shapes), -1)


@dataclass
class PixelDecoderOutput:
    """mask_features (B, C, H/4, W/4); levels: 3 maps (B, C, H_l, W_l), coarsest first."""

    mask_features: torch.Tensor
    levels: list[torch.Tensor]


def _conv_gn(c_in: int, c_out: int, kernel: int, groups: int, bias: bool) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=bias), nn.GroupNorm(groups, c_out)
    )


class PixelDecoder(nn.Module):
    """Multi-scale deformable attention encoder with text cross-attention, plus an FPN level."""

    def __init__(
        self, *, stage_channels: tuple[int, ...], cfg: DecoderConfig, text_dim: int, max_words: int
    ) -> None:
        super().__init__()
        dim, groups = cfg.hidden_dim, cfg.group_norm_groups
        # Coarsest first: s4, s3, s2.
        self.input_proj = nn.ModuleList(
            _conv_gn(c, dim, 1, groups, bias=True) for c in stage_channels[1:][::-1]
        )
        self.transformer = DeformableTransformer(cfg, text_dim, max_words)
        self.adapter_1 = _conv_gn(stage_channels[0], dim, 1, groups, bias=False)
        self.layer_1 = nn.Sequential(*_conv_gn(dim, dim, 3, groups, bias=False), nn.ReLU())
        self.mask_features = nn.Conv2d(dim, dim, 1)
        for proj in self.input_proj:
            nn.init.xavier_uniform_(proj[0].weight, gain=1)
            nn.init.zeros_(proj[0].bias)

    def forward(
        self, features: list[torch.Tensor], text: torch.Tensor, text_mask: torch.Tensor
    ) -> PixelDecoderOutput:
        """features: 4 stage maps (B, C_i, H_i, W_i); text (B, D, L); text_mask (B, L).

        Runs in the weights' dtype (float32 for the released model) even under autocast.
        """
        device_type = features[0].device.type
        dtype = self.mask_features.weight.dtype
        with torch.autocast(device_type=device_type, enabled=False):
            features = [f.to(dtype) for f in features]
            return self._forward(features, text.to(dtype), text_mask)

    def _forward(
        self, features: list[torch.Tensor], text: torch.Tensor, text_mask: torch.Tensor
    ) -> PixelDecoderOutput:
        coarse_first = features[1:][::-1]
        srcs, positions, shapes = [], [], []
        for k, (proj, feat) in enumerate(zip(self.input_proj, coarse_first)):
            h, w = feat.shape[-2:]
            shapes.append((h, w))
            srcs.append(proj(feat).flatten(2).transpose(1, 2))  # (B, HW, C)
            pos = sine_position_embedding(
                h, w, srcs[-1].shape[-1] // 2, device=feat.device, dtype=srcs[-1].dtype
            )
            positions.append(pos.flatten(1).transpose(0, 1) + self.transformer.level_embed[k])
        src = torch.cat(srcs, 1)  # (B, S, C)
        pos = torch.cat(positions, 0).unsqueeze(0).expand(src.shape[0], -1, -1)  # (B, S, C)
        ref = reference_points(shapes, src.shape[0], src.device).to(src.dtype)
        memory = self.transformer.encoder(
            src, pos, ref, shapes, text.transpose(1, 2), text_mask == 0
        )
        levels = [
            m.transpose(1, 2).reshape(m.shape[0], -1, h, w)
            for m, (h, w) in zip(memory.split([h * w for h, w in shapes], 1), shapes)
        ]
        y = self.adapter_1(features[0])
        y = y + F.interpolate(levels[-1], size=y.shape[-2:], mode="bilinear", align_corners=False)
        y = self.layer_1(y)
        return PixelDecoderOutput(mask_features=self.mask_features(y), levels=levels)
