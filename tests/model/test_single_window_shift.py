"""swin.shift_single_window: the released shift on one-window maps, or a global block."""

import pytest
import torch

from lgformer.config import LGFormerConfig, build_config
from lgformer.model.lgformer import build_lgformer
from lgformer.model.swin import SwinBlock, shifted_window_mask


def _blocks(window: int) -> tuple[SwinBlock, SwinBlock, SwinBlock]:
    """(unshifted, shifted as released, shifted but global on one window), same weights."""
    torch.manual_seed(0)
    plain = SwinBlock(16, 2, window, 0, 2.0, 0.0)
    released = SwinBlock(16, 2, window, window // 2, 2.0, 0.0)
    global_ = SwinBlock(16, 2, window, window // 2, 2.0, 0.0, shift_single_window=False)
    released.load_state_dict(plain.state_dict())
    global_.load_state_dict(plain.state_dict())
    return plain.eval(), released.eval(), global_.eval()


@pytest.mark.parametrize("size", [8, 6])  # one window exactly, and one after padding
def test_one_window_map_attends_globally_without_the_shift(size: int) -> None:
    plain, released, global_ = _blocks(8)
    pad = -(-size // 8) * 8
    mask = shifted_window_mask(pad, pad, 8, 4, torch.device("cpu"))
    x = torch.randn(2, size * size, 16)
    with torch.no_grad():
        expected = plain(x, size, size, None)
        assert torch.allclose(global_(x, size, size, mask), expected, atol=1e-6)
        # The released shift splits the map: a different result.
        assert not torch.allclose(released(x, size, size, mask), expected, atol=1e-3)


def test_larger_maps_are_shifted_either_way() -> None:
    _, released, global_ = _blocks(4)
    mask = shifted_window_mask(8, 8, 4, 2, torch.device("cpu"))
    x = torch.randn(2, 64, 16)
    with torch.no_grad():
        assert torch.equal(global_(x, 8, 8, mask), released(x, 8, 8, mask))


def test_the_option_reaches_every_block_and_round_trips() -> None:
    config = build_config("test_tiny")
    assert config.swin.shift_single_window  # the released behaviour by default
    data = config.to_dict()
    data["swin"]["shift_single_window"] = False
    changed = LGFormerConfig.from_dict(data)
    assert changed.swin.shift_single_window is False
    model = build_lgformer(changed)
    blocks = [b for stage in model.backbone.layers for b in stage.blocks]
    assert len(blocks) == sum(changed.swin.depths)
    assert all(b.shift_single_window is False for b in blocks)
