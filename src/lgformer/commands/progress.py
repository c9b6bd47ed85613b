"""What commands print while loading a large model: a line before each slow step (stderr).

Small models (the bundled one, test models) load in a second or two and print nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

# Model files from this size on take seconds to read and build (Swin-B: ~0.9 GB).
LONG_LOAD_BYTES = 100 * 2**20


def loading_step(message: str) -> None:
    """Prints ``lgformer: <message> ...`` to stderr at once."""
    print(f"lgformer: {message} ...", file=sys.stderr, flush=True)


def load_reporter(path: str | Path | None) -> Callable[[str], None] | None:
    """``loading_step`` if the model at ``path`` (a file or folder; ``None``: the bundled
    model) is large enough to load slowly, else ``None``."""
    if path is None:
        return None
    path = Path(path)
    try:
        files = [p for p in path.iterdir() if p.is_file()] if path.is_dir() else [path]
        size = sum(p.stat().st_size for p in files)
    except OSError:
        return None  # the loader reports a missing or unreadable path
    return loading_step if size >= LONG_LOAD_BYTES else None
