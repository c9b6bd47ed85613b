"""The text side of VLBA: the reordered pooling equals attention over the projected map."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lgformer.model.fusion import InstanceNorm1d, pool_normalised_projection


def direct(attn: torch.Tensor, x: torch.Tensor, conv: nn.Conv1d) -> torch.Tensor:
    """attn @ IN(conv(x)) computed the straightforward way: (B, h, L, D/h)."""
    b, heads, _, hw = attn.shape
    u = InstanceNorm1d()(conv(x.transpose(1, 2)))  # (B, D, HW)
    u = u.reshape(b, heads, -1, hw)
    return attn @ u.transpose(-2, -1)


@pytest.mark.parametrize(("heads", "hw"), [(1, 37), (2, 64), (4, 1), (2, 3)])
def test_matches_direct_computation(heads: int, hw: int) -> None:
    torch.manual_seed(heads)
    b, words, c, d = 3, 5, 12, 16
    x = torch.randn(b, hw, c, dtype=torch.float64).float() * 3 + 1
    conv = nn.Conv1d(c, d, 1)
    attn = torch.randn(b, heads, words, hw).softmax(-1)
    ours = pool_normalised_projection(attn, x, conv, 1e-5)
    assert ours.shape == (b, heads, words, d // heads)
    torch.testing.assert_close(ours, direct(attn, x, conv), atol=1e-4, rtol=1e-4)


def test_gradients_match() -> None:
    torch.manual_seed(0)
    x1 = torch.randn(2, 50, 8, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    conv = nn.Conv1d(8, 6, 1)
    attn = torch.randn(2, 2, 4, 50).softmax(-1)
    pool_normalised_projection(attn, x1, conv, 1e-5).square().sum().backward()
    grad_ours, conv_grad_ours = x1.grad, conv.weight.grad.clone()
    conv.weight.grad = None
    direct(attn, x2, conv).square().sum().backward()
    torch.testing.assert_close(grad_ours, x2.grad, atol=1e-4, rtol=1e-3)
    torch.testing.assert_close(conv_grad_ours, conv.weight.grad, atol=1e-4, rtol=1e-3)


def test_float32_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 30, 8)
    conv = nn.Conv1d(8, 4, 1)
    attn = torch.randn(2, 1, 3, 30).softmax(-1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = pool_normalised_projection(attn, x, conv, 1e-5)
    assert ours.dtype == torch.float32
    torch.testing.assert_close(ours, direct(attn, x, conv), atol=1e-4, rtol=1e-4)
