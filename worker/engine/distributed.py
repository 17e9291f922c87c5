"""One run on several processes: torchrun's environment, the process group, and the few collectives the
training loop needs.

    torchrun --standalone --nproc-per-node=K -m worker.engine train SPEC.json --out DIR

starts K processes (ranks) that train one run with DistributedDataParallel: NCCL between GPUs (rank r on
GPU `LOCAL_RANK`), gloo between CPU processes. Without torchrun's variables (WORLD_SIZE unset or 1) a run is
one process and none of this is used.

How a run stays the same run whatever K (docs/engine.md, "Several GPUs"): every rank holds the whole
dataset and draws the whole epoch's order and augmentation, then takes its groups of each batch
(`replicas`); regularizer draws are made for the whole batch from torch's generator, seeded alike on every
rank, and sliced; the loss is scaled so that DDP's mean over ranks is the mean over the global batch;
evaluation is split over the ranks and summed; rank 0 alone writes the run directory.
"""

from __future__ import annotations

import ctypes
import inspect
import os
import signal
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["Placement", "placement_from_env", "SINGLE"]

# A rank that waits longer than this on the others (one died, a filesystem stalled) gives up, so that
# torchrun restarts the group or fails it rather than hanging.
COLLECTIVE_TIMEOUT = timedelta(minutes=10)


@dataclass(frozen=True)
class Placement:
    """Where this process sits: rank of world, and its device."""
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    @property
    def leader(self) -> bool:
        """Rank 0: the one that writes the run directory and reports progress."""
        return self.rank == 0

    def device(self, name: str) -> torch.device:
        """The device a rank trains on: GPU `LOCAL_RANK` where CUDA is asked for (or auto), else the CPU."""
        if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
            return torch.device("cpu")
        return torch.device("cuda", self.local_rank)

    def start(self, device: torch.device) -> None:
        if not self.distributed or dist.is_initialized():
            return
        _die_with_agent()
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", timeout=COLLECTIVE_TIMEOUT,
                                device_id=device if device.type == "cuda" else None)

    def stop(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()

    def sum(self, *tensors: torch.Tensor) -> None:
        """Sum each tensor over the ranks, in place (one collective for all of them)."""
        if not self.distributed:
            return
        flat = torch.stack([t.to(torch.float64) for t in tensors])
        dist.all_reduce(flat)
        for t, total in zip(tensors, flat, strict=True):
            t.copy_(total.to(t.dtype))

    def share_buffers(self, model: nn.Module) -> None:
        """Rank 0's buffers (batch norm's running statistics: the first replica group's) on every rank."""
        if self.distributed:
            for buffer in model.buffers():
                dist.broadcast(buffer, 0)

    def agree(self, value):
        """Rank 0's `value` (any picklable object) on every rank."""
        if not self.distributed:
            return value
        box = [value]
        dist.broadcast_object_list(box, 0)
        return box[0]

    def wrap(self, model: nn.Module, device: torch.device) -> nn.Module:
        """The model under DistributedDataParallel (its gradients averaged over the ranks), or itself."""
        if not self.distributed:
            return model
        from torch.nn.parallel import DistributedDataParallel

        # Buffers are not broadcast every step: only rank 0's running statistics count, and they are shared
        # before each evaluation (share_buffers).
        devices = [device.index] if device.type == "cuda" else None
        if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters:  # torch >= 2.13
            return DistributedDataParallel(model, device_ids=devices, forward_sync_buffers=False)
        return DistributedDataParallel(model, device_ids=devices, broadcast_buffers=False)

    def shard(self, n: int) -> slice:
        """This rank's contiguous share of n items (evaluation)."""
        return slice(n * self.rank // self.world, n * (self.rank + 1) // self.world)


SINGLE = Placement()

_PR_SET_PDEATHSIG = 1


def _die_with_agent() -> None:
    """torchrun starts each rank in a session of its own, so a SIGKILL that ends its agent (a worker
    cancelling the run, or killed itself) would not reach the ranks: each rank asks the kernel for a SIGKILL
    when its parent, the agent, dies, and leaves at once if it already has."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() == 1:
        os._exit(1)


def placement_from_env() -> Placement:
    """This process's place from torchrun's variables (RANK, WORLD_SIZE, LOCAL_RANK); one process without."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return SINGLE
    return Placement(rank=int(os.environ["RANK"]), world=world, local_rank=int(os.environ.get("LOCAL_RANK", "0")))
