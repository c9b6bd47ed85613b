"""Post-norm cross-attention + FFN layer, used by both decoders."""

from __future__ import annotations

import torch
from torch import nn


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
            nn.ReLU(),
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
        q = query if query_pos is None else query + query_pos
        attn = self.cross_attn(
            q, key, value, key_padding_mask=key_padding_mask, need_weights=False
        )[0]
        query = self.norm_ca(query + self.dropout(attn))
        return self.norm_ffn(query + self.ffn(query))
