from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from lgformer.data.datasets import ReferEvalDataset
from lgformer.evaluation import ShardSampler, evaluate, shard_bounds
from lgformer.evaluation.evaluator import EvaluationResult

SIZE = 64


class PixelwiseModel(torch.nn.Module):
    """A stand-in whose logits are elementwise in each sample, hence bit-identical
    for any batch composition: it isolates the evaluator's own batching."""

    def forward(self, image, token_ids, attention_mask):
        words = (token_ids * attention_mask).float().mean(dim=1) / 2000.0 - 0.5  # (B,)
        logits = image[:, :1] + words[:, None, None, None]  # (B, 1, S, S)
        return SimpleNamespace(pred_logits=logits)


class ConstantModel(torch.nn.Module):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def forward(self, image, token_ids, attention_mask):
        b, _, h, w = image.shape
        return SimpleNamespace(pred_logits=torch.full((b, 1, h, w), self.value))


def _run(model, split, batch_size, resolution="input", **kw) -> EvaluationResult:
    ds = ReferEvalDataset(split, image_size=SIZE, keep_original=resolution == "original")
    return evaluate(
        model, ds, batch_size=batch_size, num_workers=0, resolution=resolution, progress=False, **kw
    )


def _assert_same(a: EvaluationResult, b: EvaluationResult) -> None:
    assert a.metrics == b.metrics
    for field in ("ref_ids", "sent_ids", "intersections", "unions"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


@pytest.mark.parametrize("resolution", ["input", "original"])
def test_batch_size_does_not_change_any_number(test_split, resolution):
    model = PixelwiseModel()
    one = _run(model, test_split, 1, resolution)
    eight = _run(model, test_split, 8, resolution)
    three = _run(model, test_split, 3, resolution)
    _assert_same(one, eight)
    _assert_same(one, three)
    assert one.intersections.sum() > 0 and (one.intersections < one.unions).any()


def test_tiny_lgformer_batch_1_vs_8(test_split, tiny_model):
    """The real model: identical per-sample counts except for pixels whose logit is
    within float32 rounding of 0 (batched matmuls may sum in another order)."""
    one = _run(tiny_model, test_split, 1)
    eight = _run(tiny_model, test_split, 8)
    ds = ReferEvalDataset(test_split, image_size=SIZE)
    near_zero = []
    with torch.inference_mode():
        for i in range(len(ds)):
            item = ds[i]
            logits = tiny_model(
                item["image"][None], item["token_ids"][None], item["attention_mask"][None]
            ).pred_logits
            near_zero.append(int((logits.abs() < 1e-4).sum()))
    print("pixels with |logit| < 1e-4:", near_zero)
    diff = np.abs(one.intersections - eight.intersections) + np.abs(one.unions - eight.unions)
    assert (diff <= np.array(near_zero)).all()
    if not any(near_zero):
        _assert_same(one, eight)
    np.testing.assert_array_equal(one.sent_ids, test_split.sent_ids)
    assert one.ref_ids.tolist() == [5, 5, 6, 7, 7, 8, 9]


def test_constant_models_by_hand(refcoco, test_split):
    everything = _run(ConstantModel(5.0), test_split, 4, "original")
    nothing = _run(ConstantModel(-5.0), test_split, 4, "original")
    masks = [refcoco.masks[test_split.refs[r].ann_id] for r in test_split.sent_ref]
    assert everything.intersections.tolist() == [int(m.sum()) for m in masks]
    assert everything.unions.tolist() == [m.size for m in masks]
    assert nothing.intersections.tolist() == [0] * 7
    assert nothing.unions.tolist() == [int(m.sum()) for m in masks]
    assert nothing.metrics.mean_iou == 0.0 and nothing.metrics.overall_iou == 0.0
    # At input resolution the target is the nearest-resized mask.
    at_input = _run(ConstantModel(5.0), test_split, 4, "input")
    resized = [
        int(
            (
                np.asarray(Image.fromarray(m.astype(np.uint8) * 255).resize((SIZE, SIZE), 0)) > 0
            ).sum()
        )
        for m in masks
    ]
    assert at_input.intersections.tolist() == resized
    assert at_input.unions.tolist() == [SIZE * SIZE] * 7


def test_workers_give_the_same_numbers(test_split):
    ds = ReferEvalDataset(test_split, image_size=SIZE)
    a = evaluate(PixelwiseModel(), ds, batch_size=2, num_workers=2, progress=False)
    _assert_same(a, _run(PixelwiseModel(), test_split, 2))


def test_original_resolution_needs_original_masks(test_split):
    ds = ReferEvalDataset(test_split, image_size=SIZE)
    with pytest.raises(ValueError, match="keep_original"):
        evaluate(PixelwiseModel(), ds, resolution="original", progress=False)
    with pytest.raises(ValueError, match="resolution"):
        evaluate(PixelwiseModel(), ds, resolution="480", progress=False)


@pytest.mark.parametrize(("n", "world"), [(7, 2), (7, 3), (2, 4), (100, 8), (0, 2)])
def test_shards_cover_every_sample_once(n, world):
    seen = [i for rank in range(world) for i in ShardSampler(n, rank, world)]
    assert seen == list(range(n))
    sizes = [len(ShardSampler(n, r, world)) for r in range(world)]
    assert max(sizes) - min(sizes) <= 1 and shard_bounds(n, world - 1, world)[1] == n
