"""A DataLoader whose workers leave SIGINT and SIGTERM to the training process.

``worker_signals`` runs in each worker once it is set up, but PyTorch installs its own
SIGTERM handler (which ends the worker) before that. A SIGTERM sent to the whole process
group in that window (``torchrun`` and Slurm signal every process; Ctrl-C reaches the
group) would kill a starting worker, make PyTorch raise in the training process, and lose
the step's position unsaved. ``TrainingDataLoader`` starts its workers with both signals
blocked: they reach a worker only once ``worker_signals`` has taken over, and the
training process receives one sent meanwhile as soon as the workers are started.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

from torch.utils.data import DataLoader

from lgformer.engine.stop_signals import worker_signals

STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM blocked in this thread, and in processes forked meanwhile
    (which inherit the mask); a signal arriving meanwhile is delivered at the end.
    A no-op where signal masks do not exist (Windows)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class TrainingDataLoader(DataLoader):
    """``DataLoader`` with ``worker_init_fn=worker_signals`` whose workers start with the
    stop signals held (see the module docstring). Takes DataLoader's arguments but
    ``worker_init_fn``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "worker_init_fn" in kwargs:
            raise TypeError("TrainingDataLoader sets worker_init_fn itself")
        super().__init__(*args, worker_init_fn=worker_signals, **kwargs)

    def __iter__(self) -> Iterator[Any]:
        with stop_signals_held():  # the workers are forked here
            return super().__iter__()
