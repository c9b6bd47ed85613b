"""Residual sums written into the branch output where that is the same sum."""

from __future__ import annotations

import torch


def add_residual(branch: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``x + branch``, in place in ``branch`` when it is a fresh output of the same shape
    and dtype (addition commutes exactly, so the numbers are the same): one large
    allocation fewer per sum. Under autocast the branch may be in a lower precision than
    the residual stream; then the sum is made out of place, promoted as before."""
    if branch.dtype == x.dtype and branch.shape == x.shape:
        return branch.add_(x)
    return x + branch
