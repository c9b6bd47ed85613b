"""Mask decoder: the sentence is the query; each query state yields a dynamic 1x1 kernel.

Spec section 6.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lgformer.config import DecoderConfig
from lgformer.model.cross_attention import CrossAttentionLayer
from lgformer.model.pixel_decoder import NUM_LEVELS, PixelDecoder, PixelDecoderOutput
from lgformer.model.position import sine_position_embedding


class SentenceQueryDecoder(nn.Module):
    """Cross-attention layers; layer i attends pixel-decoder level ``i % 3``."""

    def __init__(self, cfg: DecoderConfig, text_dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            CrossAttentionLayer(
                text_dim, cfg.hidden_dim, cfg.num_heads, cfg.mask_decoder_ffn_dim, cfg.dropout
            )
            for _ in range(cfg.mask_decoder_layers)
        )
        self.query_embed = nn.Embedding(1, text_dim)
        self.level_embed = nn.Embedding(NUM_LEVELS, cfg.hidden_dim)

    def forward(self, query: torch.Tensor, levels: list[torch.Tensor]) -> list[torch.Tensor]:
        """query (B, 1, D); levels 3 maps (B, C, H_l, W_l) -> [initial, each layer] (B, 1, D)."""
        keys, values = [], []
        for k, level in enumerate(levels):
            h, w = level.shape[-2:]
            pos = sine_position_embedding(h, w, level.shape[1] // 2, device=level.device)
            flat = level.flatten(2).transpose(1, 2)  # (B, HW, C)
            value = flat + self.level_embed.weight[k]
            values.append(value)
            keys.append(value + pos.to(flat.dtype).flatten(1).transpose(0, 1))
        states = [query]
        query_pos = self.query_embed.weight.unsqueeze(0)  # (1, 1, D)
        for i, layer in enumerate(self.layers):
            k = i % NUM_LEVELS
            query = layer(query, query_pos, keys[k], values[k])
            states.append(query)
        return states


class LGFormerHead(nn.Module):
    """Pixel decoder + sentence-query decoder + dynamic kernel generator (module ``classifier``)."""

    def __init__(
        self,
        *,
        stage_channels: tuple[int, ...],
        cfg: DecoderConfig,
        text_dim: int,
        max_words: int,
        mask_stride: int = 4,
    ) -> None:
        super().__init__()
        self.mask_stride = mask_stride
        self.mask_upsampling = cfg.mask_upsampling
        self.pix_dec = PixelDecoder(
            stage_channels=stage_channels, cfg=cfg, text_dim=text_dim, max_words=max_words
        )
        self.txt_proj = nn.Linear(text_dim, text_dim)
        self.dynamic_conv_gen_body = SentenceQueryDecoder(cfg, text_dim)
        self.dynamic_conv_gen_head = nn.Sequential(
            nn.Linear(text_dim, text_dim),
            nn.ReLU(),
            nn.Linear(text_dim, text_dim),
            nn.ReLU(),
            nn.Linear(text_dim, cfg.hidden_dim + 1),  # 1x1 kernel weights + bias
        )

    def forward(
        self,
        features: list[torch.Tensor],
        text: torch.Tensor,
        text_mask: torch.Tensor,
        output_size: tuple[int, int],
    ) -> tuple[list[torch.Tensor], PixelDecoderOutput]:
        """features 4 maps; text (B, D, L); text_mask (B, L) -> (logits, each (B, 1, H, W);
        the pixel decoder's output, whose maps the logits were read from)."""
        pix = self.pix_dec(features, text, text_mask)
        words = text.transpose(1, 2)  # (B, L, D)
        m = text_mask.to(words.dtype).unsqueeze(-1)  # (B, L, 1)
        sentence = (words * m).sum(1) / m.sum(1).clamp(min=1e-6)  # (B, D)
        query = self.txt_proj(sentence).unsqueeze(1)  # (B, 1, D)
        mask_features = pix.mask_features
        logits = []
        for state in self.dynamic_conv_gen_body(query, pix.levels):
            kernel = self.dynamic_conv_gen_head(state)  # (B, 1, C+1)
            weight, bias = kernel[..., :-1], kernel[..., -1]
            out = torch.einsum("bqc,bchw->bqhw", weight.to(mask_features.dtype), mask_features)
            out = out + bias.to(out.dtype)[..., None, None]  # (B, 1, H/4, W/4)
            logits.append(self._upsample(out, output_size))
        return logits, pix

    def _upsample(self, logits: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
        """(B, 1, h, w) at stride ``mask_stride`` -> (B, 1, H, W), see ``mask_upsampling``.

        "input" (released) resizes straight to H x W; as the stride-4 map covers the
        image padded to a multiple of 4, its grid is then slightly stretched when H or
        W is not one. "padded" resizes to the padded size and crops: cells stay aligned.
        """
        if self.mask_upsampling == "input":
            return F.interpolate(logits, size=output_size, mode="bilinear", align_corners=False)
        h, w = output_size
        padded = (logits.shape[-2] * self.mask_stride, logits.shape[-1] * self.mask_stride)
        up = F.interpolate(logits, size=padded, mode="bilinear", align_corners=False)
        return up[..., :h, :w]
