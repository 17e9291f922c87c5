"""Where runs train and why queued runs wait, from what the workers report of their GPUs (worker/gpu_pool.py).

A queued run waits for one of: a worker to hold its message (none alive, or none with as many GPUs as it
asks for), the broker (not published yet), a free worker (all of those that could take it are busy), or,
once a worker holds it, that worker's GPUs, whose own words say which runs hold them or which run it is
queued behind.
"""

from __future__ import annotations

from pydantic import ValidationError

from .models import Run, Worker
from .schemas import WorkerPlacement


def placement_of(worker: Worker) -> WorkerPlacement | None:
    """A worker's `placement` column; None from a worker older than this report or unreadable."""
    try:
        return WorkerPlacement.model_validate(worker.placement) if worker.placement else None
    except ValidationError:
        return None


def gpus_owned(worker: Worker) -> int:
    """The GPUs a worker trains on: its labels ("0,1,2,3"); one for a worker on the CPU."""
    return len(worker.gpu.split(",")) if worker.gpu else 1


def has_room(placement: WorkerPlacement | None, gpus: int) -> bool:
    """Whether a worker with this placement could start a run of `gpus` GPUs now (unknown: assume it could)."""
    if placement is None:
        return True
    if placement.waiting:
        return False
    if gpus == 1:
        return any(len(g.runs) < placement.runs_per_gpu for g in placement.gpus)
    return sum(not g.runs for g in placement.gpus) >= gpus


def waiting_reasons(queued: list[Run], alive_workers: list[Worker]) -> dict[int, str]:
    """Why each queued run has not started, in a sentence."""
    placements = {worker.name: placement_of(worker) for worker in alive_workers}
    held = {entry.run_id: (worker.name, entry.reason) for worker in alive_workers
            if (placement := placements[worker.name]) is not None for entry in placement.waiting}
    widest = max((gpus_owned(w) for w in alive_workers), default=0)
    reasons = {}
    for run in queued:
        able = [w for w in alive_workers if gpus_owned(w) >= run.gpus]
        if run.id in held:
            name, reason = held[run.id]
            reasons[run.id] = f"held by worker {name}: {reason}"
        elif not alive_workers:
            reasons[run.id] = "no worker is running: start one (`python -m worker`, or docker compose's workers)"
        elif not able:
            reasons[run.id] = (f"asks for {run.gpus} GPUs and the widest worker running has {widest}: start a worker "
                               f"that owns {run.gpus} (`python -m worker --gpus 0,1,...`)")
        elif run.dispatched_at is None:
            reasons[run.id] = "not handed to the broker yet (the API retries while the broker is unreachable)"
        elif any(has_room(placements[w.name], run.gpus) for w in able):
            reasons[run.id] = "about to be taken by a worker with room for it"
        else:
            what = "slot" if run.gpus == 1 else f"{run.gpus} free GPUs at once"
            reasons[run.id] = (f"waits for a {what}: the {len(able)} worker{'s' if len(able) > 1 else ''} that can "
                               f"train it {'are' if len(able) > 1 else 'is'} busy")
    return reasons
