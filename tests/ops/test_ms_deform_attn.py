"""The deformable-attention kernel against a brute-force per-point bilinear loop."""

import math

import pytest
import torch

from lgformer.ops import multi_scale_deformable_attention


def bilinear_zero_padded(img: torch.Tensor, x: float, y: float) -> torch.Tensor:
    """img (D, H, W); (x, y) normalised in [0, 1] with align_corners=False semantics."""
    _, h, w = img.shape
    px, py = x * w - 0.5, y * h - 0.5
    x0, y0 = math.floor(px), math.floor(py)
    out = torch.zeros(img.shape[0], dtype=img.dtype)
    for yy, wy in ((y0, 1 - (py - y0)), (y0 + 1, py - y0)):
        for xx, wx in ((x0, 1 - (px - x0)), (x0 + 1, px - x0)):
            if 0 <= yy < h and 0 <= xx < w:
                out += wy * wx * img[:, yy, xx]
    return out


def brute_force(value, shapes, locations, weights):
    b, _, m, d = value.shape
    _, q, _, levels, points, _ = locations.shape
    starts = [0]
    for h, w in shapes:
        starts.append(starts[-1] + h * w)
    out = torch.zeros(b, q, m, d, dtype=value.dtype)
    for bi in range(b):
        for qi in range(q):
            for mi in range(m):
                for li, (h, w) in enumerate(shapes):
                    img = value[bi, starts[li] : starts[li + 1], mi].T.reshape(d, h, w)
                    for pi in range(points):
                        x, y = locations[bi, qi, mi, li, pi].tolist()
                        sample = bilinear_zero_padded(img, x, y)
                        out[bi, qi, mi] += weights[bi, qi, mi, li, pi] * sample
    return out.reshape(b, q, m * d)


def test_matches_brute_force_including_points_outside_the_map():
    g = torch.Generator().manual_seed(0)
    shapes = [(3, 5), (6, 4), (2, 2)]
    b, q, m, d, p = 2, 5, 2, 3, 3
    value = torch.randn(b, sum(h * w for h, w in shapes), m, d, generator=g, dtype=torch.float64)
    # Range [-0.3, 1.3]: many taps fall outside the map, some partly.
    locations = torch.rand(b, q, m, len(shapes), p, 2, generator=g, dtype=torch.float64)
    locations = locations * 1.6 - 0.3
    weights = torch.rand(b, q, m, len(shapes), p, generator=g, dtype=torch.float64)
    weights = weights / weights.sum((-1, -2), keepdim=True)
    outside = ((locations < 0) | (locations > 1)).any(-1)
    assert outside.any() and (~outside).any()
    ours = multi_scale_deformable_attention(value, shapes, locations, weights)
    ref = brute_force(value, shapes, locations, weights)
    assert ours.shape == (b, q, m * d)
    torch.testing.assert_close(ours, ref, rtol=1e-10, atol=1e-10)


def test_far_outside_reads_zero_and_gradients_flow():
    shapes = [(4, 4)]
    value = torch.randn(1, 16, 1, 2, requires_grad=True)
    locations = torch.full((1, 1, 1, 1, 1, 2), 5.0)
    weights = torch.ones(1, 1, 1, 1, 1)
    out = multi_scale_deformable_attention(value, shapes, locations, weights)
    assert torch.count_nonzero(out) == 0
    locations = torch.full((1, 1, 1, 1, 1, 2), 0.4, requires_grad=True)
    multi_scale_deformable_attention(value, shapes, locations, weights).sum().backward()
    assert value.grad.abs().sum() > 0 and locations.grad.abs().sum() > 0


def test_shapes_that_do_not_fit_are_reported_before_any_work():
    """These used to surface as a split_with_sizes, grid_sampler or view error."""
    shapes = [(3, 5), (2, 2)]
    value = torch.randn(2, 19, 2, 3)
    locations = torch.rand(2, 4, 2, 2, 3, 2)
    weights = torch.rand(2, 4, 2, 2, 3)
    assert multi_scale_deformable_attention(value, shapes, locations, weights).shape == (2, 4, 6)
    bad = [
        (value[:, :-1], shapes, locations, weights),  # S != sum(H * W)
        (value, shapes, locations[:, :, :1], weights[:, :, :1]),  # heads
        (value, shapes + [(1, 1)], locations, weights),  # levels
        (value, shapes, locations, weights[..., :2]),  # points
        (value[:1], shapes, locations, weights),  # batch
        (value, shapes, locations[..., :1], weights),  # (x, y)
    ]
    for args in bad:
        with pytest.raises(ValueError, match=r"expects value \(B, S, M, D\)"):
            multi_scale_deformable_attention(*args)
