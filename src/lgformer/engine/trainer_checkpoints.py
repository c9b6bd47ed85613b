"""Trainer checkpoints: what a checkpoint holds, writing it, and resuming from it exactly.

A checkpoint holds the model, optimizer, scaler and schedule states, the position in
the data (epoch, batch, the sampler's seed and size), the best validation IoU, the
auxiliary heads and every process's random states; ``resume`` refuses one of another
model, data or batch size (``resume_checks``).
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lgformer.engine.checkpoint import BEST, atomic_copy, atomic_save, load_checkpoint
from lgformer.engine.distributed import all_gather_objects
from lgformer.engine.optimizer import load_optimizer_state
from lgformer.engine.resume_checks import check_resumable
from lgformer.engine.rng import get_rng_state, restore_process_rng

if TYPE_CHECKING:
    from lgformer.engine.trainer import Trainer


class TrainerCheckpoints:
    """``state``, ``save`` and ``resume`` of ``Trainer`` (which inherits them)."""

    def state(self: Trainer) -> dict[str, Any]:
        """The checkpoint dict (without RNG states, which need every process)."""
        return {
            "model": self.model.state_dict(),
            "model_config": self.model.config.to_dict(),
            "config": self.cfg.to_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch,
            "step": self.step,
            "sampler": {
                "seed": self.sampler.seed,
                "epoch": self.epoch,
                "consumed": self.step_in_epoch * self.batch_size,
                "world_size": self.info.world_size,
                "num_samples": self.sampler.num_samples,
            },
            "best_iou": self.best_iou,
            "metrics": dict(self.metrics),
            "bad_steps": self.bad_steps,
            **self.heads.state_dicts(),
        }

    def save(self: Trainer, name: str, *, best: bool = False) -> Path:
        """Writes ``<output>/<name>`` (and a copy as best.pt). Call on every process."""
        rng = all_gather_objects(get_rng_state())
        self._saved_at = self.step
        path = self.out_dir / name
        if self.info.is_main:
            ckpt = self.state()
            ckpt["rng"] = rng
            if best:
                # best.pt before last.pt: a run killed between the two writes resumes from
                # the previous last.pt and validates this epoch again. The other order
                # would resume past it with its IoU as best_iou and never write its best.pt.
                atomic_save(ckpt, self.out_dir / BEST)
                atomic_copy(self.out_dir / BEST, path)
                self.logger.info(f"new best overall IoU {self.best_iou:.2f}: saved {BEST}")
            else:
                atomic_save(ckpt, path)
        return path

    def resume(self: Trainer, path: str | Path) -> None:
        """Restores everything ``save`` wrote; the next ``fit`` continues exactly. The
        optimizer's hyperparameters (lr, weight decay, betas, eps) are this run's config's;
        a checkpoint of another model, data or batch size is refused."""
        ckpt = load_checkpoint(path)
        changes = check_resumable(
            ckpt,
            path,
            model_config=self.model.config.to_dict(),
            cfg=self.cfg,
            num_samples=self.sampler.num_samples,
        )
        self.model.load_state_dict(ckpt["model"])
        self.heads.load(ckpt, path)
        load_optimizer_state(self.optimizer, ckpt["optimizer"], path)
        if ckpt.get("scaler") and self.scaler.is_enabled():
            self.scaler.load_state_dict(ckpt["scaler"])
        self.scheduler.load_state_dict(ckpt["scheduler"])
        self.epoch = int(ckpt["epoch"])
        self.step_in_epoch = int(ckpt["step_in_epoch"])
        self.step = int(ckpt["step"])
        self.logger.resume_at(self.step + 1)
        self.best_iou = float(ckpt.get("best_iou", -math.inf))
        self.metrics = dict(ckpt.get("metrics", {}))
        self.bad_steps = int(ckpt.get("bad_steps", 0))
        sampler = ckpt.get("sampler", {})
        if sampler.get("seed", self.cfg.seed) != self.cfg.seed:
            warnings.warn("seed changed on resume: the data order differs", stacklevel=2)
        restore_process_rng(ckpt.get("rng") or [], self.info.rank, self.info.world_size, str(path))
        self.logger.info(
            f"resumed from {path}: epoch {self.epoch + 1}, batch {self.step_in_epoch}/"
            f"{self.iters_per_epoch}, step {self.step}"
        )
        if changes:
            self.logger.info(
                "config changed since that checkpoint (this run's values apply): "
                + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changes.items())
            )
