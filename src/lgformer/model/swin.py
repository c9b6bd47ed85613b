"""Swin Transformer building blocks: patch embedding, window attention, blocks, merging.

Follows the segmentation variant of Swin: inputs of any size are padded
right/bottom to a multiple of the window, and shifted windows use a -100
region mask built on the padded size.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lgformer.model.residual import add_residual
from lgformer.model.sdpa import attend_heads

_CPU = torch.device("cpu")


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per sample while training."""

    def __init__(self, prob: float = 0.0) -> None:
        super().__init__()
        self.prob = prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The exact GELU, in place on the fresh product (no parameters, so no module).
        return self.fc2(torch.ops.aten.gelu_(self.fc1(x)))


def relative_position_index(window: int) -> torch.Tensor:
    """(w*w, w*w) index into the ((2w-1)^2, heads) bias table."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij"))
    coords = coords.flatten(1)  # (2, w*w)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # (w*w, w*w, 2)
    rel = rel + (window - 1)
    return rel[..., 0] * (2 * window - 1) + rel[..., 1]


@dataclass(frozen=True)
class WindowLayout:
    """Where each token of an (H, W) map goes in the padded, rolled, window-partitioned
    layout of one block, so that pad + roll + partition is one gather and the way back
    (reverse + roll back + crop) another.

    gather: (nW * N,) index into the H*W tokens, H*W (an appended zero token) for padding.
    scatter: (H*W,) the slot of each token in that layout.
    mask: (nW, N, N) additive shifted-window mask (-100 across regions), None without shift.
    key: (padded H, padded W, window, shift), what ``mask`` depends on.
    """

    gather: torch.Tensor
    scatter: torch.Tensor
    mask: torch.Tensor | None
    padded: bool
    key: tuple[int, int, int, int]


def window_layout(
    h: int, w: int, window: int, shift: int, device: torch.device = _CPU
) -> WindowLayout:
    """The ``WindowLayout`` of an (h, w) map: padded right/bottom to multiples of the
    window, rolled by ``-shift`` on both axes, cut into windows (row-major windows,
    row-major tokens inside each). Cached: blocks of a stage share it; not while
    exporting, whose traced tensors must not outlive the export."""
    if torch.compiler.is_exporting():
        return _window_layout(h, w, window, shift, device)
    return _cached_window_layout(h, w, window, shift, device)


@functools.lru_cache(maxsize=64)
def _cached_window_layout(
    h: int, w: int, window: int, shift: int, device: torch.device
) -> WindowLayout:
    with torch.inference_mode(False), torch.no_grad():  # also usable outside inference mode
        return _window_layout(h, w, window, shift, device)


def _window_layout(h: int, w: int, window: int, shift: int, device: torch.device) -> WindowLayout:
    hp, wp = -(-h // window) * window, -(-w // window) * window
    # Slot (window row a, window col b, row i, col j) holds rolled pixel (a*w + i, b*w + j),
    # which is padded pixel ((a*w + i + shift) % hp, (b*w + j + shift) % wp).
    rows = (torch.arange(hp, device=device) + shift) % hp  # (hp,)
    cols = (torch.arange(wp, device=device) + shift) % wp  # (wp,)
    rows = rows.view(hp // window, 1, window, 1)
    cols = cols.view(1, wp // window, 1, window)
    rows, cols = torch.broadcast_tensors(rows, cols)  # (nWh, nWw, window, window)
    rows, cols = rows.reshape(-1), cols.reshape(-1)  # (nW * N,)
    real = (rows < h) & (cols < w)
    gather = torch.where(real, rows * w + cols, h * w)
    # Every padding slot writes to the extra entry h*w, dropped after: no boolean indexing
    # and no data-dependent result, so the layout also builds while tracing (ONNX export).
    slots = torch.empty(h * w + 1, dtype=torch.long, device=device)
    slots.scatter_(0, gather, torch.arange(rows.numel(), device=device))
    mask = shifted_window_mask(hp, wp, window, shift, device) if shift else None
    return WindowLayout(gather, slots[: h * w], mask, hp != h or wp != w, (hp, wp, window, shift))


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows, with relative position bias."""

    def __init__(self, dim: int, window: int, num_heads: int) -> None:
        super().__init__()
        self.window = window
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window - 1) ** 2, num_heads)
        )
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
        # Inference cache of the ready attention mask (see ``attention_mask``):
        # (layout key, dtype, the table it was built from, its version, mask). Not state.
        self._mask_cache: tuple | None = None

    def attention_mask(self, layout: WindowLayout, dtype: torch.dtype) -> torch.Tensor:
        """(1 or nW, heads, N, N) additive mask: the relative position bias, plus the
        shifted-window mask of ``layout`` if it has one.

        Without autograd the mask is kept between calls, for the last (layout, dtype),
        with the bias table it came from: it is served again only for the same storage
        (held by the cache, so no new table can take its address) at the same version
        counter, which any in-place write bumps (``load_state_dict``, an optimiser step,
        ``.data.copy_``); ``.to()``/``.double()`` give a new storage. With autograd on,
        while exporting, or for a table made in inference mode (no version counter) it
        is rebuilt every call.
        """
        table = self.relative_position_bias_table
        if torch.is_grad_enabled() or torch.compiler.is_exporting() or table.is_inference():
            return self._build_mask(layout, dtype)
        cache = self._mask_cache
        if (
            cache is None
            or cache[:2] != (layout.key, dtype)
            or cache[2].data_ptr() != table.data_ptr()
            or cache[2].device != table.device
            or cache[3] != table._version
        ):
            with torch.inference_mode(False), torch.no_grad():
                mask = self._build_mask(layout, dtype).contiguous()
            cache = self._mask_cache = (layout.key, dtype, table.detach(), table._version, mask)
        return cache[4]

    def _build_mask(self, layout: WindowLayout, dtype: torch.dtype) -> torch.Tensor:
        n, heads = self.window**2, self.num_heads
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        mask = bias.view(n, n, heads).permute(2, 0, 1).unsqueeze(0).to(dtype)  # (1, h, N, N)
        if layout.mask is not None:
            mask = mask + layout.mask.to(dtype).unsqueeze(1)  # (nW, h, N, N)
        return mask

    def forward(self, x: torch.Tensor, layout: WindowLayout) -> torch.Tensor:
        """x: (B, HW, C) normalised tokens -> (B, HW, C), attending inside ``layout``'s windows.

        qkv runs on the real tokens only; a padding token (zero after the norm, as
        the released code pads) has qkv equal to the bias, so one appended zero row
        stands for all of them.
        """
        b, _, c = x.shape
        n, heads = self.window**2, self.num_heads
        if layout.padded:
            x = F.pad(x, (0, 0, 0, 1))  # (B, HW + 1, C): the last row is the padding token
        qkv = self.qkv(x).index_select(1, layout.gather)  # (B, nW*N, 3C)
        # (3, B*nW, heads, N, C/heads)
        qkv = qkv.view(-1, n, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn_mask = self.attention_mask(layout, q.dtype)  # (1 or nW, heads, N, N)
        if layout.mask is not None:  # repeated over the batch
            nw = layout.mask.shape[0]
            # A view for b == 1; unconditional, so a dynamic batch (ONNX export) traces.
            attn_mask = (
                attn_mask.unsqueeze(0).expand(b, -1, -1, -1, -1).reshape(b * nw, heads, n, n)
            )
        out = attend_heads(q, k, v, attn_mask, self.scale)  # (B*nW, N, C)
        return self.proj(out.view(b, -1, c).index_select(1, layout.scatter))


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) -> (B*nW, window*window, C); H and W multiples of window."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def shifted_window_mask(
    h_pad: int, w_pad: int, window: int, shift: int, device: torch.device
) -> torch.Tensor:
    """(nW, N, N) additive mask: -100 between tokens of different regions after the roll."""
    regions = torch.zeros(1, h_pad, w_pad, 1, device=device)
    slices = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    label = 0
    for hs in slices:
        for ws in slices:
            regions[:, hs, ws, :] = label
            label += 1
    ids = window_partition(regions, window).squeeze(-1)  # (nW, N)
    diff = ids[:, None, :] - ids[:, :, None]
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


