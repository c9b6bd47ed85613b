"""``lgformer evaluate``: the paper's metrics for a checkpoint on a REFER split.

Runs as one process or under ``torchrun --nproc_per_node N`` (each process
evaluates a contiguous shard; the results are gathered and are identical to
one process). Only rank 0 prints and writes files.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

HELP = "Evaluate a checkpoint on a REFER dataset split (the paper's protocol)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint",
        required=True,
        help="released .pth, training .pt, .safetensors or model folder",
    )
    parser.add_argument(
        "--data-root",
        required=True,
        help="holds <dataset>/ and images/ (REFER layout), or the Hugging Face parquet "
        "files (or a hub dataset id, e.g. jxu124/refcoco, where there is a network)",
    )
    parser.add_argument(
        "--data-format",
        choices=("auto", "refer", "hf-parquet"),
        default="auto",
        help="auto (default: what --data-root holds), refer, hf-parquet",
    )
    parser.add_argument(
        "--image-dir",
        type=Path,
        default=None,
        help="hf-parquet: the COCO train2014 images (default: <data-root>/train2014)",
    )
    parser.add_argument(
        "--dataset",
        default="refcoco",
        help="refcoco (default), refcoco+, refcocog, refclef or synthetic",
    )
    parser.add_argument("--split-by", default="unc", help="unc (default), google, umd or berkeley")
    parser.add_argument(
        "--split", default="val", help="train, val (default), test, testA, testB (, testC)"
    )
    parser.add_argument(
        "--resolution",
        choices=("input", "original"),
        default="input",
        help="input: compare at the model input size, the paper's protocol (default); "
        "original: upsample the logits to each image's size (stricter)",
    )
    parser.add_argument("--batch-size", type=int, default=16, help="sentences per forward pass")
    parser.add_argument(
        "--num-workers",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="data loading worker processes per evaluating process",
    )
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="model input size (default: the size the model was trained at; 480 for a "
        "released .pth; at least 64)",
    )
    parser.add_argument("--output", type=Path, default=None, help="write a JSON summary here")
    parser.add_argument(
        "--per-sample", type=Path, default=None, help="write ref_id,sent_id,intersection,union,iou"
    )
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if any)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    import torch

    from lgformer.checkpoints import load_model
    from lgformer.commands.outputs import refuse_inputs_as_outputs
    from lgformer.commands.progress import load_reporter
    from lgformer.data.datasets import ReferEvalDataset
    from lgformer.data.hf_parquet import parquet_files
    from lgformer.data.refer_layout import (
        check_combination,
        image_dir,
        instances_path,
        refs_path,
    )
    from lgformer.data.sources import load_split
    from lgformer.errors import LGFormerError
    from lgformer.evaluation import evaluate, init_distributed, shutdown_distributed
    from lgformer.evaluation.report import (
        check_output_file,
        format_table,
        summary,
        write_json,
        write_or_rescue,
        write_per_sample_csv,
    )
    from lgformer.inference.predictor import MIN_IMAGE_SIZE
    from lgformer.model_info import choose_image_size, describe_model, preset_of
    from lgformer.tokenizer import SentenceTokenizer

    small = args.image_size is not None and args.image_size < MIN_IMAGE_SIZE
    if args.batch_size < 1 or args.num_workers < 0 or small:
        raise LGFormerError(
            f"--batch-size must be >= 1, --num-workers >= 0, --image-size >= {MIN_IMAGE_SIZE}"
        )
    # Before the evaluation, which may take an hour, not when its results are written.
    check_combination(args.dataset, args.split_by, args.split)
    refuse_inputs_as_outputs(
        [("--output", args.output), ("--per-sample", args.per_sample)],
        [("--checkpoint", args.checkpoint),
         ("refs file", refs_path(args.data_root, args.dataset, args.split_by)),
         ("instances file", instances_path(args.data_root, args.dataset)),
         *(("parquet file", f) for f in parquet_files(Path(args.data_root)))],
        [("--checkpoint model folder", args.checkpoint),
         ("image folder", image_dir(args.data_root, args.dataset)),
         ("--image-dir folder", args.image_dir)],
    )  # fmt: skip
    check_output_file(args.output, "--output")
    check_output_file(args.per_sample, "--per-sample")
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        raise LGFormerError(f"--device {device}: CUDA is not available here")
    process = init_distributed(device)
    evaluated = False
    try:
        if torch.device(device).type == "cuda" and process.world_size > 1:
            device = f"cuda:{process.local_rank}"
        # Data first: a wrong path fails in seconds, before a large checkpoint loads.
        started = time.perf_counter()
        source = {"data_format": args.data_format, "image_dir": args.image_dir}
        split = load_split(args.data_root, args.dataset, args.split_by, args.split, **source)
        model = load_model(
            args.checkpoint,
            device,
            report=load_reporter(args.checkpoint) if process.is_main else None,
        )
        image_size, why = choose_image_size(model.model_info, args.image_size, "--image-size")
        if process.is_main:
            preset = preset_of(model.config)
            print(describe_model(args.checkpoint, preset, image_size, why, model.model_info.origin))
        max_words = model.config.max_words
        if split.token_ids.shape[1] != max_words:
            split = load_split(
                args.data_root,
                args.dataset,
                args.split_by,
                args.split,
                tokenizer=SentenceTokenizer(max_words=max_words),
                **source,
            )
        if process.is_main:
            print(f"{split.describe()}; loaded in {time.perf_counter() - started:.1f}s")
        dataset = ReferEvalDataset(
            split, image_size=image_size, keep_original=args.resolution == "original"
        )
        started = time.perf_counter()
        result = evaluate(
            model,
            dataset,
            batch_size=args.batch_size,
            num_workers=args.num_workers,
            device=device,
            resolution=args.resolution,
            process=process,
            progress=not args.no_progress,
        )
        seconds = time.perf_counter() - started
        evaluated = True  # every process reaches the shutdown barrier from here on
        if not process.is_main:
            return 0
        title = f"{args.dataset}({args.split_by}) {args.split} - {args.checkpoint}"
        print(format_table(result, title))
        print(f"{len(dataset)} samples in {seconds:.1f}s ({len(dataset) / seconds:.1f} samples/s)")
        context = {
            "dataset": args.dataset,
            "split_by": args.split_by,
            "split": args.split,
            "checkpoint": str(args.checkpoint),
            "image_size": image_size,
            "world_size": process.world_size,
        }
        failures = []
        outputs = [
            (args.output, "--output", "summary",
             lambda path: write_json(path, summary(result, **context))),
            (args.per_sample, "--per-sample", "per-sample results",
             lambda path: write_per_sample_csv(path, result)),
        ]  # fmt: skip
        for path, option, what, write in outputs:
            if path is None:
                continue
            try:  # write both before reporting a failure: one bad path loses nothing else
                print(f"{what} -> {write_or_rescue(write, path, option)}")
            except LGFormerError as err:
                failures.append(str(err))
        if failures:
            raise LGFormerError("; ".join(failures))
        return 0
    finally:
        shutdown_distributed(process, wait_for_peers=evaluated)
