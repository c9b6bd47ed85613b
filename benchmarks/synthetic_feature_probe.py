r"""Linear probes: does a model's feature map know each object's shape, colour and size?

    python benchmarks/synthetic_feature_probe.py --data data/synthetic3500 \
        [--checkpoint src/lgformer/weights/synthetic_small.safetensors] [--random] \
        [--images 700] [--image-size 128]

For the first ``--images`` images it runs the model once with a neutral sentence
("the object"), averages each feature map (the four backbone stages and the pixel
decoder's mask features) over every object's visible pixels, and fits a
multinomial logistic regression per attribute (shape, colour, size; L-BFGS, fixed
L2) on 70% of the objects, scoring accuracy on the rest. ``--random`` re-initialises
the model first, which gives the floor a trained model should rise above. Prints
one JSON object {feature map: {attribute: {"accuracy", "chance"}}}.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from lgformer.bundled import BUNDLED_IMAGE_SIZE, bundled_weights_path
from lgformer.checkpoints import load_model
from lgformer.data.image_io import load_rgb
from lgformer.data.masks import segmentation_to_mask
from lgformer.data.refer_layout import image_dir
from lgformer.data.synthetic.writer import DATASET
from lgformer.data.transforms import image_to_input, resize_mask
from lgformer.tokenizer import SentenceTokenizer
from synthetic_failure_modes import annotations_by_image

ATTRIBUTES = ("shape", "colour", "size")


def pooled_object_features(
    model: torch.nn.Module, data_root: Path, images: int, size: int
) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """({map name: (K, C) mean feature of each of the K objects}, {attribute: K labels})."""
    instances = json.loads((data_root / DATASET / "instances.json").read_text())
    anns = annotations_by_image(instances["annotations"])
    folder = image_dir(data_root, DATASET)
    entries = sorted(instances["images"], key=lambda e: e["id"])[:images]
    ids, mask = SentenceTokenizer(max_words=model.config.max_words)(["the object"])
    feats: dict[str, list[np.ndarray]] = defaultdict(list)
    labels: dict[str, list[str]] = defaultdict(list)
    with torch.inference_mode():
        for entry in entries:
            rgb = load_rgb(folder / entry["file_name"], exif_transpose=False)
            image = image_to_input(rgb, size)[None]
            out = model(image, ids, mask, return_intermediates=True)
            maps = {f"stage{i + 1}": f[0] for i, f in enumerate(out.backbone.features)}
            maps["mask_features"] = out.pixel_decoder.mask_features[0]
            for ann in anns[entry["id"]]:
                visible = segmentation_to_mask(ann["segmentation"], entry["height"], entry["width"])
                weights = torch.from_numpy(resize_mask(visible, size)).float()[None, None]
                for name, fmap in maps.items():
                    w = F.adaptive_avg_pool2d(weights, fmap.shape[-2:])[0, 0]
                    feats[name].append(((fmap.float() * w).sum((1, 2)) / w.sum()).numpy())
                for attribute in ATTRIBUTES:
                    labels[attribute].append(ann["attributes"][attribute])
    return {k: np.stack(v) for k, v in feats.items()}, dict(labels)


def probe_accuracy(x: np.ndarray, labels: list[str], train_share: float = 0.7) -> dict[str, float]:
    """Held-out accuracy of a logistic regression from (K, C) features to K labels, and
    the share of the most common held-out label (chance)."""
    vocab = sorted(set(labels))
    y = torch.tensor([vocab.index(v) for v in labels])
    feats = torch.from_numpy(x).double()
    feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-6)
    n_train = int(len(y) * train_share)
    weight = torch.zeros(feats.shape[1], len(vocab), dtype=torch.double, requires_grad=True)
    bias = torch.zeros(len(vocab), dtype=torch.double, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], max_iter=300)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = feats[:n_train] @ weight + bias
        loss = F.cross_entropy(logits, y[:n_train]) + 1e-3 * (weight**2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        predicted = (feats[n_train:] @ weight + bias).argmax(1)
    held_out = y[n_train:]
    return {
        "accuracy": round(float((predicted == held_out).double().mean()), 3),
        "chance": round(float(np.bincount(held_out.numpy()).max() / len(held_out)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="lgformer synth output")
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: bundled model")
    parser.add_argument("--random", action="store_true", help="re-initialise the model")
    parser.add_argument("--images", type=int, default=700)
    parser.add_argument("--image-size", type=int, default=BUNDLED_IMAGE_SIZE)
    args = parser.parse_args()
    model = load_model(args.checkpoint or bundled_weights_path()).eval()
    if args.random:
        torch.manual_seed(0)
        model.init_weights()
    feats, labels = pooled_object_features(model, args.data, args.images, args.image_size)
    table = {
        name: {a: probe_accuracy(x, labels[a]) for a in ATTRIBUTES} for name, x in feats.items()
    }
    print(json.dumps(table, indent=1))


if __name__ == "__main__":
    main()
