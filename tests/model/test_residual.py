"""add_residual: the sum x + branch, in place only where that is the same sum."""

import torch

from lgformer.model.residual import add_residual


def test_same_dtype_sums_in_place_and_equal_the_plain_sum():
    x, branch = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    expected = x + branch
    out = add_residual(branch, x)
    assert out.data_ptr() == branch.data_ptr() and torch.equal(out, expected)


def test_lower_precision_branch_is_promoted_out_of_place():
    x, branch = torch.randn(2, 5, 3), torch.randn(2, 5, 3).bfloat16()
    kept = branch.clone()
    out = add_residual(branch, x)
    assert out.dtype == torch.float32 and torch.equal(out, x + kept)
    assert torch.equal(branch, kept)


def test_broadcast_branch_is_summed_out_of_place():
    x, branch = torch.randn(2, 5, 3), torch.randn(1, 5, 3)
    assert torch.equal(add_residual(branch, x), x + branch)
