"""Swin backbone with a VLBA fusion block and gated residual updates in every stage."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from lgformer.config import SwinConfig
from lgformer.model.fusion import VLBA
from lgformer.model.swin import PatchEmbed, PatchMerging, SwinBlock


def _gate(dim: int) -> nn.Sequential:
    """Linear -> ReLU -> Linear -> Tanh, no biases; zero-initialised so fusion starts closed."""
    gate = nn.Sequential(
        nn.Linear(dim, dim, bias=False), nn.ReLU(), nn.Linear(dim, dim, bias=False), nn.Tanh()
    )
    nn.init.zeros_(gate[0].weight)
    nn.init.zeros_(gate[2].weight)
    return gate


class FusionStage(nn.Module):
    """Swin blocks, then VLBA, then the gated updates of pixels and words, then merging."""

    def __init__(
        self,
        dim: int,
        depth: int,
        num_heads: int,
        window: int,
        mlp_ratio: float,
        drop_paths: list[float],
        text_dim: int,
        fusion_heads: int,
        downsample: bool,
    ) -> None:
        super().__init__()
        self.window = window
        self.shift = window // 2
        self.blocks = nn.ModuleList(
            SwinBlock(
                dim,
                num_heads,
                window,
                0 if j % 2 == 0 else self.shift,
                mlp_ratio,
                dp,
            )
            for j, dp in enumerate(drop_paths)
        )
        self.fusion = VLBA(dim, text_dim, fusion_heads)
        self.res_gate = _gate(dim)
        self.sym_res_gate = _gate(text_dim)
        self.downsample = PatchMerging(dim) if downsample else None
        self.grad_checkpointing = False

    def run_blocks(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """The stage's Swin blocks alone: x (B, HW, C) -> (B, HW, C)."""
        for block in self.blocks:
            if self.grad_checkpointing and self.training and x.requires_grad:
                x = checkpoint(block, x, h, w, use_reentrant=False)
            else:
                x = block(x, h, w)
        return x

    def forward(
        self,
        x: torch.Tensor,
        h: int,
        w: int,
        lang: torch.Tensor,
        mask: torch.Tensor,
        blocks_done: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, int, int]:
        """x (B, HW, C), lang (B, D, L), mask (B, L, 1); ``blocks_done``: x has been
        through ``run_blocks`` already.

        Returns (v, t, x_next, lang_next, h_next, w_next): v (B, HW, C) is the
        fusion output (the stage's feature), t (B, D, L) the fused words.
        """
        if not blocks_done:
            x = self.run_blocks(x, h, w)
        v, t = self.fusion(x, lang, mask)
        x = torch.addcmul(x, self.res_gate(v), v)  # x + g_v(v) * v
        t_words = t.transpose(1, 2)  # (B, L, D)
        lang = lang + (self.sym_res_gate(t_words) * t_words).transpose(1, 2)
        lang = lang * mask.transpose(1, 2)
        if self.downsample is not None:
            x = self.downsample(x, h, w)
            h, w = (h + 1) // 2, (w + 1) // 2
        return v, t, x, lang, h, w


@dataclass
class BackboneOutput:
    """features: 4 maps (B, C_i, H_i, W_i) at strides 4, 8, 16, 32; text: (B, D, L)."""

    features: list[torch.Tensor]
    text: torch.Tensor


class LanguageGuidedSwin(nn.Module):
    """The LGFormer backbone (spec section 3)."""

    def __init__(self, *, swin: SwinConfig, text_dim: int, fusion_heads: tuple[int, ...]) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(swin.embed_dim, swin.patch_size)
        total = sum(swin.depths)
        rates = torch.linspace(0, swin.drop_path_rate, total, device="cpu").tolist()
        self.layers = nn.ModuleList()
        start = 0
        for i, depth in enumerate(swin.depths):
            self.layers.append(
                FusionStage(
                    dim=swin.stage_channels[i],
                    depth=depth,
                    num_heads=swin.num_heads[i],
                    window=swin.window_size,
                    mlp_ratio=swin.mlp_ratio,
                    drop_paths=rates[start : start + depth],
                    text_dim=text_dim,
                    fusion_heads=fusion_heads[i],
                    downsample=i < len(swin.depths) - 1,
                )
            )
            start += depth
        for i, c in enumerate(swin.stage_channels):
            self.add_module(f"norm{i}", nn.LayerNorm(c))

    def reset_gates(self, std: float = 0.0) -> None:
        """Re-initialise the gated-update Linear weights: zeros (the spec) or a truncated
        normal of ``std``. Zero gates get exactly zero gradient: with both weights at zero,
        neither can move, so they stay closed while training."""
        for stage in self.layers:
            for gate in (stage.res_gate, stage.sym_res_gate):
                for linear in (gate[0], gate[2]):
                    if std > 0:
                        nn.init.trunc_normal_(linear.weight, std=std)
                    else:
                        nn.init.zeros_(linear.weight)

    def set_grad_checkpointing(self, enabled: bool = True) -> None:
        for layer in self.layers:
            layer.grad_checkpointing = enabled

    def forward(
        self,
        image: torch.Tensor,
        lang: torch.Tensor,
        mask: torch.Tensor,
        image_index: torch.Tensor | None = None,
    ) -> BackboneOutput:
        """image (B, 3, H, W), lang (B, D, L) BERT output channel-first, mask (B, L, 1).

        With ``image_index`` (B,) int64, image is (K, 3, H, W) and sample b reads image
        ``image_index[b]``: the part that sees no words (the patch embedding and the first
        stage's Swin blocks) runs once per image, then its tokens are repeated per sample.
        """
        x, h, w = self.patch_embed(image)
        shared = image_index is not None
        if shared:
            x = self.layers[0].run_blocks(x, h, w).index_select(0, image_index)
        features = []
        t = lang
        for i, layer in enumerate(self.layers):
            v, t, x, lang, h_next, w_next = layer(x, h, w, lang, mask, shared and i == 0)
            c = v.shape[-1]
            out = getattr(self, f"norm{i}")(v)  # (B, HW, C)
            features.append(out.view(-1, h, w, c).permute(0, 3, 1, 2).contiguous())
            h, w = h_next, w_next
        # The decoders read the LAST stage's fusion output t, not the gated running words.
        return BackboneOutput(features=features, text=t)

    def visual_features(self, image: torch.Tensor, stages: int | None = None) -> list[torch.Tensor]:
        """The Swin path alone, without words or fusion (a vision-only warm start).

        image (B, 3, H, W) -> the first ``stages`` (default all) maps (B, C_i, H_i, W_i),
        each stage's block output through the stage's output norm.
        """
        x, h, w = self.patch_embed(image)
        features = []
        for i, layer in enumerate(self.layers[:stages]):
            x = layer.run_blocks(x, h, w)
            out = getattr(self, f"norm{i}")(x)  # (B, HW, C)
            features.append(out.view(-1, h, w, out.shape[-1]).permute(0, 3, 1, 2))
            if layer.downsample is not None:
                x = layer.downsample(x, h, w)
                h, w = (h + 1) // 2, (w + 1) // 2
        return features
