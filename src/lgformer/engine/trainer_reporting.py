"""What the Trainer reports: validation after an epoch, the best overall IoU so far, and
the periodic training log line (stdout and TensorBoard)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lgformer.engine.validate import validate

if TYPE_CHECKING:
    from lgformer.engine.trainer import Trainer


class TrainerReporting:
    """``_validate``, ``_is_new_best`` and ``_log_window`` of ``Trainer`` (which inherits
    them)."""

    def _validate(self: Trainer) -> None:
        """Validates on the whole val set (every process its shard), logs the metrics."""
        assert self.val_set is not None
        self.metrics = validate(
            self.model,
            self.val_set,
            batch_size=self.batch_size,
            device=self.device,
            precision=self.precision,
            info=self.info,
            num_workers=self.cfg.data.num_workers,
            collate_fn=self.collate_fn,
            progress=self.info.is_main and self.cfg.output.progress,
        )
        self.logger.scalars({f"val/{k}": v for k, v in self.metrics.items()}, self.step)
        self.logger.info(
            f"epoch {self.epoch + 1} validation: "
            + ", ".join(f"{k} {v:.2f}" for k, v in self.metrics.items())
        )

    def _is_new_best(self: Trainer) -> bool:
        """Whether the last validation beat the best overall IoU so far (and records it)."""
        iou = self.metrics.get("overall_iou")
        if iou is None or iou <= self.best_iou:
            return False
        self.best_iou = iou
        return True

    def _log_window(self: Trainer, losses: list[float], steps: int, elapsed: float) -> None:
        """One log line (and TensorBoard scalars) for the ``steps`` steps of the last
        ``elapsed`` seconds: mean finite loss, lr, images/s."""
        images_per_s = steps * self.cfg.optim.batch_size / max(elapsed, 1e-9)
        values = {
            "train/lr": self.scheduler.get_last_lr()[0],
            "train/images_per_s": images_per_s,
            "train/epoch": self.epoch + self.step_in_epoch / self.iters_per_epoch,
        }
        if losses:
            values["train/loss"] = sum(losses) / len(losses)
        if self.scaler.is_enabled():
            values["train/grad_scale"] = self.scaler.get_scale()
        self.logger.scalars(values, self.step)
        loss_text = f"{values['train/loss']:.4f}" if losses else "n/a"
        self.logger.info(
            f"step {self.step} (epoch {self.epoch + 1}, {self.step_in_epoch}/"
            f"{self.iters_per_epoch}): loss {loss_text}, lr {values['train/lr']:.3e}, "
            f"{images_per_s:.1f} img/s"
        )
