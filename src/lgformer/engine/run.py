"""One training run, start to finish, in this process (one of many under torchrun):
the process set-up, the model with its initial weights, the datasets, resuming, the trainer.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from lgformer.checkpoints.io import read_checkpoint
from lgformer.data.sources import build_datasets
from lgformer.distributed import (
    broadcast_object,
    env_process_info,
    init_distributed,
    leave_process_group,
    select_device,
)
from lgformer.engine.checkpoint import (
    BEST,
    DIVERGED,
    LAST,
    REPLACED,
    check_resumable,
    find_resume_checkpoint,
    load_checkpoint,
    model_from_weights,
    older_replaced_path,
    seed_everything,
    set_aside,
)
from lgformer.engine.config import TrainConfig
from lgformer.engine.stop_signals import TrainingInterrupted
from lgformer.engine.trainer import Trainer
from lgformer.model import LGFormer, build_lgformer

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
        auto_resume: False (``--no-resume``) starts over, the previous run's files set
            aside in ``<output.dir>/replaced/`` (``checkpoint.set_aside``), so that a later
            plain launch cannot resume the run thrown away.
        datasets: ``(cfg, max_words) -> (train, val, collate_fn)``; the REFER
            loader by default, any datasets of the same item dicts in tests.

    Raises:
        TrainingInterrupted: SIGINT/SIGTERM stopped the run after a step saved to last.pt.
    """
    device = select_device(cfg.device, env_process_info())
    if device.type == "cpu":
        retain_freed_memory()  # faster CPU steps
    info = init_distributed(device)
    finished = False
    try:
        log = print if info.is_main else _silent
        if resume is None and info.is_main:
            if auto_resume:
                resume = find_resume_checkpoint(cfg.output.dir)
            else:
                _set_aside_previous_run(Path(cfg.output.dir), log)
        # Rank 0 decides, so that every process resumes (or starts fresh) alike.
        resume = broadcast_object(None if resume is None else str(resume))
        ckpt = None if resume is None else load_checkpoint(resume)
        # Same seed everywhere for the weights (DDP also broadcasts rank 0's) ...
        seed_everything(cfg.seed)
        if ckpt is None:
            model = build_model(cfg, log=log)
        else:  # its random states are restored from the checkpoint too
            config = cfg.model.build()
            check_resumable(ckpt, resume, model_config=config.to_dict())
            model = model_from_weights(ckpt["model"], resume, config)
        train_set, val_set, collate_fn = datasets(cfg, model.config.max_words)
        # ... then one stream per process, so dropout and stochastic depth differ by rank.
        seed_everything(cfg.seed + info.rank)
        trainer = Trainer(
            cfg, model, train_set, val_set, info=info, device=device, collate_fn=collate_fn
        )
        if ckpt is not None:
            trainer.resume(ckpt, resume)
        try:
            trainer.fit()
        except TrainingInterrupted:
            finished = True  # every process stopped at the same step: leave together
            raise
        finished = True
        return trainer
    finally:
        leave_process_group(wait_for_peers=finished)


def build_model(cfg: TrainConfig, *, log: Callable[[str], None] = print) -> LGFormer:
    """The model a fresh run starts from: ``build_lgformer`` from ``cfg.model`` (gates
    initialised as ``cfg.objective`` says), then the ``cfg.init`` weights: Swin ImageNet
    and BERT; or a whole LGFormer checkpoint to fine-tune (``init.checkpoint``), which sets
    every tensor, so that the model is then built from it alone, with no random init."""
    init = cfg.init
    if init.checkpoint:
        sd, _ = read_checkpoint(init.checkpoint)
        # Owned copies: the run updates them in place, and a file's tensors may be mapped.
        owned = {key: value.clone() for key, value in sd.items()}
        model = model_from_weights(owned, init.checkpoint, cfg.model.build())
        unread = [f"init.{k}" for k in ("swin", "bert") if getattr(init, k)]
        if unread:
            log(f"{' and '.join(unread)} not read: {init.checkpoint} sets every tensor")
        log(f"LGFormer weights {init.checkpoint}: all tensors loaded")
        return model
    with warnings.catch_warnings():
        # transformers' notes about randomly initialised BERT weights are expected here.
        warnings.simplefilter("ignore")
        model = build_lgformer(cfg.model.build())
    if cfg.objective.gate_std > 0:
        model.backbone.reset_gates(cfg.objective.gate_std)
    if init.swin:
        from lgformer.checkpoints.imagenet import load_swin_imagenet

        report = load_swin_imagenet(model.backbone, init.swin)
        log(report.summary(f"Swin ImageNet weights {init.swin}"))
    if init.bert:
        from lgformer.checkpoints.bert import load_bert_weights

        report = load_bert_weights(model.text_encoder, init.bert)
        log(report.summary(f"BERT weights {init.bert}"))
    return model


def _set_aside_previous_run(out_dir: Path, log: Callable[[str], None]) -> None:
    """``--no-resume``: sets an earlier run's checkpoints, config and logs aside."""
    older = (out_dir / REPLACED).exists() or (out_dir / REPLACED).is_symlink()
    kept_as = older_replaced_path(out_dir)
    moved = set_aside(out_dir, (LAST, BEST, DIVERGED), ("config.yaml", "tensorboard"))
    if moved:
        replacing = f" (the older one there kept as {kept_as})" if older else ""
        names = ", ".join(moved)
        log(f"--no-resume: moved the previous run's {names} to {out_dir / REPLACED}{replacing}")


def _silent(message: str) -> None:
    del message


def retain_freed_memory() -> bool:
    """Tell glibc's malloc to keep large freed blocks for reuse; whether both settings
    were applied (False off glibc or if glibc refused one).

    A training step allocates and frees the same large activation buffers every time. By
    default glibc maps blocks above its mmap threshold (dynamic, at most 32 MiB) afresh and
    unmaps them on free, and returns free memory at the heap top beyond its trim threshold,
    so a step pays again for page faults and zeroing of the memory it just released.
    Raising both thresholds keeps those blocks in the heap, at the price of a resident set
    that stays at its peak: on the synthetic benchmark's bundled config a one-thread step
    got 3-9% faster and the two-process run ~15% more referring images/s
    (``benchmarks/results/bench_train_allocator_cpu.txt``).
    """
    path = ctypes.util.find_library("c")
    if path is None:
        return False
    try:
        libc = ctypes.CDLL(path)
        mallopt = libc.mallopt
        # gnu_get_libc_version exists only in glibc: other C libraries are left alone.
        libc.gnu_get_libc_version  # noqa: B018
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    # mallopt's M_MMAP_THRESHOLD (-3): blocks up to 1 GiB come from the heap (reused);
    # M_TRIM_THRESHOLD (-1): free memory at the heap top is returned only beyond 2 GiB.
    applied_mmap = mallopt(-3, 1 << 30) == 1
    applied_trim = mallopt(-1, (1 << 31) - 1) == 1
    return applied_mmap and applied_trim
