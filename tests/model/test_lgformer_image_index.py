"""``LGFormer(image, ..., image_index=...)``: each image once, the text-free first stage
(patch embedding, first Swin stage) run once per image, outputs as with repeated images."""

from __future__ import annotations

import pytest
import torch


def _inputs(batch: int, size: int = 64) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(batch)
    image = torch.randn(batch, 3, size, size, generator=gen)
    mask = torch.zeros(batch, 20, dtype=torch.long)
    for b in range(batch):
        mask[b, : 3 + 2 * b] = 1
    ids = torch.randint(1000, 2000, (batch, 20), generator=gen) * mask
    return image, ids, mask


def test_image_index_computes_what_repeated_images_compute(tiny_model) -> None:
    images, _, _ = _inputs(2)
    _, ids, mask = _inputs(5)
    index = torch.tensor([0, 0, 1, 0, 1])
    with torch.inference_mode():
        shared = tiny_model(images, ids, mask, image_index=index, return_intermediates=True)
        repeated = tiny_model(images[index], ids, mask, return_intermediates=True)
    assert len(shared.mask_logits) == len(repeated.mask_logits)
    for a, b in zip(shared.mask_logits, repeated.mask_logits, strict=True):
        assert a.shape == (5, 1, 64, 64)
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    for a, b in zip(shared.backbone.features, repeated.backbone.features, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
    # The sentences differ, so the same image gives different masks.
    assert not torch.allclose(shared.pred_logits[0], shared.pred_logits[1])


def test_the_first_stage_runs_once_per_image(tiny_model, monkeypatch) -> None:
    seen = []
    stage = tiny_model.backbone.layers[0]
    original = stage.run_blocks

    def counting(x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        seen.append(len(x))
        return original(x, h, w)

    monkeypatch.setattr(stage, "run_blocks", counting)
    images, _, _ = _inputs(2)
    _, ids, mask = _inputs(5)
    with torch.inference_mode():
        tiny_model(images, ids, mask, image_index=torch.tensor([0, 0, 1, 1, 1]))
        tiny_model(images[[0, 0, 1, 1, 1]], ids, mask)
    assert seen == [2, 5]


@pytest.mark.parametrize(
    ("index", "error", "message"),
    [
        (torch.tensor([0, 2, 1]), ValueError, r"image_index must lie in \[0, 2\).* 0 to 2"),
        (torch.tensor([0, -1, 1]), ValueError, r"image_index must lie in \[0, 2\)"),
        (torch.tensor([0, 1]), ValueError, r"image's batch B = 2.*\(3, 20\)|\(3, 20\).*B = 2"),
        (torch.tensor([0.0, 1.0, 1.0]), TypeError, "image_index must be a torch.long tensor"),
        (torch.zeros(3, 1, dtype=torch.long), ValueError, r"image_index must be \(B,\)"),
    ],
)
def test_bad_image_index_is_a_clear_error(tiny_model, index, error, message) -> None:
    images, _, _ = _inputs(2)
    _, ids, mask = _inputs(3)
    with pytest.raises(error, match=message):
        tiny_model(images, ids, mask, image_index=index)
