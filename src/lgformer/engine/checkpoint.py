"""Training checkpoints: written atomically, read back with ``weights_only``.

A checkpoint is ``torch.save`` of a dict::

    model         state dict of the bare model (no DDP ``module.`` prefix)
    model_config  LGFormerConfig.to_dict(), so ``lgformer.checkpoints.load_model`` rebuilds it
    config        the merged TrainConfig as a plain dict
    optimizer, scaler, scheduler   their state dicts
    epoch, step_in_epoch   the next batch to run: batch ``step_in_epoch`` of epoch ``epoch``
    step          optimizer iterations done in total
    rng           one RNG state per process, in rank order (see ``rng.py``)
    sampler       the data order's state (seed, epoch, samples consumed)
    best_iou, metrics      best overall IoU so far and the last validation metrics

The file is written to a temporary name in the same directory, flushed to
disk, then renamed over the target: a crash at any moment leaves either the
old file or the new one, never a torn one.
"""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import torch

from lgformer.errors import LGFormerError

LAST = "last.pt"
BEST = "best.pt"
REPLACED = "replaced"  # where a run started with --no-resume puts the previous run's files


def atomic_save(obj: Any, path: str | Path) -> Path:
    """``torch.save(obj)`` to ``path`` via a temporary file and ``os.replace``."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            torch.save(obj, handle)

    return _write_atomically(Path(path), write)


def atomic_copy(src: str | Path, dst: str | Path) -> Path:
    """Copy ``src`` to ``dst`` with the same temporary-file-then-rename guarantee."""
    return _write_atomically(Path(dst), lambda tmp: shutil.copyfile(src, tmp))


def _write_atomically(path: Path, write: Callable[[Path], object]) -> Path:
    """Runs ``write(tmp)`` for a temporary name beside ``path``, syncs it to disk, renames
    it over ``path`` and syncs the directory; the temporary is removed on any failure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as err:  # torch's zip writer reports a failed write so
        tmp.unlink(missing_ok=True)
        raise LGFormerError(_write_failure(path, err)) from None  # (one line, no chain)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def _write_failure(path: Path, err: OSError | RuntimeError) -> str:
    """One line for a checkpoint that could not be written (disk full, quota, I/O error)."""
    if isinstance(err, OSError):
        reason = err.strerror or str(err)
    else:
        reason = "the write failed (is the disk full?)"
    kept = "the previous one is untouched" if path.exists() else "nothing was written"
    return (
        f"cannot write checkpoint {path}: {reason}; {kept}: free space (or fix {path.parent}) "
        "and launch again to resume"
    )


def remove_stale_temporaries(directory: str | Path, names: Iterable[str]) -> list[Path]:
    """Deletes the temporaries (``.<name>.<pid>.tmp``) of files called ``names`` that a
    process killed inside ``atomic_save`` or ``atomic_copy`` left in ``directory``; each
    can be as large as a checkpoint. Call before this run writes there. Returns the files
    removed."""
    removed = []
    for name in names:
        for tmp in sorted(Path(directory).glob(f".{glob.escape(name)}.*.tmp")):
            pid = tmp.name[len(name) + 2 : -len(".tmp")]
            if pid.isdigit() and tmp.is_file():
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    return removed


def set_aside(
    directory: str | Path, checkpoints: Iterable[str], companions: Iterable[str] = ()
) -> list[str]:
    """Moves a previous run out of the way of a fresh one, keeping it.

    When ``directory`` holds any of the files ``checkpoints``, those and the
    ``companions`` present (files or folders, e.g. its config and logs) move into
    ``<directory>/replaced/``; an older ``replaced/`` is first renamed
    ``replaced.1`` (or ``.2``, ... : the first free number), so no run is ever deleted.
    Checkpoints move in the order given, so list the one a launch resumes from first.
    Returns the names moved, in order (empty: no checkpoint there, nothing touched).
    """
    directory = Path(directory)
    found = [name for name in checkpoints if (directory / name).is_file()]
    if not found:
        return []
    found += [name for name in companions if (directory / name).exists()]
    target = directory / REPLACED
    if target.exists() or target.is_symlink():
        os.replace(target, older_replaced_path(directory))
    target.mkdir()
    for name in found:
        os.replace(directory / name, target / name)
    _fsync_dir(target)
    _fsync_dir(directory)
    return found


def older_replaced_path(directory: str | Path) -> Path:
    """``<directory>/replaced.<k>`` with the smallest ``k >= 1`` not taken yet."""
    k = 1
    while (Path(directory) / f"{REPLACED}.{k}").exists():
        k += 1
    return Path(directory) / f"{REPLACED}.{k}"


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable (POSIX); best effort elsewhere."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """A training checkpoint as a dict; a clear ``LGFormerError`` if it is unreadable."""
    from lgformer.checkpoints.io import checkpoint_file, unreadable_checkpoint_message

    path = checkpoint_file(path)
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # any unpickling failure means a bad file
        raise LGFormerError(unreadable_checkpoint_message(path, err)) from err
    if not isinstance(ckpt, dict) or "model" not in ckpt:
        raise LGFormerError(f"{path} is not a training checkpoint (no 'model' entry)")
    return ckpt


def find_resume_checkpoint(output_dir: str | Path) -> Path | None:
    """``<output_dir>/last.pt`` if present: the most recent state of that run."""
    candidate = Path(output_dir) / LAST
    return candidate if candidate.is_file() else None
