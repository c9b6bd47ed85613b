"""``evaluate`` (batches, images sent once, the text-free first stage once per image,
workers) gives the numbers of the authors' batch-1 loop (benchmarks/bench_evaluation.py).

The bundled model on ``lgformer synth`` scenes: real predictions, so every metric
(oIoU, mIoU, P@0.5 .. P@0.9) is away from 0 and 100 and would move if a sample were
lost, doubled, paired with the wrong image or computed differently.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lgformer.bundled import BUNDLED_IMAGE_SIZE, bundled_weights_path
from lgformer.checkpoints import load_model
from lgformer.data.datasets import ReferEvalDataset, collate_shared_images
from lgformer.data.refer import load_refer
from lgformer.data.synthetic import write_dataset
from lgformer.evaluation import IoUAccumulator, evaluate
from lgformer.evaluation.loop import takes_image_index
from lgformer.tokenizer import SentenceTokenizer
from tests.benchmark_scripts import load_benchmark_script

SIZE = BUNDLED_IMAGE_SIZE


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    return load_model(bundled_weights_path()).eval()


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, model) -> ReferEvalDataset:
    root = tmp_path_factory.mktemp("synthetic_eval")
    write_dataset(root, 5, seed=3, image_size=160)
    tokenizer = SentenceTokenizer(max_words=model.config.max_words)
    split = load_refer(root, "synthetic", "unc", "train", tokenizer=tokenizer)
    return ReferEvalDataset(split, image_size=SIZE)


@pytest.fixture(scope="module")
def batch1(model, dataset) -> IoUAccumulator:
    return load_benchmark_script("bench_evaluation").batch1_loop(model, dataset)


def test_the_fixture_has_real_predictions(batch1, dataset) -> None:
    m = batch1.compute().as_dict()
    assert m["num_samples"] == len(dataset) >= 30
    assert 20 < m["overall_iou"] < 100 and 20 < m["mean_iou"] < 100
    assert 0 < m["precision@0.9"] < m["precision@0.5"] < 100, m


@pytest.mark.parametrize(("batch_size", "workers"), [(16, 0), (5, 2), (1, 0)])
def test_evaluate_reports_the_batch_1_numbers(model, dataset, batch1, batch_size, workers):
    result = evaluate(model, dataset, batch_size=batch_size, num_workers=workers, progress=False)
    assert result.metrics.as_dict() == batch1.compute().as_dict()
    assert result.metrics.num_samples == len(dataset)


def test_batches_hold_fewer_images_than_sentences(model, dataset) -> None:
    """What makes the batched run cheaper: the sharing is real on this data."""
    assert takes_image_index(model)
    batch = collate_shared_images([dataset[i] for i in range(16)])
    assert batch["image"].shape[0] < 16 == batch["image_index"].shape[0]
    expected = torch.stack([dataset[i]["image"] for i in range(16)])
    torch.testing.assert_close(batch["image"][batch["image_index"]], expected, rtol=0, atol=0)
    assert batch["target"].dtype == torch.bool


def test_per_sample_counts_equal_the_batch_1_loop(model, dataset, batch1) -> None:
    """Per-sample pixel counts of 16-sentence batches against one sentence at a time."""
    result = evaluate(model, dataset, batch_size=16, num_workers=0, progress=False)
    indices, inter, union = batch1.records()
    np.testing.assert_array_equal(indices, np.arange(len(dataset)))
    np.testing.assert_array_equal(result.intersections, inter)
    np.testing.assert_array_equal(result.unions, union)
