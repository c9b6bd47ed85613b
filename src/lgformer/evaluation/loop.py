"""The one loop that turns a model and a sharded loader into per-sample pixel counts.

``count_dataset`` is the whole evaluation of one dataset (this process's shard, a
progress bar, ``count_ious``), shared by ``lgformer evaluate`` (``evaluate``) and
validation during training (``lgformer.engine.trainer.validate``).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from lgformer.distributed import ProcessInfo
from lgformer.evaluation.accumulator import IoUAccumulator
from lgformer.evaluation.distributed import ShardSampler
from lgformer.evaluation.metrics import intersection_union, predict_foreground

RESOLUTIONS = ("input", "original")


def shard_loader(
    dataset: Dataset,
    *,
    batch_size: int,
    rank: int,
    world_size: int,
    num_workers: int,
    collate_fn: Callable | None,
    device: torch.device,
    loader_class: type[DataLoader] = DataLoader,
) -> DataLoader:
    """A loader over this process's contiguous shard of ``dataset``, in dataset order.

    ``loader_class`` builds it (training passes the one whose workers leave SIGINT and
    SIGTERM to the trainer, so a stop during validation does not kill the workers).
    """
    return loader_class(
        dataset,
        batch_size=batch_size,
        sampler=ShardSampler(len(dataset), rank, world_size),
        num_workers=num_workers,
        collate_fn=collate_fn,
        pin_memory=device.type == "cuda",
    )


def takes_image_index(model: nn.Module) -> bool:
    """Whether ``model`` (or the module inside a DDP or ``torch.compile`` wrapper) accepts
    ``image_index``, i.e. runs the text-free part once per image (``LGFormer``)."""
    inner = model
    for wrapper_attribute in ("module", "_orig_mod"):  # DDP, torch.compile
        inner = getattr(inner, wrapper_attribute, inner)
    return "image_index" in inspect.signature(inner.forward).parameters


def model_images(
    model: nn.Module, batch: dict, device: torch.device
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The batch's images on ``device`` and the keyword arguments that go with them.

    A batch with ``image_index`` holds each image once, (K, 3, S, S): a model that takes
    ``image_index`` gets them so; any other gets them repeated per sample, (B, 3, S, S).
    """
    image = batch["image"].to(device, non_blocking=True)
    index = batch.get("image_index")
    if index is None:
        return image, {}
    index = index.to(device, non_blocking=True)
    if takes_image_index(model):
        return image, {"image_index": index}
    return image.index_select(0, index), {}


def count_dataset(
    model: nn.Module,
    dataset: Dataset,
    *,
    batch_size: int,
    process: ProcessInfo,
    num_workers: int,
    collate_fn: Callable | None,
    device: torch.device,
    resolution: str = "input",
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    progress: bool = False,
    desc: str = "evaluating",
    leave: bool = True,
    loader_class: type[DataLoader] = DataLoader,
) -> IoUAccumulator:
    """``count_ious`` over this process's shard of ``dataset`` (``shard_loader``), with a
    progress bar (``desc``, kept when done with ``leave``) on the main process when
    ``progress``; every process gets the counts of the whole dataset."""
    loader = shard_loader(
        dataset,
        batch_size=batch_size,
        rank=process.rank,
        world_size=process.world_size,
        num_workers=num_workers,
        collate_fn=collate_fn,
        device=device,
        loader_class=loader_class,
    )
    bar = tqdm(
        total=len(loader.sampler),
        unit="sample",
        desc=desc,
        disable=not (progress and process.is_main),
        dynamic_ncols=True,
        leave=leave,
    )
    with bar:
        return count_ious(
            model, loader, device=device, resolution=resolution, autocast=autocast, bar=bar
        )


def batch_counts(
    logits: torch.Tensor, batch: dict, resolution: str, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B,) intersections and unions of one batch.

    logits: (B, 1, S, S). ``"input"`` compares with ``batch["target"]`` (B, S, S) at
    S x S; ``"original"`` upsamples each logit map bilinearly to its
    ``batch["orig_mask"]`` (H_i, W_i) and compares there.
    """
    if resolution == "input":
        target = batch["target"].to(device, non_blocking=True)  # (B, S, S) bool or 0/1
        if target.dtype != torch.bool:
            target = target > 0.5
        return intersection_union(predict_foreground(logits[:, 0]), target)
    inters, unions = [], []
    for logit, mask in zip(logits, batch["orig_mask"], strict=True):
        # (1, 1, S, S) -> (1, 1, H, W): every image has its own size.
        up = F.interpolate(
            logit[None].float(), size=tuple(mask.shape), mode="bilinear", align_corners=False
        )
        i, u = intersection_union(predict_foreground(up[0]), mask[None].to(device))
        inters.append(i)
        unions.append(u)
    return torch.cat(inters), torch.cat(unions)


def count_ious(
    model: nn.Module,
    loader: DataLoader,
    *,
    device: torch.device,
    resolution: str = "input",
    autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext,
    bar: tqdm | None = None,
) -> IoUAccumulator:
    """Run ``model`` over ``loader`` and gather every process's per-sample counts.

    Samples are keyed by their position in the dataset, read off the loader's
    sampler (whose order the batches follow), so shards from several processes
    combine into exactly the single-process records. The model runs in eval
    mode under ``torch.inference_mode`` and ``autocast()``; its mode is restored.

    Args:
        model: maps (image (B,3,S,S), token_ids (B,L), attention_mask (B,L)) to an
            output with ``pred_logits`` (B,1,S,S).
        loader: batches with ``image``, ``token_ids``, ``attention_mask`` and
            ``target`` (or ``orig_mask`` for ``resolution="original"``), and
            ``image_index`` where images are sent once (``collate_shared_images``); its
            sampler must yield each sample of this process once, in order.
        bar: advanced by the batch size after each batch.
    """
    if resolution not in RESOLUTIONS:
        raise ValueError(f"resolution must be one of {RESOLUTIONS}, got {resolution!r}")
    positions = list(loader.sampler)
    acc = IoUAccumulator()
    seen = 0
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for batch in loader:
                image, shared = model_images(model, batch, device)
                with autocast():
                    logits = model(
                        image,
                        batch["token_ids"].to(device, non_blocking=True),
                        batch["attention_mask"].to(device, non_blocking=True),
                        **shared,
                    ).pred_logits  # (B, 1, S, S)
                inter, union = batch_counts(logits, batch, resolution, device)
                count = len(inter)
                acc.add(inter, union, positions[seen : seen + count])
                seen += count
                if bar is not None:
                    bar.update(count)
    finally:
        model.train(was_training)
    return acc.synchronize()
