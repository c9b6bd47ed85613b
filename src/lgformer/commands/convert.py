"""``lgformer convert CHECKPOINT OUT_DIR``: a checkpoint as a Hugging Face-style model folder.

The folder (``config.json`` + ``model.safetensors``) loads without unpickling anything,
memory-mapped, and works wherever a checkpoint does (``--checkpoint OUT_DIR``,
``LGFormer.from_pretrained(OUT_DIR)``). A released ``.pth`` records no input size; the
folder records 480, the released recipe's, unless ``--image-size`` says otherwise.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Convert a checkpoint (e.g. a released .pth) into a model folder."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="released .pth, training .pt or .safetensors")
    parser.add_argument("out_dir", type=Path, help="folder to write (new or empty)")
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="input size to record (default: the one the file records; 480 if none)",
    )
    parser.add_argument("--preset", default=None, help="force a config preset (rarely needed)")


def run(args: argparse.Namespace) -> int:
    import time

    import torch

    from lgformer import __version__
    from lgformer.checkpoints import load_model
    from lgformer.commands.progress import load_reporter
    from lgformer.errors import LGFormerError
    from lgformer.inference.predictor import check_image_size
    from lgformer.model import LGFormer
    from lgformer.model_info import ModelInfo, choose_image_size, describe_model, preset_of

    if args.image_size is not None:
        check_image_size(args.image_size)
    out: Path = args.out_dir
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LGFormerError(f"{out} exists and is not an empty folder: give a new folder")
    started = time.perf_counter()
    model = load_model(args.checkpoint, preset=args.preset, report=load_reporter(args.checkpoint))
    recorded = model.model_info
    size, why = choose_image_size(recorded, args.image_size, "--image-size")
    origin = (
        recorded.origin or f"converted from {Path(args.checkpoint).name} by lgformer {__version__}"
    )
    model.model_info = ModelInfo(image_size=size, origin=origin)
    print(describe_model(str(args.checkpoint), preset_of(model.config), size, why, origin))
    model.save_pretrained(out)
    reloaded = LGFormer.from_pretrained(out)
    theirs = reloaded.state_dict()
    for key, value in model.state_dict().items():
        if not torch.equal(theirs[key], value):
            raise LGFormerError(f"{out}: {key} did not read back equal; the disk may be full")
    took = time.perf_counter() - started
    print(f"wrote {out} (config.json, model.safetensors) in {took:.1f}s; it reads back equal")
    return 0
