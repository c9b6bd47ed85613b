"""Post-norm cross-attention + FFN layer, used by both decoders."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lgformer.model.residual import add_residual
from lgformer.model.sdpa import attend_heads


class CrossAttentionLayer(nn.Module):
    """``q = LN(q + MHA(q + q_pos, k, v))``; ``q = LN(q + FFN(q))`` (no self-attention).

    Queries are (B, Q, dim); keys and values (B, S, kv_dim).
    """

    def __init__(self, dim: int, kv_dim: int, heads: int, ffn_dim: int, dropout: float) -> None:
        super().__init__()
        self.cross_attn = nn.MultiheadAttention(
            dim, heads, dropout=dropout, kdim=kv_dim, vdim=kv_dim, batch_first=True
        )
        self.norm_ca = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(
            nn.Linear(dim, ffn_dim),
            nn.ReLU(inplace=True),  # on the fresh product: one buffer fewer
            nn.Dropout(dropout),
            nn.Linear(ffn_dim, dim),
            nn.Dropout(dropout),
        )
        self.norm_ffn = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(
        self,
        query: torch.Tensor,
        query_pos: torch.Tensor | None,
        key: torch.Tensor,
        value: torch.Tensor,
        key_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """query (B, Q, dim); key, value (B, S, kv_dim); key_padding_mask (B, S) True at
        padding -> (B, Q, dim)."""
        q = query if query_pos is None else query + query_pos
        attn = attention(self.cross_attn, q, key, value, key_padding_mask)
        query = self.norm_ca(add_residual(self.dropout(attn), query))
        return self.norm_ffn(add_residual(self.ffn(query), query))


def attention(
    mha: nn.MultiheadAttention,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    key_padding_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """What ``mha(query, key, value, key_padding_mask=...)[0]`` computes (batch first),
    on its parameters, by the cheaper of two exact orders of the products.

    Few queries against many keys (the mask decoder: 1 sentence query, thousands of
    pixels): rather than projecting every key and value to the model width, each
    head's query is taken back through the key projection (the key bias only shifts
    all scores of a query equally, so it drops out of the softmax) and the keys are
    pooled before the value projection. Otherwise (the pixel decoder: pixels
    attending 20 words) the usual projections and ``scaled_dot_product_attention``.
    """
    wq, wk, wv = _in_projections(mha)
    bq, bk, bv = mha.in_proj_bias.chunk(3)
    b, nq, e = query.shape
    heads, hd = mha.num_heads, e // mha.num_heads
    dropout = mha.dropout if mha.training else 0.0
    q = F.linear(query, wq, bq).view(b, nq, heads, hd).transpose(1, 2)  # (B, h, Q, hd)
    if heads * nq < e:
        # (B, h, Q, kv_dim): each head's query through its slice of the key projection
        qk = q @ wk.view(heads, hd, -1) * hd**-0.5
        scores = qk.flatten(1, 2) @ key.transpose(1, 2)  # (B, h*Q, S)
        if key_padding_mask is not None:
            scores = scores.masked_fill(key_padding_mask[:, None, :], float("-inf"))
        weights = F.dropout(scores.softmax(-1), dropout, mha.training)
        pooled = (weights @ value).view(b, heads, nq, -1)  # (B, h, Q, kv_dim)
        out = pooled @ wv.view(heads, hd, -1).transpose(1, 2)  # (B, h, Q, hd)
        out = out + bv.view(heads, 1, hd) * weights.sum(-1).view(b, heads, nq, 1)
    else:
        k = F.linear(key, wk, bk).view(b, -1, heads, hd).transpose(1, 2)  # (B, h, S, hd)
        v = F.linear(value, wv, bv).view(b, -1, heads, hd).transpose(1, 2)
        mask = None if key_padding_mask is None else ~key_padding_mask[:, None, None, :]
        return mha.out_proj(attend_heads(q, k, v, mask, dropout_p=dropout))
    return mha.out_proj(out.transpose(1, 2).reshape(b, nq, e))  # (B, Q, dim)


def _in_projections(mha: nn.MultiheadAttention) -> tuple[torch.Tensor, ...]:
    """(W_q, W_k, W_v) of ``mha``, whether it keeps them packed or separate."""
    if mha.in_proj_weight is not None:
        return mha.in_proj_weight.chunk(3)
    return mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight
