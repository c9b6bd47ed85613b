"""Stopping a training run cleanly on SIGINT (Ctrl-C) or SIGTERM (preemption, ``kill``).

The trainer installs ``StopSignals`` while it runs: the first signal becomes a request
that the loop reads after each step (it then saves last.pt and raises
``TrainingInterrupted``); the workers of a ``TrainingDataLoader`` leave both signals to
the training process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from torch.utils.data import DataLoader

from lgformer.distributed import all_reduce_max
from lgformer.engine.checkpoint import LAST


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped on SIGINT/SIGTERM after saving its position to last.pt.

    A ``KeyboardInterrupt``, so that no ``except Exception`` carries on after it.

    Attributes:
        signum: the signal (the largest number when the processes got different ones).
        step: the optimizer steps done, as saved.
        exit_code: the conventional status of a process ended by that signal,
            128 + signum: 130 for SIGINT, 143 for SIGTERM.
    """

    def __init__(self, message: str, *, signum: int, step: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.step = step
        self.exit_code = 128 + signum

    @classmethod
    def at(cls, signum: int, step: int, position: str | None, last: Path) -> TrainingInterrupted:
        """The stop by ``signum`` after ``step`` steps, saved in ``last``; ``position`` is
        where the next batch is, in words (None: this launch trained nothing, so that
        nothing new was saved)."""
        name = signal.Signals(signum).name
        if position is None:
            message = f"stopped by {name} before the first step of this launch"
        else:
            message = (
                f"stopped by {name} at step {step} ({position}), saved in {last}. To "
                f"continue from there, launch again with the same output.dir and no "
                f"--resume (or with --resume {last})"
            )
        return cls(message, signum=signum, step=step)


class StopSignals:
    """Turns the first SIGINT or SIGTERM into a request, read from ``received``.

    A context manager: on entry it installs its handler for both signals (in the main
    thread only, where Python allows it, and not for a signal that is ignored); on
    exit it puts the previous handlers back. A second signal while inside does what
    it would have done without this: the previous handler runs (KeyboardInterrupt for
    SIGINT) or the default action ends the process at once (SIGTERM). One that comes
    less than ``REPEAT_AFTER_S`` after the first is taken for another copy of it:
    one stop often arrives twice (Slurm signals every process and torchrun forwards
    the signal it got to its workers). Processes forked while inside (DataLoader
    workers) inherit the handler; in them it does nothing.

    Args:
        announce: write a line to stderr when the first signal arrives (main process).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)
    REPEAT_AFTER_S = 2.0

    def __init__(self, *, announce: bool = True) -> None:
        self.announce = announce
        self.received = 0  # the first signal's number; 0 until one arrives
        self._received_at = 0.0  # time.monotonic() of the first signal
        self._previous: dict[int, Any] = {}
        self._pid = os.getpid()

    def __enter__(self) -> StopSignals:
        self._pid = os.getpid()
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                previous = signal.getsignal(signum)
                if previous is not signal.SIG_IGN:  # e.g. SIGINT of a background job
                    self._previous[signum] = previous
                    signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.restore()

    def restore(self) -> None:
        """Puts the handlers found on entry back (None, a handler not set from Python,
        becomes the default action)."""
        previous, self._previous = self._previous, {}
        for signum, handler in previous.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)

    def agreed(self, collective: bool, device: torch.device) -> int:
        """The signal this process or, with ``collective``, any process of the job got
        (0: none). Collective means a one-element all-reduce: every process calls it at
        the same points (after each step and at epoch starts) and all get one answer."""
        if not collective:
            return self.received
        flag = torch.full((1,), self.received, dtype=torch.int64, device=device)
        return int(all_reduce_max(flag).item())

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._pid:  # a forked loader worker
            return
        if not self.received:
            self.received = signum
            self._received_at = time.monotonic()
            if self.announce:
                name = signal.Signals(signum).name
                _write_stderr(
                    f"\n{name} received: stopping after this step and saving {LAST} "
                    f"(send {name} again to abort without saving)\n"
                )
            return
        if time.monotonic() - self._received_at < self.REPEAT_AFTER_S:
            return  # the same stop, delivered twice
        previous = self._previous.get(signum, signal.SIG_DFL)
        self.restore()
        if callable(previous):
            previous(signum, frame)
        else:
            signal.raise_signal(signum)  # the default action: the process ends now


def _write_stderr(text: str) -> None:
    """Unbuffered, so safe inside a signal handler (a print could re-enter a write)."""
    try:
        os.write(2, text.encode())
    except OSError:
        pass


def worker_signals(worker_id: int) -> None:
    """Run in each training DataLoader worker: it leaves SIGINT and SIGTERM to the
    training process, which stops after its step and then ends its workers.

    A worker killed by one (Ctrl-C reaches the whole process group, Slurm signals every
    process) would make PyTorch raise in the training process, in the middle of its
    step, and nothing would be saved. So a worker ignores SIGINT, and SIGTERM unless it
    comes from its parent (its last resort for a stuck worker, which still works). On
    systems without ``sigwaitinfo`` (not Linux) a worker still dies of any SIGTERM.
    """
    del worker_id
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "sigwaitinfo"):
        # Blocked here and in the threads created from here on; read by the thread.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        threading.Thread(target=_exit_on_sigterm_from, args=(os.getppid(),), daemon=True).start()


def _exit_on_sigterm_from(parent: int) -> None:
    """Waits for SIGTERMs and ends the process at the first one ``parent`` sent."""
    while True:
        if signal.sigwaitinfo({signal.SIGTERM}).si_pid == parent:
            os._exit(0)  # what PyTorch's own worker handler does for it


@contextlib.contextmanager
def stop_signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM blocked in this thread, and in processes forked meanwhile
    (which inherit the mask); a signal arriving meanwhile is delivered at the end.
    A no-op where signal masks do not exist (Windows)."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, StopSignals.SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class TrainingDataLoader(DataLoader):
    """``DataLoader`` with ``worker_init_fn=worker_signals`` whose workers start with the
    stop signals held. Takes DataLoader's arguments but ``worker_init_fn``.

    ``worker_signals`` runs in each worker once it is set up, but PyTorch installs its own
    SIGTERM handler (which ends the worker) before that. A SIGTERM sent to the whole
    process group in that window (``torchrun`` and Slurm signal every process; Ctrl-C
    reaches the group) would kill a starting worker, make PyTorch raise in the training
    process, and lose the step's position unsaved. Blocked, both signals reach a worker
    only once ``worker_signals`` has taken over, and the training process receives one
    sent meanwhile as soon as the workers are started.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "worker_init_fn" in kwargs:
            raise TypeError("TrainingDataLoader sets worker_init_fn itself")
        super().__init__(*args, worker_init_fn=worker_signals, **kwargs)

    def __iter__(self) -> Iterator[Any]:
        with stop_signals_held():  # the workers are forked here
            return super().__iter__()
