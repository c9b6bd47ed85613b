"""Swin blocks (gathered windows, SDPA with the bias as a float mask) against the
spec reference's plain pad/roll/per-window loop: outputs and gradients."""

import pytest
import torch

from lgformer.model.swin import SwinBlock, window_layout
from lgformer.parity import relative_error
from tests.model.spec_reference import _swin_block, _Weights


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("h", "w", "shift", "batch"), [(6, 7, 2, 2), (8, 8, 0, 1), (3, 2, 2, 1)])
def test_block_matches_the_plain_loop_forward_and_backward(dtype, h, w, shift, batch):
    torch.manual_seed(0)
    block = SwinBlock(8, 2, 4, shift, 4.0, 0.0).to(dtype)
    with torch.no_grad():
        for p in block.parameters():
            p.normal_(0, 0.5)
    x = torch.randn(batch, h * w, 8, dtype=torch.float64, requires_grad=True)
    ours = block(x.to(dtype), h, w)
    ours.square().sum().backward()
    grads = {k: p.grad.clone() for k, p in block.named_parameters()}

    params = {k: p.detach().double().requires_grad_() for k, p in block.named_parameters()}
    x_ref = x.detach().clone().requires_grad_()
    ref = _swin_block(x_ref.view(batch, h, w, 8), h, w, _Weights(params), 2, 4, shift)
    ref.square().sum().backward()

    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert relative_error(ours.detach(), ref.detach().reshape(batch, h * w, 8)) < tol
    assert relative_error(x.grad, x_ref.grad) < tol
    for k, g in grads.items():
        assert relative_error(g, params[k].grad) < tol, k
    assert grads["attn.relative_position_bias_table"].abs().sum() > 0


def test_layout_gathers_every_token_once_and_pads_the_rest():
    layout = window_layout(5, 7, 4, 2)
    assert layout.gather.shape == (8 * 8,) and layout.padded
    real = layout.gather[layout.gather < 35]
    assert sorted(real.tolist()) == list(range(35))
    assert (layout.gather[layout.scatter] == torch.arange(35)).all()
    assert layout.mask.shape == (4, 16, 16)
    assert not window_layout(8, 8, 4, 0).padded and window_layout(8, 8, 4, 0).mask is None


def test_inference_mask_cache_follows_the_bias_table():
    """Without autograd the ready mask is kept; any change to the table (in-place write,
    load_state_dict, a dtype cast) or to the layout gives a rebuilt one."""
    torch.manual_seed(0)
    block = SwinBlock(8, 2, 4, 2, 4.0, 0.0).eval()
    attn = block.attn
    x = torch.randn(1, 6 * 7, 8)

    def fresh(h=6, w=7):
        return attn._build_mask(window_layout(h, w, 4, 2), torch.float32)

    with torch.no_grad():
        out = block(x, 6, 7)
        cached = attn._mask_cache[4]
        assert torch.equal(cached, fresh())
        assert torch.equal(block(x, 6, 7), out) and attn._mask_cache[4] is cached
        attn.relative_position_bias_table.add_(1.0)
        block(x, 6, 7)
        assert attn._mask_cache[4] is not cached and torch.equal(attn._mask_cache[4], fresh())
        state = {k: v.clone() for k, v in block.state_dict().items()}
        state["attn.relative_position_bias_table"].normal_()
        block.load_state_dict(state)
        block(x, 6, 7)
        assert torch.equal(attn._mask_cache[4], fresh())
        block(torch.randn(1, 9 * 9, 8), 9, 9)
        assert torch.equal(attn._mask_cache[4], fresh(9, 9))
    with torch.inference_mode():
        block(x, 6, 7)
    assert torch.equal(attn._mask_cache[4], fresh())
    block.double()
    with torch.no_grad():
        out64 = block(x.double(), 6, 7)
    assert attn._mask_cache[4].dtype == torch.float64
    # With autograd on nothing is cached and the table gets its gradient.
    attn._mask_cache = None
    block(x.double(), 6, 7).sum().backward()
    assert attn._mask_cache is None and attn.relative_position_bias_table.grad.abs().sum() > 0
    assert out64.dtype == torch.float64
