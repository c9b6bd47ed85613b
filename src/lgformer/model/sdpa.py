"""Multi-head attention core: ``scaled_dot_product_attention`` with the heads merged back."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def attend_heads(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    attn_mask: torch.Tensor | None = None,
    scale: float | None = None,
    dropout_p: float = 0.0,
) -> torch.Tensor:
    """q (B, h, Q, d), k and v (B, h, S, d), attn_mask additive (float) or True-attends
    (bool), broadcastable to (B, h, Q, S) -> (B, Q, h*d).

    While torch.export traces (the ONNX export) the softmax is written out: the fused
    kernel's output layout at trace time differs from its decomposition's, which
    breaks the head merge there; the graph then holds plain matmul/softmax ops.
    """
    b, heads, nq, d = q.shape
    if not torch.compiler.is_exporting():
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=dropout_p, scale=scale
        )
        return out.transpose(1, 2).reshape(b, nq, heads * d)
    scores = (q @ k.transpose(-2, -1)) * (d**-0.5 if scale is None else scale)
    if attn_mask is not None and attn_mask.dtype == torch.bool:
        scores = scores.masked_fill(~attn_mask, float("-inf"))
    elif attn_mask is not None:
        scores = scores + attn_mask
    weights = F.dropout(scores.softmax(-1), dropout_p, dropout_p > 0)
    return (weights @ v).transpose(1, 2).reshape(b, nq, heads * d)
