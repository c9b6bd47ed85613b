"""Running ``lgformer`` in a subprocess with its address space capped, so that a file that
makes it allocate gigabytes fails the test instead of the machine."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import lgformer

# Importing torch, transformers and lgformer reserves about 1 GB of address space.
MEMORY_CAP = 3 * 2**30
SRC = Path(lgformer.__file__).resolve().parents[1]  # the lgformer under test


def run_capped(
    *args: str, cap: int = MEMORY_CAP, timeout: float = 300, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """``python -m lgformer.cli *args`` limited to ``cap`` bytes of address space."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    env = {**os.environ, "PYTHONPATH": str(SRC), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, "-m", "lgformer.cli", *args],
        preexec_fn=limit,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The ``error: ...`` line of a command that refused its input (rc 2, nothing else on
    stderr but warnings); fails the test otherwise."""
    lines = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert result.returncode == 2 and len(lines) == 1, (result.returncode, result.stderr[-2000:])
    assert lines[0].startswith("error: "), lines
    return lines[0]
