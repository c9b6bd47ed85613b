"""``attention`` computes what nn.MultiheadAttention computes, by both product orders."""

import pytest
import torch
from torch import nn

from lgformer.model.cross_attention import attention


@pytest.mark.parametrize(
    ("dim", "kv_dim", "queries", "keys"),
    [(48, 16, 1, 30), (16, 48, 30, 5), (16, 16, 3, 7), (16, 16, 1, 7)],
)
def test_matches_multihead_attention_forward_and_backward(dim, kv_dim, queries, keys):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(dim, 4, kdim=kv_dim, vdim=kv_dim, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_bias.normal_()
    q = torch.randn(2, queries, dim, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, keys, kv_dim, dtype=torch.float64)
    v = torch.randn(2, keys, kv_dim, dtype=torch.float64)
    padding = torch.zeros(2, keys, dtype=torch.bool)
    padding[1, keys // 2 :] = True
    ref = mha(q, k, v, key_padding_mask=padding, need_weights=False)[0]
    grads_ref = torch.autograd.grad(ref.square().sum(), [q, *mha.parameters()])
    ours = attention(mha, q, k, v, padding)
    grads = torch.autograd.grad(ours.square().sum(), [q, *mha.parameters()])
    torch.testing.assert_close(ours, ref)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref)
