"""One process or many: read torchrun's environment, set up the process group.

``torchrun`` (and any launcher that sets ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK``) starts one process per device; without those variables the
run is a single process and every helper here is a no-op.
"""

from __future__ import annotations

import contextlib
import datetime
import inspect
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from lgformer.errors import LGFormerError
from lgformer.evaluation.distributed import leave_process_group


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_dist_info() -> DistInfo:
    """``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` from the environment (defaults: one process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    return DistInfo(rank=rank, world_size=world, local_rank=local)


def select_device(requested: str, info: DistInfo) -> torch.device:
    """``auto`` -> this process's GPU (``cuda:LOCAL_RANK``) when there is one, else CPU."""
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise LGFormerError("device=cuda was requested but CUDA is not available (use device=cpu)")
    device = torch.device("cuda", info.local_rank % torch.cuda.device_count())
    torch.cuda.set_device(device)
    return device


def init_distributed(info: DistInfo, device: torch.device, *, timeout_min: int = 30) -> None:
    """Join the process group: NCCL on GPU, gloo on CPU. No-op for one process."""
    if not info.enabled or dist.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    kwargs: dict[str, Any] = {}
    if device.type == "cuda":
        kwargs["device_id"] = device
    dist.init_process_group(
        backend=backend,
        rank=info.rank,
        world_size=info.world_size,
        timeout=datetime.timedelta(minutes=timeout_min),
        **kwargs,
    )


def cleanup_distributed(*, wait_for_peers: bool = False) -> None:
    """Leave the process group (no-op without one); ``wait_for_peers`` after a run that
    ended normally (see ``lgformer.evaluation.distributed.leave_process_group``)."""
    leave_process_group(wait_for_peers=wait_for_peers)


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """In-place sum over processes (identity for one process); returns ``tensor``."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_max(tensor: torch.Tensor) -> torch.Tensor:
    """In-place maximum over processes (identity for one process); returns ``tensor``."""
    if dist.is_available() and dist.is_initialized():
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def all_gather_objects(obj: Any) -> list[Any]:
    """Every process's ``obj``, in rank order (``[obj]`` for one process)."""
    if not (dist.is_available() and dist.is_initialized()):
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` of process ``src`` on every process."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def wrap_ddp(
    model: nn.Module, info: DistInfo, device: torch.device, ignore: tuple[str, ...] = ()
) -> nn.Module:
    """``DistributedDataParallel`` for many processes, the model itself for one.

    ``ignore``: names of parameters DDP must leave alone because only steps outside its
    synchronisation use them (their gradients are averaged by ``average_gradients``).
    DDP remembers the parameters used under ``no_sync`` and, in the next synchronised
    step, expects a gradient for each; one that this step does not use then fails.
    They are broadcast from rank 0 here, as DDP does with the others.
    """
    if not info.enabled:
        return model
    if ignore:
        nn.parallel.DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
            model, list(ignore)
        )
        # DDP starts every process from rank 0's weights; do the same for these.
        with torch.no_grad():
            for name, param in model.named_parameters():
                if name in ignore:
                    dist.broadcast(param.data, src=0)
    ids = [device.index] if device.type == "cuda" else None
    # The last stage's gates (res_gate, sym_res_gate) exist in the released checkpoints but
    # feed nothing (the backbone returns the last fusion output), so some parameters never
    # get a gradient; the released training also ran with find_unused_parameters=True.
    # Buffers (relative position indices, ...) are constants: no need to sync them per step
    # (newer torch names the switch forward_sync_buffers, older ones broadcast_buffers).
    ddp = nn.parallel.DistributedDataParallel
    params = inspect.signature(ddp.__init__).parameters
    no_sync = "forward_sync_buffers" if "forward_sync_buffers" in params else "broadcast_buffers"
    return ddp(model, device_ids=ids, find_unused_parameters=True, **{no_sync: False})


def local_gradients(model: nn.Module) -> contextlib.AbstractContextManager:
    """A context in which a DDP model's backward passes skip DDP's all-reduce (its
    ``no_sync``); a no-op for a model that is not wrapped. Pair with
    ``average_gradients``."""
    if isinstance(model, nn.parallel.DistributedDataParallel):
        return model.no_sync()
    return contextlib.nullcontext()


def average_gradients(params: list[nn.Parameter]) -> None:
    """Averages over processes the gradients that exist, in one flat all-reduce.

    For steps that use a small part of the model (the vision-only warm start), where
    DDP's buckets would carry the zero gradients of everything else. Every process
    must have gradients for the same parameters (the same graph). Identity for one
    process.
    """
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= dist.get_world_size()
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DDP wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
