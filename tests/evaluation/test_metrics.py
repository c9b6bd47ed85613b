import numpy as np
import pytest
import torch

from lgformer.evaluation import (
    IoUAccumulator,
    compute_metrics,
    intersection_union,
    per_sample_iou,
    predict_foreground,
)

# IoUs 0.5, 0, 0.75, (empty union -> 0), 0.9
INTER = [50, 0, 30, 0, 90]
UNION = [100, 10, 40, 0, 100]


def test_hand_computed_metrics():
    m = compute_metrics(INTER, UNION)
    assert m.num_samples == 5
    assert m.overall_iou == pytest.approx(100 * 170 / 250)
    assert m.mean_iou == pytest.approx(100 * (0.5 + 0 + 0.75 + 0 + 0.9) / 5)
    # >= at each threshold: 0.9 counts for precision@0.9.
    expected = {0.5: 60.0, 0.6: 40.0, 0.7: 40.0, 0.8: 20.0, 0.9: 20.0}
    assert m.precision == pytest.approx(expected)
    assert m.as_dict() == {
        "overall_iou": 68.0,
        "mean_iou": 43.0,
        "precision@0.5": 60.0,
        "precision@0.6": 40.0,
        "precision@0.7": 40.0,
        "precision@0.8": 20.0,
        "precision@0.9": 20.0,
        "num_samples": 5,
    }


def test_thresholds_are_inclusive_for_exact_fractions():
    # 7/10, 8/10, 9/10, 3/5, 1/2 land exactly on a threshold each.
    m = compute_metrics([7, 8, 9, 3, 1], [10, 10, 10, 5, 2])
    assert m.precision == {0.5: 100.0, 0.6: 80.0, 0.7: 60.0, 0.8: 40.0, 0.9: 20.0}


def test_two_decimal_rounding():
    d = compute_metrics([1, 2], [3, 3]).as_dict()
    assert d["overall_iou"] == 50.0
    assert compute_metrics([1], [3]).as_dict()["mean_iou"] == 33.33
    assert compute_metrics([2], [3]).as_dict()["mean_iou"] == 66.67


def test_empty_union_counts_zero_and_all_empty():
    assert per_sample_iou(np.array([0, 2]), np.array([0, 4])).tolist() == [0.0, 0.5]
    m = compute_metrics([0, 0], [0, 0])
    assert m.overall_iou == 0.0 and m.mean_iou == 0.0 and m.precision[0.5] == 0.0
    assert compute_metrics([], []).num_samples == 0


def test_invalid_counts():
    with pytest.raises(ValueError):
        compute_metrics([3], [2])
    with pytest.raises(ValueError):
        compute_metrics([1, 2], [3])


def test_intersection_union_by_hand():
    pred = torch.zeros(2, 3, 4, dtype=torch.bool)
    target = torch.zeros(2, 3, 4)
    pred[0, 0, :] = True  # 4 pixels
    target[0, 0, 2:] = 1  # 2 of them
    target[0, 2, 0] = 1  # plus one elsewhere
    target[1, 1, 1] = 1  # nothing predicted
    inter, union = intersection_union(pred, target)
    assert inter.tolist() == [2, 0] and union.tolist() == [5, 1]
    assert inter.dtype == torch.int64
    with pytest.raises(ValueError):
        intersection_union(pred, target[:, :2])


def test_predict_foreground_is_sigmoid_above_half():
    logits = torch.tensor([-1.0, 0.0, 1e-9, 0.1])
    assert predict_foreground(logits).tolist() == [False, False, False, True]


def test_accumulator_is_order_independent_and_matches_compute_metrics():
    acc = IoUAccumulator()
    acc.add([30, 0], [40, 0], indices=[2, 3])
    acc.add([90], [100], indices=[4])
    acc.add([50, 0], [100, 10], indices=[0, 1])
    assert len(acc) == 5
    idx, inter, union = acc.records()
    assert idx.tolist() == [0, 1, 2, 3, 4] and inter.tolist() == INTER
    assert acc.compute() == compute_metrics(INTER, UNION)
    assert acc.synchronize().compute() == acc.compute()  # no process group: identity


def test_accumulator_update_and_default_indices():
    acc = IoUAccumulator()
    pred = torch.ones(2, 2, 2, dtype=torch.bool)
    acc.update(pred, torch.tensor([[[1, 0], [0, 0]], [[1, 1], [1, 1]]]))
    acc.update(pred[:1], torch.zeros(1, 2, 2))
    idx, inter, union = acc.records()
    assert idx.tolist() == [0, 1, 2] and inter.tolist() == [1, 4, 0] and union.tolist() == [4] * 3


def test_duplicate_samples_are_refused():
    acc = IoUAccumulator()
    acc.add([1, 1], [2, 2], indices=[0, 0])
    with pytest.raises(RuntimeError, match="more than once"):
        acc.synchronize()
