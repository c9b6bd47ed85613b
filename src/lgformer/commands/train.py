"""``lgformer train``: train from a YAML config, on one process or under ``torchrun``.

    lgformer train --config refcoco
    lgformer train --config refcoco --set optim.lr=1e-4 --set output.dir=runs/x
    torchrun --nproc_per_node 2 -m lgformer.cli train --config refcoco

A run resumes by itself from ``<output.dir>/last.pt`` when that file exists.
Ctrl-C or SIGTERM stops it after the current step with that step saved to last.pt;
the command then exits with 128 + the signal's number (130 for SIGINT, 143 for
SIGTERM), as a process ended by the signal would. A second signal aborts at once.
"""

from __future__ import annotations

import argparse

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
    from lgformer.engine.run import run_training
    from lgformer.engine.stop_signals import TrainingInterrupted

    try:
        run_training(cfg, resume=args.resume, auto_resume=not args.no_resume)
    except TrainingInterrupted as stop:
        return stop.exit_code  # the position is saved and logged (rank 0)
    return 0
