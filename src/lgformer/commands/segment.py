"""``lgformer segment``: masks and overlays for one image and several sentences."""

from __future__ import annotations

import argparse
from pathlib import Path

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
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if any)")
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="model input size (default: the size the model was trained at; 480 for a "
        "released .pth)",
    )
    parser.add_argument("--preset", default=None, help="force a config preset (rarely needed)")


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
