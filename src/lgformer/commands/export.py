"""``lgformer export --checkpoint CKPT --out model.onnx``: the model as an ONNX graph.

Inputs ``image`` (B, 3, S, S) float32 ImageNet-normalised, ``token_ids`` and
``attention_mask`` (B, 20) int64; output ``pred_logits`` (B, 1, S, S); B dynamic, S
the size the model was trained at unless ``--image-size``. See
``lgformer.export.onnx_export``; ``segment --checkpoint model.onnx`` runs the file.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "Export a model to ONNX (for onnxruntime and other runtimes)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="released .pth, training .pt, .safetensors or model folder",
    )
    parser.add_argument("--out", required=True, type=Path, help="the .onnx file to write")
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="the graph's fixed input size (default: the size the model was trained at)",
    )
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default 18; >= 16)")
    parser.add_argument("--preset", default=None, help="force a config preset (rarely needed)")


def run(args: argparse.Namespace) -> int:
    import time

    from lgformer.checkpoints import load_model
    from lgformer.commands.outputs import refuse_inputs_as_outputs
    from lgformer.commands.progress import load_reporter
    from lgformer.errors import LGFormerError
    from lgformer.inference.predictor import check_image_size
    from lgformer.model_info import choose_image_size, describe_model, preset_of

    try:
        from lgformer.export.onnx_export import DEFAULT_OPSET, MIN_OPSET, export_onnx
    except ImportError as err:
        raise LGFormerError(f"export needs {err.name}: pip install 'lgformer[onnx]'") from err
    opset = DEFAULT_OPSET if args.opset is None else args.opset
    if opset < MIN_OPSET:
        raise LGFormerError(f"--opset {opset}: grid_sample needs opset {MIN_OPSET} or later")
    if args.image_size is not None:
        check_image_size(args.image_size)
    if args.out.suffix.lower() != ".onnx" or args.out.is_dir():
        raise LGFormerError(f"--out {args.out}: give a file name ending in .onnx")
    refuse_inputs_as_outputs(
        [("--out", args.out)],
        [("--checkpoint", args.checkpoint)],
        [("--checkpoint model folder", args.checkpoint)],
    )
    model = load_model(args.checkpoint, preset=args.preset, report=load_reporter(args.checkpoint))
    size, why = choose_image_size(model.model_info, args.image_size, "--image-size")
    info = model.model_info
    print(describe_model(str(args.checkpoint), preset_of(model.config), size, why, info.origin))
    started = time.perf_counter()
    print(f"exporting (opset {opset}; a Swin-B takes minutes) ...", flush=True)
    export_onnx(model, args.out, image_size=size, opset=opset)
    took = time.perf_counter() - started
    print(f"wrote {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB) in {took:.0f}s")
    return 0
