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
        self._log_dir = str(log_dir)
        self._writer_class: type | None = None
        self._purge_step: int | None = None
        if enabled and tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer_class = SummaryWriter  # the event file is opened on first use

    def resume_at(self, step: int) -> None:
        """Steps from ``step`` on are logged anew: TensorBoard hides the ones a killed run
        wrote after its last checkpoint instead of showing each of them twice."""
        self._purge_step = step

    def info(self, message: str) -> None:
        """One line on stdout that does not tear an active progress bar."""
        if self.enabled:
            tqdm.write(message)

    def scalars(self, values: dict[str, float], step: int) -> None:
        if self._writer is None and self._writer_class is not None:
            self._writer = self._writer_class(log_dir=self._log_dir, purge_step=self._purge_step)
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
        self._writer_class = None
