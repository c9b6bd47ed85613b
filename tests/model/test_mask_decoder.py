"""decoder.mask_upsampling: "input" (released) vs "padded" (pixel-aligned) logits."""

import pytest
import torch
import torch.nn.functional as F

from lgformer.config import build_config
from lgformer.model import build_lgformer


def _pair(size: tuple[int, int]):
    torch.manual_seed(0)
    model = build_lgformer(build_config("test_tiny")).eval()
    image = torch.randn(1, 3, *size)
    ids = torch.tensor([[101, 7, 8, 9] + [0] * 16])
    mask = (ids != 0).long()
    with torch.no_grad():
        released = model(image, ids, mask).pred_logits
        model.classifier.mask_upsampling = "padded"
        aligned = model(image, ids, mask).pred_logits
    return model, released, aligned


def test_default_is_the_released_resize():
    assert build_config().decoder.mask_upsampling == "input"


def test_both_agree_at_multiples_of_four():
    _, released, aligned = _pair((64, 48))
    torch.testing.assert_close(released, aligned, rtol=0, atol=0)


def test_padded_resizes_to_the_padded_size_and_crops():
    model, released, aligned = _pair((61, 50))
    assert released.shape == aligned.shape == (1, 1, 61, 50)
    assert (released - aligned).abs().max() > 1e-3
    cells = torch.randn(1, 1, 16, 13)
    up = F.interpolate(cells, size=(64, 52), mode="bilinear", align_corners=False)
    torch.testing.assert_close(model.classifier._upsample(cells, (61, 50)), up[..., :61, :50])
    model.classifier.mask_upsampling = "input"
    direct = F.interpolate(cells, size=(61, 50), mode="bilinear", align_corners=False)
    torch.testing.assert_close(model.classifier._upsample(cells, (61, 50)), direct)


def test_unknown_mode_is_refused():
    cfg = build_config("test_tiny").to_dict()
    cfg["decoder"]["mask_upsampling"] = "nearest"
    from lgformer.config import LGFormerConfig

    with pytest.raises(ValueError, match="mask_upsampling"):
        LGFormerConfig.from_dict(cfg)
