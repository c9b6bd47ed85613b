"""No command writes over its own inputs.

Every command names its outputs and its inputs (checkpoint, data files, image,
and the folders whose files it reads: an image folder, a model folder) and calls
``refuse_inputs_as_outputs`` before any work starts: an output that is an input
file, lies in an input folder, or is given twice is a one-line ``LGFormerError``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from lgformer.errors import LGFormerError

Named = tuple[str, str | Path | None]  # (what the user called it, e.g. "--output"; path)


def refuse_inputs_as_outputs(
    outputs: Iterable[Named],
    inputs: Iterable[Named],
    input_dirs: Iterable[Named] = (),
    output_dirs: Iterable[Named] = (),
) -> None:
    """``LGFormerError`` if an output path is an input file, lies inside an input folder,
    or is the same file as another output, or if an input lies in a folder the command
    fills with files of names not known in advance (``output_dirs``). ``None`` paths
    are skipped."""
    outputs = [(name, Path(path)) for name, path in outputs if path is not None]
    files = [(name, Path(path)) for name, path in inputs if path is not None]
    folders = [(name, Path(path)) for name, path in input_dirs if path is not None]
    for out_name, out_dir in output_dirs:
        for in_name, source in files:
            if out_dir is not None and _inside(source, Path(out_dir)):
                raise LGFormerError(
                    f"the {in_name} {source} lies in {out_dir}, where {out_name} writes its "
                    "results: move it, or give another output folder"
                )
    for i, (out_name, out) in enumerate(outputs):
        for in_name, source in files:
            if _same(out, source):
                raise LGFormerError(
                    f"{out_name} {out} is the {in_name} this command reads: writing there "
                    "would destroy it; give another path"
                )
        for in_name, folder in folders:
            if _inside(out, folder):
                raise LGFormerError(
                    f"{out_name} {out} lies in {folder}, the {in_name} this command reads: "
                    "give a path outside it"
                )
        for other_name, other in outputs[:i]:
            if _same(out, other):
                raise LGFormerError(
                    f"{out_name} and {other_name} are the same file {out}: give two paths"
                )


def _same(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file (through links, ``..`` and hard links)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist yet: compare where they would be
        return a.resolve() == b.resolve()


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())
