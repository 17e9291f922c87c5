"""The papers' replicas: how one step's images split into groups, and which groups this process holds.

The papers trained with Lua Torch's DataParallelTable: the batch was split over the GPUs, and each GPU's
batch norm and batch-level random draws saw only its own slice ("ghost batch norm", Hoffer et al. 2017,
arXiv:1705.08741). `optim.replica_batch` keeps that split whatever the number of processes that actually
train the run: a batch of `batch_size` images is `batch_size / replica_batch` groups, and K processes
(DistributedDataParallel) hold `groups / K` consecutive groups each.

A `BatchLayout` says this for one step; the training loop makes it current (`using_layout`) around the
forward pass, and the model's batch norms (`batch_norm.GhostBatchNorm2d`) and regularizers read it. With no
layout current, a batch is one group held whole: plain batch norm and one draw per batch, as before.

Every random draw is made for the whole global batch, by every process, from torch's generator seeded
alike in every process, then sliced: a process's draws do not depend on the number of processes.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

__all__ = ["PlacementError", "BatchLayout", "group_sizes", "layout_for", "current_layout", "using_layout",
           "check_world"]


class PlacementError(ValueError):
    """A number of processes that cannot train this spec (it would cut a replica group in two)."""


@dataclass(frozen=True)
class BatchLayout:
    """One step's global batch in groups, and the consecutive groups this process holds.

    Plain values only (read by compiled models: dynamo guards on them), derived once at construction."""
    sizes: tuple[int, ...]  # the images of every group of the global batch, in order
    first: int = 0  # this process's first group
    count: int = 0  # the groups this process holds (0: all of them)
    local_sizes: tuple[int, ...] = field(init=False)
    global_size: int = field(init=False)
    offset: int = field(init=False)  # where this process's images start in the global batch
    local_size: int = field(init=False)

    def __post_init__(self):
        count = self.count or len(self.sizes) - self.first
        local = self.sizes[self.first:self.first + count]
        for name, value in (("count", count), ("local_sizes", local), ("global_size", sum(self.sizes)),
                            ("offset", sum(self.sizes[:self.first])), ("local_size", sum(local))):
            object.__setattr__(self, name, value)

    @property
    def groups(self) -> int:
        return len(self.sizes)

    @property
    def whole(self) -> bool:
        """Whether this process holds the whole global batch."""
        return self.count == len(self.sizes)

    @property
    def uniform(self) -> bool:
        """Whether this process's groups all hold the same number of images (a reshape splits them)."""
        return min(self.local_sizes) == max(self.local_sizes)


def group_sizes(n: int, groups: int) -> tuple[int, ...]:
    """`n` images split into `groups` groups as DataParallelTable splits a batch over its GPUs: as evenly as
    possible, in order (a full batch: replica_batch images each; the last, partial batch: its n images
    shared out, e.g. 80 as 40 + 40 over 2 groups)."""
    bounds = [math.ceil(i * n / groups) for i in range(groups + 1)]
    return tuple(b - a for a, b in zip(bounds, bounds[1:], strict=False))


def check_world(batch_size: int, replica_batch: int, world: int) -> None:
    """Refuse a number of processes that would cut a group in two."""
    groups = batch_size // replica_batch
    if groups % world:
        raise PlacementError(f"{world} processes cannot share a batch of {batch_size} split into {groups} groups of "
                         f"optim.replica_batch {replica_batch}: the groups must divide evenly over the processes "
                         f"(use a number of processes that divides {groups})")


@lru_cache(maxsize=64)
def layout_for(n: int, batch_size: int, replica_batch: int, rank: int = 0, world: int = 1) -> BatchLayout:
    """The layout of a global batch of `n` images (`batch_size`, or fewer for an epoch's last batch) on
    process `rank` of `world`. Cached: one object per shape, so a compiled model sees the same layout."""
    check_world(batch_size, replica_batch, world)
    groups = batch_size // replica_batch
    per_process = groups // world
    return BatchLayout(group_sizes(n, groups), rank * per_process, per_process)


_current: BatchLayout | None = None


def current_layout() -> BatchLayout | None:
    return _current


@contextlib.contextmanager
def using_layout(layout: BatchLayout | None) -> Iterator[None]:
    """Make `layout` current for the forward passes inside the block."""
    global _current
    previous, _current = _current, layout
    try:
        yield
    finally:
        _current = previous
