"""Capture and restore every random number generator a training step touches.

States are stored as tensors and plain Python values so that checkpoints load
with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import random
import warnings
from typing import Any

import numpy as np
import torch


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
