"""Scalars to stdout and TensorBoard event files (main process only)."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm


class RunLogger:
    """Writes ``tag = value`` lines and TensorBoard scalars; silent off the main process.

    Args:
        log_dir: TensorBoard event directory (created on first use).
        enabled: False on non-main processes.
        tensorboard: also write event files.
    """

    def __init__(self, log_dir: str | Path, *, enabled: bool = True, tensorboard: bool = True):
        self.enabled = enabled
        self._writer = None
        if enabled and tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=str(log_dir))

    def info(self, message: str) -> None:
        """One line on stdout that does not tear an active progress bar."""
        if self.enabled:
            tqdm.write(message)

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self._writer is not None:
            for tag, value in values.items():
                self._writer.add_scalar(tag, value, step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
