r"""How fast can a vision trunk learn to tell the synthetic shapes apart? (CPU, fixed time)

    python benchmarks/shape_learnability.py --data data/synthetic3500 --learner lgformer \
        --budget 240 --threads 1 [--size 128] [--images 2000] [--config CONFIG]

Trains one trunk plus a 1x1 classifier to label every pixel at stride 8 with the
COCO category of the object under it (the synthetic benchmark's categories are
its shapes; 0 is background) for ``--budget`` seconds, batch 16, AdamW 1e-3, and
prints the foreground pixel accuracy on held-out images every 100 steps and in a
final ``RESULT`` line. Learners:

- ``lgformer``: the backbone of the training config (Swin stages with the VLBA
  fusion, the MiniLM text encoder frozen, a fixed neutral sentence); the
  classifier reads the stage-2 output, as the decoders do.
- ``swin``: the same Swin stages with the fusion left out (the classifier reads
  the stage-2 tokens).
- ``cnn``: a reference: four 3x3 convolutions with three 2x2 max-pools.

It isolates the visual half of the referring task: a trunk that cannot learn the
shapes here cannot ground "the star" either. With ``--save-swin FILE`` (learners
``swin`` and ``lgformer``) the trained Swin part is written in the layout of the
official ImageNet files, so that a training run can start from it
(``--set init.swin=FILE``): a shape warm start.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lgformer.data.categories import load_image_categories
from lgformer.data.image_io import load_rgb
from lgformer.data.refer_layout import image_dir
from lgformer.data.synthetic.writer import DATASET
from lgformer.data.transforms import image_to_input

BASE_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "synthetic_bundled.yaml"
LEARNERS = ("lgformer", "swin", "cnn")
BACKGROUND_WEIGHT = 0.2  # most pixels are background


def category_label_maps(
    data_root: Path, size: int, limit: int | None = None
) -> tuple[list[dict], dict[int, np.ndarray], list[str]]:
    """Per-pixel category labels of the images of a REFER-layout dataset (first ``limit``
    by id, or all).

    Returns (the images' instances.json entries, {image id: (S, S) int64 map with 0 for
    background and 1 + the index in ``names`` of the visible object's category},
    category names in COCO id order).
    """
    instances = json.loads((data_root / DATASET / "instances.json").read_text())
    entries = sorted(instances["images"], key=lambda e: e["id"])[:limit]
    categories = load_image_categories(data_root, DATASET, [e["id"] for e in entries])
    maps = {e["id"]: categories.label_map(e["id"], e["height"], e["width"], size) for e in entries}
    return entries, maps, categories.names


def category_maps(
    data_root: Path, size: int, limit: int
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """The first ``limit`` images (by id) with their label maps: (images (N, 3, S, S)
    model inputs, labels (N, S, S) int64 as in ``category_label_maps``, category names)."""
    entries, maps, names = category_label_maps(data_root, size, limit)
    folder = image_dir(data_root, DATASET)
    images = [
        image_to_input(load_rgb(folder / e["file_name"], exif_transpose=False), size)
        for e in entries
    ]
    labels = [torch.from_numpy(maps[e["id"]]) for e in entries]
    return torch.stack(images), torch.stack(labels), names


class SmallCNN(nn.Module):
    """(B, 3, H, W) -> (B, 64, H/8, W/8)."""

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for c_in, c_out in ((3, 32), (32, 64), (64, 64)):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        layers += [nn.Conv2d(64, 64, 3, padding=1), nn.ReLU()]
        self.body = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.body(image)


def swin_state_dict(backbone: nn.Module) -> dict[str, torch.Tensor]:
    """The Swin part of an LGFormer backbone under the official ImageNet key names
    (``patch_embed.*``, ``layers.{i}.blocks.*``, ``layers.{i}.downsample.*``)."""
    return {
        k: v.detach().clone()
        for k, v in backbone.state_dict().items()
        if k.startswith("patch_embed.") or ".blocks." in k or ".downsample." in k
    }


def build_trunk(
    learner: str, config: Path
) -> tuple[Callable, list[nn.Parameter], int, nn.Module | None]:
    """(forward (B, 3, H, W) -> (B, C, H/8, W/8), its trainable parameters, C, the
    LGFormer backbone or None for the CNN)."""
    if learner == "cnn":
        cnn = SmallCNN()
        return cnn, list(cnn.parameters()), 64, None
    from lgformer.engine.build import build_model
    from lgformer.engine.config import load_train_config
    from lgformer.tokenizer import SentenceTokenizer

    cfg = load_train_config(config, ["validate=false"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_model(cfg, log=lambda _: None)
    backbone = model.backbone
    ids, mask = SentenceTokenizer(max_words=model.config.max_words)(["the object"])
    with torch.no_grad():
        words = model.text_encoder(input_ids=ids, attention_mask=mask).last_hidden_state
    words = words.transpose(1, 2)  # (1, D, L)
    word_mask = mask.unsqueeze(-1).float()  # (1, L, 1)
    channels = model.config.swin.stage_channels[1]

    def lgformer_forward(image: torch.Tensor) -> torch.Tensor:
        b = len(image)
        out = backbone(image, words.expand(b, -1, -1), word_mask.expand(b, -1, -1))
        return out.features[1]

    def swin_forward(image: torch.Tensor) -> torch.Tensor:
        x, h, w = backbone.patch_embed(image)
        for i, stage in enumerate(backbone.layers[:2]):
            for block in stage.blocks:  # one block per stage: no shifted windows, no mask
                x = block(x, h, w, None)
            if i == 1:
                return x.view(len(image), h, w, -1).permute(0, 3, 1, 2)
            x = stage.downsample(x, h, w)
            h, w = (h + 1) // 2, (w + 1) // 2
        raise AssertionError("unreachable")

    if learner == "swin":
        if any(len(stage.blocks) > 1 for stage in backbone.layers[:2]):
            raise SystemExit("the swin learner supports one block per stage (no shift)")
        params = [p for n, p in backbone.named_parameters() if ".fusion." not in n]
        params = [p for p in params if p.requires_grad]
        return swin_forward, params, channels, backbone
    params = [p for p in backbone.parameters() if p.requires_grad]
    return lgformer_forward, params, channels, backbone


def foreground_accuracy(
    trunk: Callable, head: nn.Module, images: torch.Tensor, labels: torch.Tensor
) -> float:
    """Share of object pixels (at the trunk's stride) labelled with the right category."""
    right = total = 0
    with torch.no_grad():
        for k in range(0, len(images), 50):
            logits = head(trunk(images[k : k + 50]))
            target = downsample_labels(labels[k : k + 50], logits.shape[-2:])
            fg = target > 0
            right += int(((logits.argmax(1) == target) & fg).sum())
            total += int(fg.sum())
    return right / max(total, 1)


def downsample_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(B, S, S) int64 -> (B, h, w) by nearest neighbour."""
    return F.interpolate(labels[:, None].float(), size=size, mode="nearest")[:, 0].long()


def learn_shapes(
    learner: str,
    images: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_classes: int,
    budget: float,
    config: Path = BASE_CONFIG,
    val_share: float = 0.15,
    batch: int = 16,
    report_every: int = 100,
    save_swin: Path | None = None,
) -> dict[str, float]:
    """Train for ``budget`` seconds; returns steps, samples, seconds, final val accuracy.
    ``save_swin``: also write the trained Swin part there (``{"model": swin_state_dict}``)."""
    torch.manual_seed(0)
    trunk, params, channels, backbone = build_trunk(learner, config)
    if save_swin is not None and backbone is None:
        raise ValueError("only the swin and lgformer learners have Swin weights to save")
    head = nn.Conv2d(channels, num_classes, 1)
    n_val = max(1, int(len(images) * val_share))
    train_x, train_y = images[n_val:], labels[n_val:]
    val_x, val_y = images[:n_val], labels[:n_val]
    optimizer = torch.optim.AdamW(params + list(head.parameters()), lr=1e-3)
    weight = torch.ones(num_classes)
    weight[0] = BACKGROUND_WEIGHT
    generator = torch.Generator().manual_seed(0)
    start, step = time.perf_counter(), 0
    while time.perf_counter() - start < budget:
        pick = torch.randint(0, len(train_x), (batch,), generator=generator)
        logits = head(trunk(train_x[pick]))
        target = downsample_labels(train_y[pick], logits.shape[-2:])
        loss = F.cross_entropy(logits, target, weight=weight)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        step += 1
        if step % report_every == 0:
            acc = foreground_accuracy(trunk, head, val_x, val_y)
            elapsed = time.perf_counter() - start
            print(f"{learner} step {step} {elapsed:.0f}s loss {loss.item():.3f} val {acc:.3f}")
    seconds = time.perf_counter() - start
    if save_swin is not None:
        torch.save({"model": swin_state_dict(backbone)}, save_swin)
    return {
        "steps": step,
        "samples": step * batch,
        "seconds": round(seconds, 1),
        "val_foreground_accuracy": round(foreground_accuracy(trunk, head, val_x, val_y), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="lgformer synth output")
    parser.add_argument("--learner", choices=LEARNERS, required=True)
    parser.add_argument("--budget", type=float, default=240.0, help="training seconds")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--size", type=int, default=128, help="model input side")
    parser.add_argument("--images", type=int, default=2000, help="images used (15%% held out)")
    parser.add_argument("--config", type=Path, default=BASE_CONFIG, help="training config")
    parser.add_argument("--save-swin", type=Path, default=None, help="write the Swin weights")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images, labels, names = category_maps(args.data, args.size, args.images)
    result = learn_shapes(
        args.learner, images, labels, num_classes=1 + len(names), budget=args.budget,
        config=args.config, save_swin=args.save_swin,
    )  # fmt: skip
    print(f"RESULT {args.learner} {json.dumps(result)}")


if __name__ == "__main__":
    main()
