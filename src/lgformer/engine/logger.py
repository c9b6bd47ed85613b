"""Scalars to stdout and TensorBoard event files (main process only)."""

from __future__ import annotations

import math
import time
from pathlib import Path

from tqdm import tqdm

from lgformer.engine.data import Position


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
        # The steps since the last training line, and their finite losses.
        self._window_start = time.perf_counter()
        self._window_steps = 0
        self._window_losses: list[float] = []
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

    def validation(self, at: Position, metrics: dict[str, float]) -> None:
        """The validation line and its ``val/*`` scalars, at the end of epoch ``at.epoch``."""
        self.scalars({f"val/{k}": v for k, v in metrics.items()}, at.step)
        text = ", ".join(f"{k} {v:.2f}" for k, v in metrics.items())
        self.info(f"epoch {at.epoch + 1} validation: {text}")

    def start_window(self) -> None:
        """The next training line covers the steps from now on."""
        self._window_start = time.perf_counter()
        self._window_steps = 0
        self._window_losses = []

    def count_step(self, loss: float) -> None:
        """One more step for the next training line (a non-finite loss is left out of its
        mean)."""
        self._window_steps += 1
        if math.isfinite(loss):
            self._window_losses.append(loss)

    def window(self, at: Position, *, batch_size: int, lr: float, grad_scale: float | None) -> None:
        """The periodic training line and its scalars for the steps counted since the last
        one, up to ``at``: their mean finite loss, lr, images/s (``batch_size`` a step), the
        epoch as a fraction and (fp16) the grad scale; then a new window starts."""
        elapsed = time.perf_counter() - self._window_start
        images_per_s = self._window_steps * batch_size / max(elapsed, 1e-9)
        losses = self._window_losses
        values = {
            "train/lr": lr,
            "train/images_per_s": images_per_s,
            "train/epoch": at.epoch + at.step_in_epoch / at.iters_per_epoch,
        }
        if losses:
            values["train/loss"] = sum(losses) / len(losses)
        if grad_scale is not None:
            values["train/grad_scale"] = grad_scale
        self.scalars(values, at.step)
        loss_text = f"{values['train/loss']:.4f}" if losses else "n/a"
        self.info(
            f"step {at.step} (epoch {at.epoch + 1}, {at.step_in_epoch}/{at.iters_per_epoch}): "
            f"loss {loss_text}, lr {lr:.3e}, {images_per_s:.1f} img/s"
        )
        self.start_window()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._writer_class = None
