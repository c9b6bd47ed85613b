"""benchmarks/shape_learnability.py: per-pixel category labels and the three learners."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.benchmark_scripts import load_benchmark_script


def _load_script():
    return load_benchmark_script("shape_learnability")


def test_label_maps_paint_each_object_with_its_category(tiny_synthetic: Path) -> None:
    script = _load_script()
    images, labels, names = script.category_maps(tiny_synthetic, 64, limit=3)
    assert images.shape == (3, 3, 64, 64) and labels.shape == (3, 64, 64)
    assert labels.dtype == torch.int64
    instances = json.loads((tiny_synthetic / "synthetic" / "instances.json").read_text())
    first = min(e["id"] for e in instances["images"])
    anns = [a for a in instances["annotations"] if a["image_id"] == first]
    categories = {c["id"]: c["name"] for c in instances["categories"]}
    # Every label of the first image is background or the category of one of its objects.
    present = set(np.unique(labels[0].numpy()).tolist())
    allowed = {0} | {1 + names.index(categories[a["category_id"]]) for a in anns}
    assert present <= allowed and len(present) > 1


@pytest.mark.parametrize("learner", ["cnn", "swin", "lgformer"])
def test_each_learner_trains_and_reports_an_accuracy(tiny_synthetic: Path, learner: str) -> None:
    script = _load_script()
    images, labels, names = script.category_maps(tiny_synthetic, 64, limit=5)
    result = script.learn_shapes(
        learner, images, labels, num_classes=1 + len(names), budget=0.5, batch=2,
        report_every=1000,
    )  # fmt: skip
    assert result["steps"] >= 1 and result["samples"] == 2 * result["steps"]
    assert 0.0 <= result["val_foreground_accuracy"] <= 1.0


def test_a_cnn_learns_the_shapes_of_a_single_image(tiny_synthetic: Path) -> None:
    """The loop really optimises: memorising one image's labels goes well above chance."""
    script = _load_script()
    images, labels, names = script.category_maps(tiny_synthetic, 64, limit=1)
    images, labels = images.repeat(2, 1, 1, 1), labels.repeat(2, 1, 1)
    result = script.learn_shapes(
        "cnn", images, labels, num_classes=1 + len(names), budget=8.0, batch=1,
        val_share=0.5, report_every=10_000,
    )  # fmt: skip
    assert result["val_foreground_accuracy"] > 0.8


def test_saved_swin_weights_load_as_an_imagenet_warm_start(tiny_synthetic: Path, tmp_path: Path):
    """--save-swin writes a file that init.swin loads into every Swin tensor of the model."""
    from lgformer.checkpoints.imagenet import load_swin_imagenet
    from lgformer.engine.build import build_model
    from lgformer.engine.config import load_train_config

    script = _load_script()
    images, labels, names = script.category_maps(tiny_synthetic, 64, limit=5)
    path = tmp_path / "swin_shapes.pth"
    script.learn_shapes(
        "swin", images, labels, num_classes=1 + len(names), budget=0.3, batch=2,
        report_every=1000, save_swin=path,
    )  # fmt: skip
    saved = torch.load(path)["model"]
    cfg = load_train_config(script.BASE_CONFIG, ["validate=false"])
    model = build_model(cfg, load_pretrained=False)
    report = load_swin_imagenet(model.backbone, path)
    assert not report.unexpected and len(report.loaded) == len(
        [k for k in saved if "relative_position_index" not in k]
    )
    assert all(".fusion." in k or "gate" in k or k.startswith("norm") for k in report.missing)
    key = "layers.1.blocks.0.mlp.fc1.weight"
    assert torch.equal(model.backbone.state_dict()[key], saved[key])
    with pytest.raises(ValueError, match="Swin weights"):
        script.learn_shapes("cnn", images, labels, num_classes=6, budget=0.1, save_swin=path)
