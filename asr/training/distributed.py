"""Data-parallel jobs under torchrun (training, batch transcription): the process group and a few collectives.

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR and MASTER_PORT; with WORLD_SIZE > 1 the
trainer joins a process group (gloo on the CPU, nccl on CUDA), wraps the model in
DistributedDataParallel and shards batches by rank. Without those variables everything here is a
no-op for a single process.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["DistInfo", "init_distributed", "shutdown", "barrier", "mean_across", "gather_objects",
           "broadcast_object"]


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job: rank, world size, local rank (its GPU), whether a group exists."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    enabled: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0 writes checkpoints and logs."""
        return self.rank == 0


def init_distributed(device: torch.device, timeout: datetime.timedelta | None = None) -> DistInfo:
    """Join the torchrun process group when WORLD_SIZE > 1 (backend from `device`); else a single process.

    timeout: how long a collective waits for the slowest rank (None: torch's default, 30 min for gloo).
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo", timeout=timeout)
    return DistInfo(rank, world, local, True)


def shutdown(info: DistInfo) -> None:
    """Leave the process group (if this process joined one)."""
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    """Wait for every rank."""
    if info.enabled:
        dist.barrier()


def mean_across(values: list[float], info: DistInfo, device: torch.device) -> list[float]:
    """The element-wise mean of `values` over all ranks (the values themselves for one process)."""
    if not info.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return (t / info.world_size).tolist()


def gather_objects(obj: Any, info: DistInfo) -> list[Any]:
    """Every rank's `obj`, in rank order, on every rank ([obj] for one process)."""
    if not info.enabled:
        return [obj]
    out: list[Any] = [None] * info.world_size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, info: DistInfo) -> Any:
    """Rank 0's `obj` on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
