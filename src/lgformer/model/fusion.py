"""VLBA: vision-language bidirectional attention, one per Swin stage (spec section 4).

Layouts: pixels ``x`` (B, HW, C); words ``l`` (B, D, L) channel-first with
D the text width; ``mask`` (B, L, 1), 1 for real words.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lgformer.model.autocast import autocast_enabled


class InstanceNorm1d(nn.Module):
    """Affine-free instance norm over the last axis of (B, C, N).

    Same result as ``nn.InstanceNorm1d`` (biased variance, eps 1e-5), but a
    single-pixel map (tiny images at stride 32) gives zeros instead of an error.
    """

    def __init__(self, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var, mean = torch.var_mean(x, -1, keepdim=True, correction=0)
        return (x - mean) * torch.rsqrt(var + self.eps)


def pool_normalised_projection(
    attn: torch.Tensor, x: torch.Tensor, conv: nn.Conv1d, eps: float
) -> torch.Tensor:
    """``attn @ InstanceNorm(conv(x))`` per head, without the (B, D, HW) projection.

    The text side of VLBA pools ``u = IN(W x + b)`` (D channels, normalised over
    the HW pixels) with attention rows that sum to one. Because the norm is affine
    per channel, ``sum_p a_p u_dp = W_d (sum_p a_p x_p - mean(x)) / std_d`` with
    ``std_d**2 = W_d Cov(x) W_d`` (the bias cancels): the same numbers for
    ~D/L times less work. Computed in float32 (also under autocast), or float64 for
    a float64 model; returned in that dtype under autocast, else in the dtype of ``x``.

    Args:
        attn: (B, h, L, HW) attention weights, each row summing to 1.
        x: (B, HW, C) pixels.
        conv: the 1x1 ``Conv1d(C, D)`` of the projection (weight (D, C, 1)).
        eps: the instance norm's epsilon.

    Returns:
        (B, h, L, D/h): head ``j`` pools channels ``[j D/h, (j + 1) D/h)``.
    """
    b, heads, _, hw = attn.shape
    dtype = torch.promote_types(x.dtype, torch.float32)
    # Under autocast the result stays in the compute dtype (as the training runs that
    # made the bundled model had it); a model cast to one dtype gets that dtype back.
    out_dtype = dtype if autocast_enabled(x.device.type) else x.dtype
    with torch.autocast(device_type=x.device.type, enabled=False):
        xf = x.to(dtype)
        centred = xf - xf.mean(1, keepdim=True)  # (B, HW, C)
        weight = conv.weight[:, :, 0].to(dtype)  # (D, C)
        channels, dim = weight.shape[1], weight.shape[0]
        if channels * (hw + dim) < hw * dim:  # through the covariance: cheaper for wide maps
            cov = centred.transpose(1, 2) @ centred / hw  # (B, C, C)
            var = ((weight @ cov) * weight).sum(-1)  # (B, D)
        else:  # small maps (deep stages): project the pixels
            var = (centred @ weight.t()).square().mean(1)  # (B, D)
        pooled = attn.to(dtype) @ centred.unsqueeze(1)  # (B, h, L, C)
        per_head = weight.reshape(heads, -1, weight.shape[-1])  # (h, D/h, C)
        out = torch.einsum("bhlc,hdc->bhld", pooled, per_head)  # (B, h, L, D/h)
        scale = torch.rsqrt(var.clamp_min(0) + eps).reshape(b, heads, 1, -1)
        return (out * scale).to(out_dtype)


def _conv_gelu(c_in: int, c_out: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Conv1d(c_in, c_out, 1), nn.GELU(), nn.Dropout(dropout))


class VisionLanguageAttention(nn.Module):
    """Cross-attention both ways through one similarity map S (B, h, HW, L).

    Quirk kept from the release: the similarity is scaled by the FULL vision
    width ``C**-0.5``, not the per-head width.
    """

    def __init__(self, vis_dim: int, text_dim: int, num_heads: int = 1) -> None:
        super().__init__()
        self.vis_dim = vis_dim
        self.text_dim = text_dim
        self.num_heads = num_heads
        self.query = nn.Sequential(nn.Conv1d(vis_dim, vis_dim, 1), InstanceNorm1d())
        self.key = nn.Conv1d(text_dim, vis_dim, 1)
        self.value = nn.Conv1d(text_dim, vis_dim, 1)
        self.W = nn.Sequential(nn.Conv1d(vis_dim, vis_dim, 1), InstanceNorm1d())
        self.sym_value = nn.Sequential(nn.Conv1d(vis_dim, text_dim, 1), InstanceNorm1d())
        self.sym_W = nn.Conv1d(text_dim, text_dim, 1)

    def forward(
        self, x: torch.Tensor, lang: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (vision side (B, HW, C), language side (B, D, L)).

        The pixel side runs on (B, HW, C) tokens: each 1x1 conv is a ``linear`` with
        the conv's weight and each instance norm normalises over the token axis.
        """
        b, hw, c = x.shape
        words = lang.shape[-1]
        heads = self.num_heads
        mask_t = mask.transpose(1, 2)  # (B, 1, L)
        q = _instance_norm_tokens(pointwise(x, self.query[0]), self.query[1].eps)  # (B, HW, C)
        lang_t = lang.transpose(1, 2)  # (B, L, D)
        k = pointwise(lang_t, self.key) * mask  # (B, L, C)
        v = pointwise(lang_t, self.value) * mask  # (B, L, C)
        q = q.view(b, hw, heads, c // heads).transpose(1, 2)  # (B, h, HW, C/h)
        k = k.view(b, words, heads, c // heads).permute(0, 2, 3, 1)  # (B, h, C/h, L)
        v = v.view(b, words, heads, c // heads).transpose(1, 2)  # (B, h, L, C/h)
        mask_term = (1e4 * mask_t - 1e4).repeat_interleave(heads, 0)  # (B*h, 1, L)
        sim = torch.baddbmm(
            mask_term,
            q.reshape(b * heads, hw, c // heads),
            k.reshape(b * heads, c // heads, words),
            alpha=c**-0.5,
        ).view(b, heads, hw, words)  # (B, h, HW, L): (q @ k) C^-0.5 + the mask term

        vis = sim.softmax(dim=-1) @ v  # (B, h, HW, C/h)
        vis = vis.transpose(1, 2).reshape(b, hw, c)  # (B, HW, C)
        vis = _instance_norm_tokens(pointwise(vis, self.W[0]), self.W[1].eps)

        attn_t = sim.softmax(dim=2).transpose(-2, -1)  # (B, h, L, HW), rows sum to 1
        txt = pool_normalised_projection(attn_t, x, self.sym_value[0], self.sym_value[1].eps)
        txt = txt.transpose(1, 2).reshape(b, words, self.text_dim).transpose(1, 2)  # (B, D, L)
        txt = self.sym_W(txt * mask_t)
        return vis, txt


def pointwise(x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """A 1x1 ``Conv1d`` applied to channel-last tokens: (B, N, C_in) -> (B, N, C_out)."""
    return F.linear(x, conv.weight[:, :, 0], conv.bias)


def _instance_norm_tokens(x: torch.Tensor, eps: float) -> torch.Tensor:
    """``InstanceNorm1d`` of (B, N, C) tokens: each channel over the N tokens.

    While exporting (ONNX), each channel is first shifted by its first token, which
    changes neither the mean-free values nor the variance: onnxruntime sums a long token
    axis in float32 with much more rounding than PyTorch, and a channel nearly constant
    over the pixels (VLBA's word-attention output, |mean| / std ~ 3e4 on the parity
    weights) then loses its variation to the error of its mean; the differences to a
    nearby token are exact in float32 and have a mean of the order of the std.
    """
    if torch.compiler.is_exporting():
        x = x - x[:, :1]
    var, mean = torch.var_mean(x, 1, keepdim=True, correction=0)
    return (x - mean) * torch.rsqrt(var + eps)


class VLBA(nn.Module):
    """Fuses one stage's pixels with the words; returns updated (v, t)."""

    def __init__(
        self, vis_dim: int, text_dim: int, num_heads: int = 1, dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.vis_project = _conv_gelu(vis_dim, vis_dim, dropout)
        self.lang_project = _conv_gelu(text_dim, text_dim, dropout)
        self.image_lang_att = VisionLanguageAttention(vis_dim, text_dim, num_heads)
        self.project_mm = nn.Sequential(
            *_conv_gelu(2 * vis_dim, vis_dim, dropout), *_conv_gelu(vis_dim, vis_dim, dropout)
        )
        self.sym_project_mm = nn.Sequential(
            *_conv_gelu(2 * text_dim, text_dim, dropout), *_conv_gelu(text_dim, text_dim, dropout)
        )

    def forward(
        self, x: torch.Tensor, lang: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, HW, C), lang (B, D, L), mask (B, L, 1) -> v (B, HW, C), t (B, D, L)."""
        mask_t = mask.transpose(1, 2)  # (B, 1, L)
        # GELUs in place on fresh products (the same function as the modules' nn.GELU).
        gelu_ = torch.ops.aten.gelu_
        vis = self.vis_project[2](gelu_(pointwise(x, self.vis_project[0])))  # (B, HW, C)
        words = self.lang_project(lang) * mask_t  # (B, D, L)
        att_v, att_t = self.image_lang_att(x, lang, mask)
        att_t = att_t * mask_t
        # project_mm's first conv on cat[vis, att_v] (channels), as two products summed
        # in place instead of a concatenated copy.
        first, c = self.project_mm[0], vis.shape[-1]
        weight = first.weight[:, :, 0]  # (C, 2C)
        v = F.linear(att_v, weight[:, c:], first.bias)  # (B, HW, C)
        # (In-place ops escape autocast: cast to the product's dtype by hand.)
        v.view(-1, c).addmm_(vis.reshape(-1, c).to(v.dtype), weight[:, :c].t().to(v.dtype))
        v = self.project_mm[2](gelu_(v))
        v = self.project_mm[5](gelu_(pointwise(v, self.project_mm[3])))
        t = self.sym_project_mm(torch.cat([words, att_t], dim=1)) * mask_t
        return v, t
