"""``lgformer <command>``: one module per command under ``lgformer.commands``.

Each command module defines ``HELP`` (one line), ``add_arguments(parser)`` and
``run(args) -> int``. Modules are imported only when their command runs, so
``lgformer --help`` stays fast and one broken command cannot break the others.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from lgformer import __version__
from lgformer.errors import LGFormerError

COMMANDS: dict[str, str] = {
    "segment": "Segment the objects that sentences refer to in one image.",
    "parity": "Check the model against a parity fixture of the released code.",
    "evaluate": "Evaluate a checkpoint on a REFER dataset split (the paper's protocol).",
    "train": "Train LGFormer from a YAML config (single process or torchrun).",
    "synth": "Write a synthetic referring dataset in the REFER format.",
    "demo": "Segment a fresh synthetic scene with the bundled model.",
    "serve": "Serve a local web page for segmenting images in a browser.",
    "convert": "Convert a checkpoint (e.g. a released .pth) into a model folder.",
    "export": "Export a model to ONNX (for onnxruntime and other runtimes).",
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lgformer",
        description="LGFormer referring image segmentation: the mask of the object a "
        "sentence refers to. 'lgformer COMMAND --help' describes each command.",
    )
    parser.add_argument("--version", action="version", version=f"lgformer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, help_text in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == command:
            _module(name).add_arguments(p)
    return parser


def _module(name: str):
    return importlib.import_module(f"lgformer.commands.{name}")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    parser = build_parser(command)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    plain_format, warnings.formatwarning = warnings.formatwarning, _one_line_warning
    try:
        return int(_module(args.command).run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except LGFormerError as err:
        print(f"error: {user_message(err)}", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = plain_format


def user_message(err: LGFormerError) -> str:
    """The error's message; for one raised in a DataLoader worker, which PyTorch re-raises
    with the worker's whole traceback as its text, only the original message."""
    text = str(err)
    if "Original Traceback" not in text:
        return text
    last = [line for line in text.splitlines() if line.strip()][-1]
    name = f"{type(err).__module__}.{type(err).__qualname__}: "
    return last.split(name, 1)[1] if name in last else last


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    line: str | None = None,
) -> str:
    """Warnings as users of a command read them: ``warning: <message>``, no source line."""
    return f"warning: {message}\n"


if __name__ == "__main__":
    sys.exit(main())
