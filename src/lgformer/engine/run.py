"""One training run, start to finish, in this process (one of many under torchrun)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from lgformer.engine.build import build_datasets, build_model
from lgformer.engine.checkpoint import find_resume_checkpoint
from lgformer.engine.config import TrainConfig
from lgformer.engine.cpu_allocator import retain_freed_memory
from lgformer.engine.distributed import (
    broadcast_object,
    cleanup_distributed,
    env_dist_info,
    init_distributed,
    select_device,
)
from lgformer.engine.rng import seed_everything
from lgformer.engine.trainer import Trainer

DatasetsFactory = Callable[
    [TrainConfig, int], tuple[Dataset, Dataset | None, Callable[[list[Any]], Any] | None]
]


def run_training(
    cfg: TrainConfig,
    *,
    resume: str | Path | None = None,
    auto_resume: bool = True,
    datasets: DatasetsFactory = build_datasets,
) -> Trainer:
    """Train as ``cfg`` says and return the finished ``Trainer``.

    Args:
        cfg: the merged config.
        resume: a checkpoint to continue from; when None and ``auto_resume``,
            ``<output.dir>/last.pt`` is used if it exists.
        datasets: ``(cfg, max_words) -> (train, val, collate_fn)``; the REFER
            loader by default, any datasets of the same item dicts in tests.
    """
    info = env_dist_info()
    device = select_device(cfg.device, info)
    if device.type == "cpu":
        retain_freed_memory()  # faster CPU steps (see lgformer.engine.cpu_allocator)
    init_distributed(info, device)
    finished = False
    try:
        if resume is None and auto_resume and info.is_main:
            resume = find_resume_checkpoint(cfg.output.dir)
        # Rank 0 decides, so that every process resumes (or starts fresh) alike.
        resume = broadcast_object(None if resume is None else str(resume))
        log = print if info.is_main else _silent
        # Same seed everywhere for the weights (DDP also broadcasts rank 0's) ...
        seed_everything(cfg.seed)
        model = build_model(cfg, load_pretrained=resume is None, log=log)
        train_set, val_set, collate_fn = datasets(cfg, model.config.max_words)
        # ... then one stream per process, so dropout and stochastic depth differ by rank.
        seed_everything(cfg.seed + info.rank)
        trainer = Trainer(
            cfg, model, train_set, val_set, info=info, device=device, collate_fn=collate_fn
        )
        if resume is not None:
            trainer.resume(resume)
        trainer.fit()
        finished = True
        return trainer
    finally:
        cleanup_distributed(wait_for_peers=finished)


def _silent(message: str) -> None:
    del message
