"""``lgformer demo``: a fresh synthetic scene segmented by the bundled model, offline."""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path

HELP = "Segment a fresh synthetic scene with the bundled model."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("demo_out"), help="output directory (default: demo_out)"
    )
    parser.add_argument("--seed", type=int, default=None, help="scene seed (default: random)")
    parser.add_argument(
        "--scenes", type=int, default=1, help="number of scenes to segment (default: 1)"
    )
    parser.add_argument(
        "--checkpoint", default=None, help="use these weights instead of the bundled model"
    )
    parser.add_argument(
        "--device",
        default="cpu",
        help="cpu (default: the bundled model is small) or cuda, cuda:1",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="model input size (default: the size the model was trained at)",
    )


def mask_iou(pred, target) -> float:
    union = (pred | target).sum()
    return float((pred & target).sum() / union) if union else 0.0


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    from lgformer.bundled import SCENE_SIZE
    from lgformer.commands.outputs import refuse_inputs_as_outputs
    from lgformer.commands.progress import load_reporter
    from lgformer.data.synthetic.build import render_scene
    from lgformer.errors import LGFormerError
    from lgformer.inference import ReferringSegmenter
    from lgformer.inference.contact_sheet import contact_sheet
    from lgformer.inference.predictor import check_image_size
    from lgformer.inference.visualize import (
        overlay_mask,
        prepare_output_dir,
        save_mask_and_overlay,
        slug,
    )

    if args.scenes < 1:
        raise LGFormerError(f"--scenes must be at least 1, got {args.scenes}")
    if args.seed is not None and args.seed < 0:
        raise LGFormerError(f"--seed must be 0 or more, got {args.seed}")
    # Omitted means the model's own size; 0 or less is an error, not "the default".
    if args.image_size is not None:
        check_image_size(args.image_size)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**31)
    refuse_inputs_as_outputs(
        [], [("--checkpoint", args.checkpoint)],
        output_dirs=[("--out", args.out / f"scene_{seed + k}") for k in range(args.scenes)],
    )  # fmt: skip
    prepare_output_dir(args.out)
    segmenter = ReferringSegmenter.from_checkpoint(
        args.checkpoint,
        device=args.device,
        image_size=args.image_size,
        report=load_reporter(args.checkpoint),
    )
    print(segmenter.description, flush=True)
    ious = []
    for k in range(args.scenes):
        scene_seed = seed + k
        rgb, objects, expressions = render_scene(scene_seed, SCENE_SIZE)
        out_dir = args.out / f"scene_{scene_seed}"
        out_dir.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rgb).save(out_dir / "scene.png")
        sentences = [s for s, _ in expressions]
        masks = segmenter.segment(rgb, sentences)
        print(f"scene {scene_seed} ({len(objects)} objects) -> {out_dir}")
        panels = []
        for i, ((sentence, index), mask) in enumerate(zip(expressions, masks)):
            iou = mask_iou(mask, objects[index].mask)
            ious.append(iou)
            save_mask_and_overlay(rgb, mask, out_dir, f"{i:02d}_{slug(sentence)}")
            panels.append((overlay_mask(rgb, mask), f"{sentence} (IoU {iou * 100:.1f}%)"))
            print(f"  IoU {iou * 100:5.1f}%  {sentence}")
        sheet = contact_sheet(rgb, panels, title=f"scene {scene_seed}")
        sheet.save(out_dir / "contact_sheet.png")
        print(f"  contact sheet: {out_dir / 'contact_sheet.png'}")
    print(f"mean IoU over {len(ious)} expressions: {sum(ious) / len(ious) * 100:.1f}%")
    return 0
