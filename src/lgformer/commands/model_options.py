"""The options of commands that run a model: ``--device``, ``--image-size``, ``--preset``."""

from __future__ import annotations

import argparse


def add_model_run_options(parser: argparse.ArgumentParser) -> None:
    """Adds ``--device``, ``--image-size`` (default: the size the model file records) and
    ``--preset`` to a command's parser."""
    parser.add_argument("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if any)")
    parser.add_argument(
        "--image-size",
        type=int,
        default=None,
        help="model input size (default: the size the model was trained at; 480 for a "
        "released .pth)",
    )
    parser.add_argument("--preset", default=None, help="force a config preset (rarely needed)")
