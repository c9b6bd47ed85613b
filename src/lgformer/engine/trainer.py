"""The training loop: released recipe, one process or DDP, checkpointed and exactly resumable.

Exact resume: the data order is a function of (seed, epoch) and a resumed run skips the
batches already consumed (``data.py``); a checkpoint holds every process's RNG states
(``checkpoint.py``). A stop signal finishes the step, saves last.pt and raises
``TrainingInterrupted`` (``stop_signals.py``).

One step: ``train_step`` asks the objective (``objective.py``) which phase the step is
in, runs its forward (the LGFormer and the aids' heads, DDP-wrapped) under autocast,
takes its loss (``loss.py``), and steps AdamW (``optimizer.py``) and the poly schedule
(``schedule.py``); a non-finite loss skips the step (``divergence.py``). Validation runs
the evaluator's loop (``lgformer.evaluation.loop``); checkpoints: ``checkpoint.py``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from lgformer.distributed import (
    ProcessInfo,
    all_gather_objects,
    all_reduce_sum,
    average_gradients,
    local_gradients,
    wrap_ddp,
)
from lgformer.engine.checkpoint import (
    BEST,
    DIVERGED,
    LAST,
    check_same_data,
    get_rng_state,
    prepare_output_dir,
    restore_training_state,
    write_checkpoint,
)
from lgformer.engine.config import TrainConfig
from lgformer.engine.data import epoch_loader, training_order
from lgformer.engine.divergence import BadSteps
from lgformer.engine.logger import RunLogger
from lgformer.engine.objective import Objective
from lgformer.engine.optimizer import build_training_optimizer
from lgformer.engine.precision import resolve_precision
from lgformer.engine.schedule import build_schedule
from lgformer.engine.stop_signals import StopSignals, TrainingDataLoader, TrainingInterrupted
from lgformer.evaluation.loop import count_dataset


class Trainer:
    """Trains ``model`` on ``train_set`` as ``cfg`` says.

    Args:
        cfg: the merged training config (saved into the output directory and checkpoints).
        model: a bare ``LGFormer`` (initialised, or built from the checkpoint ``resume``
            continues); moved to ``device`` here.
        train_set: items with ``image`` (3, S, S), ``token_ids``/``attention_mask`` (L,)
            int64, ``target`` (S, S) 0/1, and ``categories`` (S, S) int64 where the
            objective uses them (with ``train_set.categories.num_labels``); its
            ``set_epoch(epoch)`` is called when present.
        val_set: the same kind of items; validated after every epoch when given.
        info: this process's rank and world size.
        device: where to train.
        collate_fn: batches items (default: PyTorch's).
    """

    def __init__(
        self,
        cfg: TrainConfig,
        model: nn.Module,
        train_set: Dataset,
        val_set: Dataset | None,
        *,
        info: ProcessInfo,
        device: torch.device,
        collate_fn: Any = None,
    ) -> None:
        self.cfg = cfg
        self.info = info
        self.device = device
        self.train_set = train_set
        self.val_set = val_set
        self.collate_fn = collate_fn
        self.out_dir = Path(cfg.output.dir)
        self.precision = resolve_precision(cfg.optim.precision, device)

        self.sampler, self.position = training_order(
            len(train_set),
            cfg.optim.batch_size,
            world_size=info.world_size,
            rank=info.rank,
            seed=cfg.seed,
        )
        self.batch_size = self.position.batch_size  # per process

        model.to(device)
        if cfg.model.grad_checkpointing:
            model.set_grad_checkpointing(True)
        self.model = model
        categories = getattr(train_set, "categories", None)
        self.objective = Objective(
            model,
            cfg.objective,
            num_categories=None if categories is None else categories.num_labels,
        ).to(device)
        self.optimizer = build_training_optimizer(model, cfg.optim, self.objective.heads())
        warm_only = {id(p) for p in self.objective.warm_start_only_parameters()}
        self.train_model = wrap_ddp(
            self.objective,
            info,
            device,
            ignore=tuple(n for n, p in self.objective.named_parameters() if id(p) in warm_only),
        )
        self.clip_params = [p for p in self.train_model.parameters() if p.requires_grad]
        self.scheduler = build_schedule(
            self.optimizer,
            cfg.optim,
            self.position.iters_per_epoch,
            hold=cfg.objective.category_warmup_steps,
        )
        self.scaler = self.precision.make_scaler()

        self.best_iou = -math.inf
        self.metrics: dict[str, float] = {}
        self.bad_steps = BadSteps(cfg.optim.max_bad_steps)
        self._saved_at = -1  # the step of the last checkpoint written
        self._signals = StopSignals(announce=False)  # fit's own, installed while it runs
        self._fit_start = 0  # the step this fit started from
        self.stop_signal = 0  # the signal the processes agreed to stop on (0: none)
        self.loss_history: list[float] = []  # mean loss over processes, per step (NaN if skipped)
        self.logger = RunLogger(
            self.out_dir / "tensorboard", enabled=info.is_main, tensorboard=cfg.output.tensorboard
        )

    # ------------------------------------------------------------------ loop
    def fit(self) -> dict[str, float]:
        """Train until ``optim.epochs`` (or ``max_steps``); returns the last validation metrics.

        Raises:
            TrainingInterrupted: a SIGINT/SIGTERM stopped it after a step; last.pt holds
                that step (every process raises it, at the same step).
        """
        cfg = self.cfg
        self._signals = StopSignals(announce=self.info.is_main)
        self._fit_start = self.position.step
        self.stop_signal = 0
        if self.info.is_main:
            prepare_output_dir(self.out_dir, cfg, self.logger.info)
            self.logger.info(
                f"training {cfg.optim.epochs} epochs x {self.position.iters_per_epoch} iterations, "
                f"batch {cfg.optim.batch_size} ({self.info.world_size} x {self.batch_size}), "
                f"{self.precision.name} on {self.device}; output {self.out_dir}"
            )
            if cfg.objective.category_warmup_steps:
                self.logger.info(
                    f"steps 1-{cfg.objective.category_warmup_steps}: vision-only category "
                    "warm start"
                )
        try:
            with self._signals:
                self._loop()
        finally:
            self.logger.close()
        return self.metrics

    def _loop(self) -> None:
        """The epochs, from the current position to the end or a stop."""
        cfg, at = self.cfg, self.position
        while (
            at.epoch < cfg.optim.epochs
            and not self._stop_requested()
            and not self._agree_on_stop()  # a signal during validation or the epoch's save
        ):
            if not self._train_epoch():
                # Stopped early (max_steps mid-epoch, or a signal): save where we are.
                if self._saved_at != at.step:
                    self.save(LAST)
                break
            # Epochs that end inside the vision-only warm start have no trained decoders
            # to validate.
            warm = self.objective.warming(at.step - 1)
            last = at.epoch + 1 == cfg.optim.epochs
            due = (at.epoch + 1) % cfg.validate_every == 0 or last
            if cfg.validate and self.val_set is not None and not warm and due:
                self._validate()
            at.next_epoch()
            if last or not self.bad_steps.waits("the epoch's checkpoint", self.logger.info):
                self.save(LAST, best=self._is_new_best())
        if at.epoch >= cfg.optim.epochs:
            self.logger.info(f"done: {at.epoch} epochs, {at.step} steps")
        elif self.stop_signal:
            self._interrupted()
        else:
            self.logger.info(f"stopped at step {at.step} (max_steps); resume from {LAST}")

    def _stop_requested(self) -> bool:
        return self.cfg.max_steps is not None and self.position.step >= self.cfg.max_steps

    def _agree_on_stop(self) -> bool:
        """Whether a stop signal reached any process (collective: ``StopSignals.agreed``)."""
        self.stop_signal = self._signals.agreed(self.info.enabled, self.device)
        return bool(self.stop_signal)

    def _interrupted(self) -> None:
        """Logs where a signal stopped the run (already saved) and raises."""
        at = self.position
        where = at.words() if at.step != self._fit_start else None  # else nothing new saved
        error = TrainingInterrupted.at(self.stop_signal, at.step, where, self.out_dir / LAST)
        self.logger.info(str(error))
        raise error

    def _train_epoch(self) -> bool:
        """Runs the rest of the current epoch; False if ``max_steps`` or a signal stopped it."""
        cfg, at = self.cfg, self.position
        loader = epoch_loader(
            self.train_set,
            self.sampler,
            epoch=at.epoch,
            consumed=at.consumed,
            batch_size=self.batch_size,
            seed=cfg.seed,
            num_workers=cfg.data.num_workers,
            collate_fn=self.collate_fn,
            pin_memory=self.device.type == "cuda",
        )
        self.train_model.train()
        bar = tqdm(
            total=at.iters_per_epoch,
            initial=at.step_in_epoch,
            desc=f"epoch {at.epoch + 1}/{cfg.optim.epochs}",
            disable=not (self.info.is_main and cfg.output.progress),
            dynamic_ncols=True,
        )
        self.logger.start_window()
        log = self.logger.info
        try:
            for batch in loader:
                loss = self.train_step(batch)
                at.advance()
                self.logger.count_step(loss)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", lr=f"{self.scheduler.get_last_lr()[0]:.2e}")
                if at.step % cfg.output.log_every == 0 or not at.mid_epoch:
                    self.logger.window(
                        at,
                        batch_size=cfg.optim.batch_size,
                        lr=self.scheduler.get_last_lr()[0],
                        grad_scale=self.scaler.get_scale() if self.scaler.is_enabled() else None,
                    )
                every = cfg.output.checkpoint_every
                if every and at.step % every == 0 and at.mid_epoch:
                    if not self.bad_steps.waits(f"the checkpoint of step {at.step}", log):
                        self.save(LAST)
                if self._agree_on_stop() or (at.mid_epoch and self._stop_requested()):
                    return False
        finally:
            bar.close()
        return True

    def train_step(self, batch: dict[str, Any]) -> float:
        """One optimisation step on one batch; returns the loss averaged over processes
        (NaN/inf when the step was skipped)."""
        image = batch["image"].to(self.device, non_blocking=True)  # (B, 3, S, S)
        token_ids = batch["token_ids"].to(self.device, non_blocking=True)  # (B, L)
        attention_mask = batch["attention_mask"].to(self.device, non_blocking=True)  # (B, L)
        target = batch["target"].to(self.device, non_blocking=True)  # (B, S, S)
        warming = self.objective.warming(self.position.step)
        categories = None  # (B, S, S) int64, only for the steps that use them
        if self.cfg.objective.step_uses_categories(warming):
            categories = batch["categories"].to(self.device, non_blocking=True)

        # Vision-only steps use part of the model: they all-reduce its gradients themselves
        # (average_gradients) instead of DDP's buckets full of zeros.
        with local_gradients(self.train_model, warming), self.precision.autocast():
            out = self.train_model(
                image,
                token_ids,
                attention_mask,
                categories,
                target,  # read only by stage-mask heads, which exist only when weighted
                visual_only=warming,
            )
        loss = self.objective.loss(out, target)
        # Every process must agree to skip, or DDP's gradient all-reduce would hang.
        mean_loss = all_reduce_sum(loss.detach().clone()) / self.info.world_size
        value = float(mean_loss)
        self.loss_history.append(value)
        if not math.isfinite(value):
            self._skip_step(value)
            return value
        self.bad_steps.count = 0
        with local_gradients(self.train_model, warming):
            self.scaler.scale(loss).backward()
        if warming:
            average_gradients(self.clip_params)
        if self.cfg.optim.grad_clip is not None:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.clip_params, self.cfg.optim.grad_clip)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        return value

    def _skip_step(self, value: float) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()  # the schedule follows the data, skipped or not
        where = f"epoch {self.position.epoch + 1}, step {self.position.step + 1}"
        if self.bad_steps.skip(value, where, warn=self.info.is_main):
            self.position.advance()  # this batch is consumed
            raise self.bad_steps.diverged(where, self.save(DIVERGED), self.out_dir)

    # ------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, Any]:
        """The checkpoint dict (without RNG states, which need every process)."""
        return {
            "model": self.model.state_dict(),
            "model_config": self.model.config.to_dict(),
            "config": self.cfg.to_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            **self.position.state_dict(self.sampler),
            "best_iou": self.best_iou,
            "metrics": dict(self.metrics),
            "bad_steps": self.bad_steps.count,
            **self.objective.head_state_dicts(),
        }

    def save(self, name: str, *, best: bool = False) -> Path:
        """Writes ``<output>/<name>`` (and a copy as best.pt). Call on every process."""
        rng = all_gather_objects(get_rng_state())
        self._saved_at = self.position.step
        if self.info.is_main:
            write_checkpoint({**self.state(), "rng": rng}, self.out_dir, name, best=best)
            if best:
                self.logger.info(f"new best overall IoU {self.best_iou:.2f}: saved {BEST}")
        return self.out_dir / name

    def resume(self, ckpt: dict[str, Any], path: str | Path) -> None:
        """Restores everything ``save`` wrote but the model (built from ``ckpt``, read from
        ``path``), so that the next ``fit`` continues exactly (checks: ``checkpoint.py``)."""
        changes = check_same_data(ckpt, path, cfg=self.cfg, num_samples=self.sampler.num_samples)
        restore_training_state(
            ckpt,
            path,
            objective=self.objective,
            optimizer=self.optimizer,
            scaler=self.scaler,
            scheduler=self.scheduler,
            seed=self.cfg.seed,
            info=self.info,
        )
        at = self.position
        at.load_state_dict(ckpt)
        self.logger.resume_at(at.step + 1)
        self.best_iou = float(ckpt.get("best_iou", -math.inf))
        self.metrics = dict(ckpt.get("metrics", {}))
        self.bad_steps.count = int(ckpt.get("bad_steps", 0))
        self.logger.info(
            f"resumed from {path}: epoch {at.epoch + 1}, batch {at.step_in_epoch}/"
            f"{at.iters_per_epoch}, step {at.step}"
        )
        if changes:
            self.logger.info(
                "config changed since that checkpoint (this run's values apply): "
                + ", ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in changes.items())
            )

    # ------------------------------------------------------------ reporting
    def _validate(self) -> None:
        """Validates on the whole val set through the evaluator's loop (every process counts
        its shard and gets the counts of the whole split), then logs the metrics."""
        assert self.val_set is not None
        counts = count_dataset(
            self.model,  # bare, not DDP-wrapped; evaluated in eval mode, its mode restored
            self.val_set,
            batch_size=self.batch_size,
            process=self.info,
            num_workers=self.cfg.data.num_workers,
            collate_fn=self.collate_fn,
            device=self.device,
            autocast=self.precision.autocast,
            progress=self.cfg.output.progress,
            desc="validate",
            leave=False,
            loader_class=TrainingDataLoader,  # a stop signal is the trainer's to handle
        )
        self.metrics = counts.compute().scores()
        self.logger.validation(self.position, self.metrics)

    def _is_new_best(self) -> bool:
        """Whether the last validation beat the best overall IoU so far (and records it)."""
        iou = self.metrics.get("overall_iou")
        if iou is None or iou <= self.best_iou:
            return False
        self.best_iou = iou
        return True
