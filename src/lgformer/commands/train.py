"""``lgformer train``: train from a YAML config, on one process or under ``torchrun``.

    lgformer train --config refcoco
    lgformer train --config refcoco --set optim.lr=1e-4 --set output.dir=runs/x
    torchrun --nproc_per_node 2 -m lgformer.cli train --config refcoco

A run resumes by itself from ``<output.dir>/last.pt`` when that file exists.
``--resume OTHER.pt`` into an ``output.dir`` that holds another run first moves that
run's checkpoints, config and logs to ``<output.dir>/replaced/`` (as ``--no-resume``
does), so no run is overwritten. Before anything loads, ``output.dir`` must be a
writable directory and no file the run writes may be one of its inputs.
Ctrl-C or SIGTERM stops it after the current step with that step saved to last.pt;
the command then exits with 128 + the signal's number (130 for SIGINT, 143 for
SIGTERM), as a process ended by the signal would. A second signal aborts at once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lgformer.writable import make_writable_dir

HELP = "Train LGFormer from a YAML config (single process or torchrun)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        help="training config: a shipped name (refcoco, synthetic_bundled, ...) or a YAML path",
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, e.g. optim.lr=1e-4 (repeatable; values are YAML)",
    )
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument(
        "--resume", metavar="PATH", help="checkpoint to continue from (default: <output>/last.pt)"
    )
    resume.add_argument(
        "--no-resume",
        action="store_true",
        help="start fresh even if <output>/last.pt exists (the old run's checkpoints, "
        "config and logs move to <output>/replaced/; an older replaced/ is kept as "
        "replaced.1, .2, ...)",
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the merged config and exit"
    )


def run(args: argparse.Namespace) -> int:
    import yaml

    from lgformer.engine.config import load_train_config

    cfg = load_train_config(args.config, args.overrides)
    if args.print_config:
        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False), end="")
        return 0
    from lgformer.distributed import env_process_info
    from lgformer.engine.run import run_training
    from lgformer.engine.stop_signals import TrainingInterrupted

    out_dir = Path(cfg.output.dir)
    _check_output_dir(out_dir)
    _refuse_writing_inputs(cfg, out_dir)
    resume = args.resume
    if resume is not None and env_process_info().is_main:  # the other processes get rank 0's
        resume = _keep_other_run(out_dir, Path(resume))
    try:
        run_training(cfg, resume=resume, auto_resume=not args.no_resume)
    except TrainingInterrupted as stop:
        return stop.exit_code  # the position is saved and logged (rank 0)
    return 0


def _check_output_dir(out_dir: Path) -> None:
    """``LGFormerError`` unless ``out_dir`` is (or can be made) a directory to write in."""
    fix = "set output.dir to a writable directory (--set output.dir=PATH)"
    make_writable_dir(
        out_dir,
        is_a_file="output.dir {dir} is a file, not a directory: " + fix,
        cannot_write="cannot write in output.dir {dir}: {reason}; " + fix,
    )


def _refuse_writing_inputs(cfg, out_dir: Path) -> None:
    """No checkpoint, config or data file the run reads may be one it writes (resuming
    from ``<output.dir>/last.pt`` is not reading an input: it is continuing that run)."""
    from lgformer.commands.outputs import refuse_inputs_as_outputs
    from lgformer.data.hf_parquet import parquet_files
    from lgformer.data.refer_layout import IMAGE_DIRS, image_dir, instances_path, refs_path
    from lgformer.engine.checkpoint import BEST, DIVERGED, LAST

    data, init = cfg.data, cfg.init
    bert = None if init.bert is None or init.bert.lower() == "minilm" else init.bert
    images = image_dir(data.root, data.dataset) if data.dataset in IMAGE_DIRS else None
    refuse_inputs_as_outputs(
        [(f"output.dir's {n}", out_dir / n) for n in (LAST, BEST, DIVERGED, "config.yaml")],
        [("init.swin", init.swin), ("init.checkpoint", init.checkpoint),
         ("refs file", refs_path(data.root, data.dataset, data.split_by)),
         ("instances file", instances_path(data.root, data.dataset)),
         *(("parquet file", f) for f in parquet_files(Path(data.root)))],
        [("init.bert folder", bert), ("image folder", images),
         ("data.image_dir folder", data.image_dir)],
    )  # fmt: skip


def _keep_other_run(out_dir: Path, resume: Path) -> Path:
    """``--resume`` from anything but ``<out_dir>/last.pt`` while ``out_dir`` holds a run:
    that run's files move to ``<out_dir>/replaced/`` (kept, as with ``--no-resume``), so
    this run writes its own last.pt and config.yaml. Returns where ``resume`` is now
    (moved with the rest if it was one of that run's checkpoints)."""
    from lgformer.engine.checkpoint import BEST, DIVERGED, LAST, REPLACED, set_aside

    own_last = out_dir / LAST
    if not resume.is_file() or (own_last.is_file() and own_last.samefile(resume)):
        return resume  # continuing the run that lives there (or an error for the engine)
    checkpoints = (LAST, BEST, DIVERGED)
    moved_from = {name: (out_dir / name).resolve() for name in checkpoints}
    moved = set_aside(out_dir, checkpoints, ("config.yaml", "tensorboard"))
    if not moved:
        return resume
    print(
        f"--resume {resume}: {out_dir} held another run; its {', '.join(moved)} moved to "
        f"{out_dir / REPLACED}"
    )
    for name in moved:
        if name in moved_from and moved_from[name] == resume.resolve():
            return out_dir / REPLACED / name
    return resume
