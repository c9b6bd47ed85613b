"""Checks that a command's outputs can be written, run before any slow work starts."""

from __future__ import annotations

import tempfile
from pathlib import Path

from lgformer.errors import LGFormerError


def probe_write(directory: Path) -> None:
    """Create and remove a temporary file in ``directory``; ``OSError`` where that fails.

    ``os.access`` says yes to root everywhere and to read-only or special file systems,
    so only a real file tells.
    """
    with tempfile.TemporaryFile(dir=directory):
        pass


def make_writable_dir(out_dir: Path, *, is_a_file: str, cannot_write: str) -> Path:
    """Create ``out_dir`` if needed and check that files can be written in it.

    The messages of the ``LGFormerError`` raised otherwise are the command's own:
    ``is_a_file`` is formatted with ``dir`` (``out_dir`` exists as a file),
    ``cannot_write`` with ``dir`` and ``reason`` (the operating system's words).
    """
    if out_dir.exists() and not out_dir.is_dir():
        raise LGFormerError(is_a_file.format(dir=out_dir))
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe_write(out_dir)
    except OSError as err:
        reason = err.strerror or str(err)
        raise LGFormerError(cannot_write.format(dir=out_dir, reason=reason)) from err
    return out_dir
