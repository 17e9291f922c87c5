"""Which of a worker's GPUs each of its runs trains on: all or nothing, packed, first come first served.

A worker owns one or more GPUs (`python -m worker --gpus 0,1,2,3`), each with `runs_per_gpu` slots. A run
that asks for K GPUs gets K whole GPUs (every slot of each) or keeps waiting: never part of them. Runs are
served in the order they arrived. When the first waiting run cannot start, it reserves the K GPUs closest to
free (fewest runs on them): later runs may still start on the other GPUs (backfill), never on those, so a run
that needs 4 GPUs is not starved by a stream of 1-GPU runs: each reserved GPU that frees up stays free until
it has its 4.

1-GPU runs go to the busiest GPU that still has a free slot (packing), leaving whole GPUs free for wide runs.

Thread-safe: the worker's Celery threads (one per run it holds) share one pool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class _Request:
    run_id: int
    gpus: int
    since: float = field(default_factory=time.monotonic)
    granted: list[int] | None = None  # indices into the pool's GPUs
    reason: str = ""


class GpuPool:
    def __init__(self, labels: list[str | None], runs_per_gpu: int = 1):
        """`labels`: how runs name each GPU ([None] for a worker without GPUs: one device, the CPU)."""
        if not labels or runs_per_gpu < 1:
            raise ValueError("a pool needs at least one device and one slot per device")
        self.labels = list(labels)
        self.runs_per_gpu = runs_per_gpu
        self._holders: list[list[int]] = [[] for _ in labels]  # run ids on each GPU
        self._wide: set[int] = set()  # runs on several GPUs: they have every slot of theirs
        self._waiting: list[_Request] = []
        self._cond = threading.Condition()

    @property
    def size(self) -> int:
        return len(self.labels)

    def acquire(self, run_id: int, gpus: int, *, still_wanted: Callable[[], bool] | None = None,
                patience: float | None = None, poll: float = 1.0) -> list[int] | None:
        """Wait until `gpus` whole GPUs (one slot for a 1-GPU run) are this run's; their indices. None when
        `still_wanted()` (asked every `poll` seconds while waiting, outside the lock: the worker checks the
        run in the database) says no, or after `patience` seconds spent behind another waiting run, so that
        the run may go back to the queue for another worker."""
        if not 1 <= gpus <= self.size:
            raise ValueError(f"run {run_id} asks for {gpus} GPUs; this worker has {self.size}")
        request = _Request(run_id, gpus)
        with self._cond:
            self._waiting.append(request)
            self._schedule()
            while request.granted is None:
                behind = self._waiting[0] is not request
                if patience is not None and behind and time.monotonic() - request.since > patience:
                    return self._withdraw(request)
                self._cond.wait(poll)
                if request.granted is None and still_wanted is not None:
                    self._cond.release()
                    try:
                        wanted = still_wanted()
                    finally:
                        self._cond.acquire()
                    if not wanted and request.granted is None:
                        return self._withdraw(request)
            return request.granted

    def _withdraw(self, request: _Request) -> None:
        self._waiting.remove(request)
        self._schedule()  # the runs behind it may fit now

    def release(self, run_id: int) -> None:
        with self._cond:
            for holders in self._holders:
                while run_id in holders:
                    holders.remove(run_id)
            self._wide.discard(run_id)
            self._schedule()

    def labels_of(self, indices: list[int]) -> list[str | None]:
        return [self.labels[i] for i in indices]

    def report(self) -> dict:
        """What the worker tells the database (workers.placement): its GPUs, who holds them, who waits and why."""
        with self._cond:
            return {
                "runs_per_gpu": self.runs_per_gpu,
                "gpus": [{"label": label, "runs": list(holders)}
                         for label, holders in zip(self.labels, self._holders, strict=True)],
                "waiting": [{"run_id": r.run_id, "gpus": r.gpus, "reason": r.reason} for r in self._waiting],
            }

    # ------------------------------------------------------------------------------------------ policy

    def _free_slots(self, i: int) -> int:
        if any(run in self._wide for run in self._holders[i]):
            return 0
        return self.runs_per_gpu - len(self._holders[i])

    def _fit(self, request: _Request, reserved: set[int]) -> list[int] | None:
        candidates = [i for i in range(self.size) if i not in reserved]
        if request.gpus == 1:
            open_ = [i for i in candidates if self._free_slots(i) > 0]
            return [max(open_, key=lambda i: (len(self._holders[i]), -i))] if open_ else None
        whole = [i for i in candidates if not self._holders[i]]
        return whole[:request.gpus] if len(whole) >= request.gpus else None

    def _schedule(self) -> None:
        """Grant what may start now, in order of arrival; say why the others wait."""
        head: _Request | None = None  # the first run that cannot start
        reserved: set[int] = set()  # the GPUs it will start on: nobody behind it may take them
        for request in list(self._waiting):
            granted = self._fit(request, reserved)
            if granted is None:
                if head is None:
                    head = request
                    closest = sorted(range(self.size), key=lambda i: (len(self._holders[i]), i))
                    reserved = set(closest[:request.gpus]) if request.gpus > 1 else set(range(self.size))
                request.reason = self._why(request, head)
                continue
            for i in granted:
                self._holders[i].append(request.run_id)
            if request.gpus > 1:
                self._wide.add(request.run_id)
            request.granted = granted
            self._waiting.remove(request)
        self._cond.notify_all()

    def _why(self, request: _Request, head: _Request) -> str:
        if head is not request:
            return f"behind run {head.run_id}, which waits for {_gpus(head.gpus)} on this worker"
        busy = sorted({run for holders in self._holders for run in holders})
        held_by = f" (held by run{'s' if len(busy) > 1 else ''} {', '.join(map(str, busy))})" if busy else ""
        if request.gpus == 1:
            where = "this worker's " + _gpus(self.size) if self.labels[0] is not None else "this worker"
            return f"every slot of {where} is taken{held_by}"
        whole = sum(1 for holders in self._holders if not holders)
        return f"needs {request.gpus} free GPUs at once; {whole} of this worker's {self.size} are free{held_by}"


def _gpus(n: int) -> str:
    return f"{n} GPU{'s' if n != 1 else ''}"
