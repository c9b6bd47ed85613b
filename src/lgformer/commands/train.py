"""``lgformer train``: train from a YAML config, on one process or under ``torchrun``.

    lgformer train --config configs/refcoco.yaml
    lgformer train --config configs/refcoco.yaml --set optim.lr=1e-4 --set output.dir=runs/x
    torchrun --nproc_per_node 2 -m lgformer.cli train --config configs/refcoco.yaml

A run resumes by itself from ``<output.dir>/last.pt`` when that file exists.
"""

from __future__ import annotations

import argparse

HELP = "Train LGFormer from a YAML config (single process or torchrun)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML training config (configs/*.yaml)")
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
        help="start fresh even if <output>/last.pt exists (it will be overwritten)",
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

    run_training(cfg, resume=args.resume, auto_resume=not args.no_resume)
    return 0
