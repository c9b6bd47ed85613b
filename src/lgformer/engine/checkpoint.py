"""Training checkpoints: written atomically, read back with ``weights_only``, and checked
before a run resumes from one.

A checkpoint is ``torch.save`` of a dict::

    model         state dict of the bare model (no DDP ``module.`` prefix)
    model_config  LGFormerConfig.to_dict(), so ``lgformer.checkpoints.load_model`` rebuilds it
    config        the merged TrainConfig as a plain dict
    optimizer, scaler, scheduler   their state dicts
    epoch, step_in_epoch   the next batch to run: batch ``step_in_epoch`` of epoch ``epoch``
    step          optimizer iterations done in total
    rng           one RNG state per process, in rank order (``get_rng_state``)
    sampler       the data order's state (seed, epoch, samples consumed)
    best_iou, metrics      best overall IoU so far and the last validation metrics
    bad_steps     non-finite losses in a row just before it
    category_heads, stage_heads   the objective's heads (None when the run has none)

The file is written to a temporary name in the same directory, flushed to
disk, then renamed over the target: a crash at any moment leaves either the
old file or the new one, never a torn one. A resumed run must see the same model
(``check_resumable``) and the same data order (``check_same_data``) as the one that wrote
the checkpoint; anything else (learning rate, epochs, logging) may change and is
reported.
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import warnings
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lgformer.checkpoints.diagnosis import unreadable_checkpoint_message
from lgformer.checkpoints.empty_model import build_empty_model, fill_empty_model
from lgformer.checkpoints.io import checkpoint_file
from lgformer.config import LGFormerConfig
from lgformer.distributed import ProcessInfo
from lgformer.engine.config import TrainConfig
from lgformer.engine.objective import Objective
from lgformer.engine.optimizer import load_optimizer_state
from lgformer.engine.schedule import PolySchedule
from lgformer.errors import LGFormerError
from lgformer.model import LGFormer, build_lgformer

LAST = "last.pt"
BEST = "best.pt"
DIVERGED = "diverged.pt"  # written when the loss stays non-finite
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


def write_checkpoint(ckpt: dict[str, Any], directory: Path, name: str, *, best: bool) -> Path:
    """Writes ``ckpt`` to ``<directory>/<name>`` atomically; with ``best``, to best.pt first
    and then copied to ``name``. That order matters: a run killed between the two writes
    resumes from the previous last.pt and validates this epoch again, while the other
    order would resume past it with its IoU as best_iou and never write its best.pt."""
    path = directory / name
    if best:
        atomic_save(ckpt, directory / BEST)
        atomic_copy(directory / BEST, path)
    else:
        atomic_save(ckpt, path)
    return path


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


def prepare_output_dir(directory: Path, cfg: TrainConfig, log: Callable[[str], None]) -> None:
    """Before a run writes there: creates ``directory``, deletes the temporaries a killed
    run left (``remove_stale_temporaries``, each logged) and saves ``config.yaml``."""
    directory.mkdir(parents=True, exist_ok=True)
    for tmp in remove_stale_temporaries(directory, (LAST, BEST, DIVERGED)):
        log(f"removed {tmp.name}, left by a run killed while saving")
    cfg.save(directory / "config.yaml")


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


# What a training checkpoint has besides the weights (a model file has "model" alone).
TRAINING_KEYS = ("optimizer", "scheduler", "epoch", "step_in_epoch", "step")
# Config keys that decide which samples make up each step: a checkpoint written with other
# values cannot be continued (its position in the epoch would point elsewhere).
RUN_KEYS = ("data.dataset", "data.split_by", "data.train_split", "optim.batch_size")
_RESTART = "or start a new run with --no-resume or another output.dir"


def check_resumable(
    ckpt: dict[str, Any], path: str | Path, *, model_config: dict[str, Any]
) -> None:
    """Refuses, before a model is built from it, a checkpoint this run cannot continue: a
    model file (no training state) or one of another model than ``model_config`` (this
    run's ``LGFormerConfig.to_dict()``).

    Raises:
        LGFormerError: naming what differs and how to start over instead.
    """
    missing = [key for key in TRAINING_KEYS if key not in ckpt]
    if missing:
        raise LGFormerError(
            f"{path} holds model weights but no training state (no {', '.join(missing)}); "
            f"to start a run from these weights use --set init.checkpoint={path}"
        )
    if ckpt.get("model_config") not in (None, model_config):
        differs = config_changes(ckpt["model_config"], model_config)
        shown = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in list(differs.items())[:5])
        more = f" and {len(differs) - 5} more" if len(differs) > 5 else ""
        raise LGFormerError(
            f"{path} was trained with another model than this run's ({shown}{more}, "
            f"checkpoint -> this run); resume with the same model config, {_RESTART}"
        )


def check_same_data(
    ckpt: dict[str, Any], path: str | Path, *, cfg: TrainConfig, num_samples: int
) -> dict[str, tuple[Any, Any]]:
    """Refuses a checkpoint of another data order (dataset, split, batch size, training set
    size: ``num_samples``, this run's samples per epoch); returns the config changes since
    it (``config_changes``), all of them allowed."""
    changes = config_changes(ckpt.get("config") or {}, cfg.to_dict())
    fixed = {k: v for k, v in changes.items() if k in RUN_KEYS and v[0] is not None}
    if fixed:
        raise LGFormerError(
            f"{path} belongs to a run with other data or batches ("
            + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in fixed.items())
            + f"); resume with the same values, {_RESTART}"
        )
    samples = ckpt.get("sampler", {}).get("num_samples", num_samples)
    if samples != num_samples:
        raise LGFormerError(
            f"{path} was trained on {samples} samples per epoch, this run's training set "
            f"has {num_samples}; resume on the same data, {_RESTART}"
        )
    return changes


def model_from_weights(
    state_dict: Mapping[str, torch.Tensor], source: str | Path, model_config: LGFormerConfig
) -> LGFormer:
    """The model ``model_config`` describes with the tensors of ``state_dict`` (read from
    ``source``; all of the model's, keys and shapes checked) as its weights: built on the
    meta device, so that nothing is drawn or copied for it."""
    empty = build_empty_model(model_config, build_lgformer)
    return fill_empty_model(empty, state_dict, str(source))


def restore_training_state(
    ckpt: dict[str, Any],
    path: str | Path,
    *,
    objective: Objective,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    scheduler: PolySchedule,
    seed: int,
    info: ProcessInfo,
) -> None:
    """Puts back what a checkpoint holds besides the model and the run's position: the
    objective's heads, the optimizer's moments (with this run's hyperparameters), the grad
    scale, the schedule's iteration and this process's random states."""
    objective.load_heads(ckpt, path)
    load_optimizer_state(optimizer, ckpt["optimizer"], path)
    if ckpt.get("scaler") and scaler.is_enabled():
        scaler.load_state_dict(ckpt["scaler"])
    scheduler.load_state_dict(ckpt["scheduler"])
    if ckpt.get("sampler", {}).get("seed", seed) != seed:
        warnings.warn("seed changed on resume: the data order differs", stacklevel=3)
    restore_process_rng(ckpt.get("rng") or [], info.rank, info.world_size, str(path))


def config_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (value in ``before``, value in ``after``) for every leaf that differs;
    a key missing on one side counts as None there."""
    out: dict[str, tuple[Any, Any]] = {}
    for key in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(key), after.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            inner = config_changes(old, new)
            out.update({f"{key}.{k}": v for k, v in inner.items()})
        elif old != new:
            out[str(key)] = (old, new)
    return out


# The random number generators a training step touches, as tensors and plain Python
# values (so that checkpoints load with weights_only=True).
def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def get_rng_state() -> dict[str, Any]:
    """Python, NumPy, torch CPU and (when present) every CUDA generator."""
    version, py_state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": [version, list(py_state), gauss],
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of ``get_rng_state``; CUDA states are restored only when CUDA is in use."""
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    np_state = state["numpy"]
    keys = np_state["keys"].numpy().astype(np.uint32)
    np.random.set_state(
        (
            np_state["name"],
            keys,
            np_state["pos"],
            np_state["has_gauss"],
            np_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"].cpu())
    cuda_states = state.get("cuda")
    if cuda_states is not None and torch.cuda.is_available():
        count = min(len(cuda_states), torch.cuda.device_count())
        torch.cuda.set_rng_state_all([s.cpu() for s in cuda_states[:count]])


def restore_process_rng(
    states: list[dict[str, Any]], rank: int, world_size: int, source: str
) -> None:
    """Sets this process's generators from a checkpoint's per-process ``states``.

    Exact when the checkpoint was written by as many processes; otherwise (with a
    warning) the closest rank's states are used, or none when there are none.
    """
    if len(states) == world_size:
        set_rng_state(states[rank])
        return
    warnings.warn(
        f"{source} was written by {len(states)} processes, this run has {world_size}: "
        "random states are not restored exactly",
        stacklevel=3,
    )
    if states:
        set_rng_state(states[min(rank, len(states) - 1)])
