"""torch.distributed set-up for torchrun: DDP with gloo on CPU, NCCL on CUDA.

Launched by `torchrun --nproc-per-node N -m tunesmith.train CONFIG` (or `tunesmith train
--nproc N`, which runs exactly that). Without torchrun's environment this is one process.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from tunesmith.errors import UsageError


@dataclass(frozen=True)
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed() -> DistContext:
    """Join the process group if torchrun started us; otherwise a single-process context."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        check_gpu_count(int(os.environ.get("LOCAL_WORLD_SIZE", world_size)))
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world_size > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=device)


def check_gpu_count(processes: int) -> None:
    """On a CUDA machine each process needs a GPU of its own; say so before any CUDA error."""
    if not torch.cuda.is_available():
        return
    gpus = torch.cuda.device_count()
    if processes > gpus:
        raise UsageError(
            f"{processes} training processes on this machine need {processes} GPUs; it has {gpus}",
            hint=f"use --nproc {gpus} (one process per GPU), or hide the GPUs with "
            "CUDA_VISIBLE_DEVICES= to train with CPU processes",
        )


def all_reduce_sum(value: float, context: DistContext) -> float:
    if not context.enabled:
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=context.device)
    dist.all_reduce(tensor)
    return float(tensor.item())


def broadcast_flag(flag: bool, context: DistContext) -> bool:
    """Rank 0's decision (e.g. early stopping), shared with every rank."""
    if not context.enabled:
        return flag
    tensor = torch.tensor([1 if flag else 0], device=context.device)
    dist.broadcast(tensor, src=0)
    return bool(tensor.item())


def barrier(context: DistContext) -> None:
    if context.enabled:
        dist.barrier()


def shutdown(context: DistContext) -> None:
    """Leave the process group. A failure here (a peer already gone) is not reported: the run's
    own outcome, success or the error that ended it, is what the caller must see."""
    if context.enabled and dist.is_initialized():
        with contextlib.suppress(Exception):
            dist.destroy_process_group()
