"""``lgformer segment``: masks and overlays for one image and several sentences."""

from __future__ import annotations

import argparse
from pathlib import Path

from lgformer.commands.model_options import add_model_run_options

HELP = "Segment the objects that sentences refer to in one image."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        default=None,
        help="released .pth, training .pt, .safetensors, model folder or .onnx "
        "(default: the bundled model)",
    )
    parser.add_argument("--image", required=True, help="image file (any Pillow-readable format)")
    parser.add_argument(
        "--text", action="append", required=True, help="a referring sentence; repeat for more"
    )
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    add_model_run_options(parser)


def run(args: argparse.Namespace) -> int:
    from lgformer.commands.outputs import refuse_inputs_as_outputs
    from lgformer.commands.progress import load_reporter
    from lgformer.data.image_io import load_rgb
    from lgformer.inference import ReferringSegmenter
    from lgformer.inference.visualize import (
        KINDS,
        prepare_output_dir,
        save_mask_and_overlay,
        slug,
    )

    stems = [f"{i:02d}_{slug(sentence)}" for i, sentence in enumerate(args.text)]
    refuse_inputs_as_outputs(
        [("--out", args.out / f"{stem}_{kind}.png") for stem in stems for kind in KINDS],
        [("--image", args.image), ("--checkpoint", args.checkpoint)],
        [("--checkpoint model folder", args.checkpoint)],
    )
    rgb = load_rgb(args.image)  # fail on a bad image or --out before loading the model
    prepare_output_dir(args.out)
    seg = ReferringSegmenter.from_checkpoint(
        args.checkpoint,
        device=args.device,
        preset=args.preset,
        image_size=args.image_size,
        report=load_reporter(args.checkpoint),
    )
    print(seg.description, flush=True)
    masks = seg.segment(rgb, args.text)
    for stem, sentence, mask in zip(stems, args.text, masks):
        mask_path, overlay_path = save_mask_and_overlay(rgb, mask, args.out, stem)
        print(f"{sentence!r}: {mask.mean() * 100:.1f}% of the image -> {overlay_path}")
    return 0