class SwinBlock(nn.Module):
    """Pre-norm (shifted) window attention + MLP, on tokens (B, H*W, C)."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        window: int,
        shift: int,
        mlp_ratio: float,
        drop_path: float,
    ) -> None:
        super().__init__()
        self.window = window
        self.shift = shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, num_heads)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """x: (B, H*W, C) -> (B, H*W, C); the map is padded to whole windows inside."""
        layout = window_layout(h, w, self.window, self.shift, x.device)
        x = add_residual(self.drop_path(self.attn(self.norm1(x), layout)), x)
        return add_residual(self.drop_path(self.mlp(self.norm2(x))), x)


class PatchEmbed(nn.Module):
    """Image (B, 3, H, W) -> tokens (B, H/4*W/4, C), padding right/bottom to the patch size."""

    def __init__(self, dim: int, patch: int = 4) -> None:
        super().__init__()
        self.patch = patch
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        h, w = image.shape[-2:]
        image = F.pad(image, (0, (-w) % self.patch, 0, (-h) % self.patch))
        x = self.proj(image)  # (B, C, H', W')
        hh, ww = x.shape[-2:]
        return self.norm(x.flatten(2).transpose(1, 2)), hh, ww


class PatchMerging(nn.Module):
    """Tokens (B, H*W, C) -> (B, ceil(H/2)*ceil(W/2), 2C)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, _, c = x.shape
        x = x.view(b, h, w, c)
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
        h2, w2 = (h + 1) // 2, (w + 1) // 2
        # [x[0::2, 0::2], x[1::2, 0::2], x[0::2, 1::2], x[1::2, 1::2]] on channels: the
        # (row parity, column parity) pairs with the column parity outer, in one copy.
        x = x.view(b, h2, 2, w2, 2, c).permute(0, 1, 3, 4, 2, 5).reshape(b, h2 * w2, 4 * c)
        return self.reduction(self.norm(x))
