"""One process or many, for training and evaluation alike.

``torchrun`` (and any launcher that sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``)
starts one process per device; without those variables the job is a single process and
every helper here is a no-op. ``init_distributed`` joins the process group (NCCL on GPU,
gloo on CPU) and ``shutdown_distributed`` leaves it; the collectives below are the few
the trainer and the evaluator need, and ``wrap_ddp`` / ``local_gradients`` /
``average_gradients`` are the training side's DDP plumbing.
"""

from __future__ import annotations

import contextlib
import datetime
import inspect
import os
from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from lgformer.errors import LGFormerError


@dataclass(frozen=True)
class ProcessInfo:
    """This process's place in the job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    # True when init_distributed created the process group (and should destroy it).
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_process_info() -> ProcessInfo:
    """``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` from the environment (defaults: one process)."""
    world = _env_int("WORLD_SIZE", 1)
    rank = _env_int("RANK", 0)
    return ProcessInfo(rank=rank, world_size=world, local_rank=_env_int("LOCAL_RANK", rank))


def select_device(requested: str, info: ProcessInfo) -> torch.device:
    """``auto`` -> this process's GPU (``cuda:LOCAL_RANK``) when there is one, else CPU."""
    if requested == "cpu" or (requested == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise LGFormerError("device=cuda was requested but CUDA is not available (use device=cpu)")
    device = torch.device("cuda", info.local_rank % torch.cuda.device_count())
    torch.cuda.set_device(device)
    return device


def init_distributed(device: str | torch.device, *, timeout_min: int = 30) -> ProcessInfo:
    """Join the torchrun job described by the environment, if any.

    Uses NCCL for CUDA devices and gloo otherwise, and pins each process to GPU
    ``LOCAL_RANK``. Without ``WORLD_SIZE`` > 1 nothing is initialised; with a process
    group already initialised by the caller, that one is used (and not owned).
    """
    info = env_process_info()
    if dist.is_available() and dist.is_initialized():
        return replace(info, rank=dist.get_rank(), world_size=dist.get_world_size())
    if not info.enabled:
        return info
    kwargs: dict[str, Any] = {}
    if torch.device(device).type == "cuda":
        cuda = torch.device("cuda", info.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(cuda)
        kwargs["device_id"] = cuda
    dist.init_process_group(
        backend="nccl" if kwargs else "gloo",
        rank=info.rank,
        world_size=info.world_size,
        timeout=datetime.timedelta(minutes=timeout_min),
        **kwargs,
    )
    return replace(info, owns_group=True)


def leave_process_group(*, wait_for_peers: bool) -> None:
    """Destroy the default process group (no-op without one).

    ``wait_for_peers`` (the work ended normally) first meets every process at a
    barrier, so that none tears down its connections while another still uses them:
    rank 0 is often still writing files when the others finish, and an
    unsynchronised teardown can abort it after its work is done. After an error
    the peers may never arrive, so the group is destroyed at once.
    """
    if dist.is_available() and dist.is_initialized():
        if wait_for_peers:
            dist.barrier()
        dist.destroy_process_group()


def shutdown_distributed(process: ProcessInfo, *, wait_for_peers: bool = False) -> None:
    """Leave the process group if ``init_distributed`` created it for ``process``."""
    if process.owns_group:
        leave_process_group(wait_for_peers=wait_for_peers)


def _active() -> bool:
    return dist.is_available() and dist.is_initialized()


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """In-place sum over processes (identity for one process); returns ``tensor``."""
    if _active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_max(tensor: torch.Tensor) -> torch.Tensor:
    """In-place maximum over processes (identity for one process); returns ``tensor``."""
    if _active():
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return tensor


def all_gather_objects(obj: Any) -> list[Any]:
    """Every process's ``obj``, in rank order (``[obj]`` for one process)."""
    if not _active():
        return [obj]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` of process ``src`` on every process."""
    if not _active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def wrap_ddp(
    model: nn.Module, info: ProcessInfo, device: torch.device, ignore: tuple[str, ...] = ()
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


def local_gradients(model: nn.Module, enabled: bool = True) -> contextlib.AbstractContextManager:
    """A context in which a DDP model's backward passes skip DDP's all-reduce (its
    ``no_sync``); a no-op when not ``enabled`` or for a model that is not wrapped. Pair
    with ``average_gradients``."""
    if enabled and isinstance(model, nn.parallel.DistributedDataParallel):
        return model.no_sync()
    return contextlib.nullcontext()


def average_gradients(params: list[nn.Parameter]) -> None:
    """Averages over processes the gradients that exist, in one flat all-reduce.

    For steps that use a small part of the model (the vision-only warm start), where
    DDP's buckets would carry the zero gradients of everything else. Every process
    must have gradients for the same parameters (the same graph). Identity for one
    process.
    """
    if not _active() or dist.get_world_size() == 1:
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


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default
