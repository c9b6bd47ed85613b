"""Training-time validation runs the evaluator's loop: same numbers, model mode restored."""

from __future__ import annotations

import pytest
import torch

from lgformer.data.datasets import ReferEvalDataset, collate_samples
from lgformer.distributed import ProcessInfo
from lgformer.engine.precision import resolve_precision
from lgformer.engine.stop_signals import TrainingDataLoader
from lgformer.evaluation import evaluate
from lgformer.evaluation.loop import count_dataset, count_ious
from tests.evaluation.test_evaluator import SIZE, PixelwiseModel


@pytest.mark.parametrize("batch_size", [1, 3])
def test_validate_equals_evaluate(test_split, batch_size):
    """As ``Trainer._validate`` counts: the training loader class, the run's autocast."""
    dataset = ReferEvalDataset(test_split, image_size=SIZE)
    model = PixelwiseModel().train()
    metrics = (
        count_dataset(
            model,
            dataset,
            batch_size=batch_size,
            process=ProcessInfo(),
            num_workers=0,
            collate_fn=collate_samples,
            device=torch.device("cpu"),
            autocast=resolve_precision("fp32", torch.device("cpu")).autocast,
            loader_class=TrainingDataLoader,
        )
        .compute()
        .scores()
    )
    assert model.training  # restored for the next training epoch
    expected = evaluate(model, dataset, batch_size=2, num_workers=0, progress=False).metrics
    assert metrics["overall_iou"] == expected.overall_iou
    assert metrics["mean_iou"] == expected.mean_iou
    for k, v in expected.precision.items():
        assert metrics[f"precision@{k:g}"] == v
    assert 0 < expected.overall_iou < 100  # a non-trivial comparison


def test_count_ious_keys_samples_by_dataset_position(test_split):
    dataset = ReferEvalDataset(test_split, image_size=SIZE)
    subset = torch.utils.data.Subset(dataset, [4, 2, 0])  # loader order != dataset order
    loader = torch.utils.data.DataLoader(subset, batch_size=2, collate_fn=collate_samples)
    acc = count_ious(PixelwiseModel().eval(), loader, device=torch.device("cpu"))
    indices, inter, union = acc.records()
    assert sorted(indices.tolist()) == [0, 1, 2]
    full = evaluate(PixelwiseModel(), dataset, batch_size=1, num_workers=0, progress=False)
    by_position = dict(zip(indices.tolist(), zip(inter.tolist(), union.tolist())))
    for position, sample in enumerate([4, 2, 0]):
        assert by_position[position] == (full.intersections[sample], full.unions[sample])


def test_count_ious_rejects_an_unknown_resolution(test_split):
    loader = torch.utils.data.DataLoader(ReferEvalDataset(test_split, image_size=SIZE))
    with pytest.raises(ValueError, match="resolution"):
        count_ious(PixelwiseModel(), loader, device=torch.device("cpu"), resolution="native")
