"""How fast this installation trains, from what its finished runs measured: the Reproduce dialog's time on
this installation's workers, beside the H100 estimate of cost.py.

A planned run's rate is the median images/s of the finished runs of the same model at the same batch size.
Failing that, it is scaled by FLOPs: the median of the finished runs' training speed in FLOP/s (images/s x
FLOPs per image) over the planned model's FLOPs per image. Only runs of models with a FLOPs figure
(cost.FORWARD_GFLOPS) can be scaled; small models use a device less well than large ones, so a rate scaled
from them is optimistic on a GPU. Runs measured on the workers alive now are used when there are any, so
that an installation whose GPU machine has gone is not credited with its speed. A worker started without a
GPU (`gpu` null in the workers table, as `python -m worker` without `--gpu` records it) is a CPU worker.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.engine.spec import RunSpec

from .. import store
from ..models import Run
from .cost import FORWARD_GFLOPS, model_dict_key, model_key, run_hours
from .schemas import InstallationWorkers, LocalEstimate, LocalRate

__all__ = ["MEASURED_RUNS_CONSIDERED", "MeasuredRun", "Installation", "installation", "local_estimate"]

MEASURED_RUNS_CONSIDERED = 200


@dataclass(frozen=True)
class MeasuredRun:
    id: int
    model_key: str
    batch_size: int
    images_per_second: float
    worker: str
    gpu: str | None  # the GPU label it trained on; None: on a CPU

    @property
    def gflops_per_second(self) -> float | None:
        gflops = FORWARD_GFLOPS.get(self.model_key)
        return None if gflops is None else self.images_per_second * 3 * gflops


def _worker_host(name: str) -> str:
    """A worker's row is named host[/gpuN]#pid; its runs record host[/gpuN]."""
    return name.rsplit("#", 1)[0]


@dataclass(frozen=True)
class Installation:
    workers: InstallationWorkers
    runs: tuple[MeasuredRun, ...]  # the finished runs its rates come from, newest first
    on_workers_alive: bool  # whether those runs were measured on the workers alive now

    def rate(self, spec: RunSpec, planned_runs: int) -> LocalRate | None:
        key, batch = model_key(spec), spec.optim.batch_size
        same = [r for r in self.runs if r.model_key == key and r.batch_size == batch]
        if same:
            return LocalRate(model=spec.model.model_dump(mode="json"), batch_size=batch, runs=planned_runs,
                             images_per_second=statistics.median(r.images_per_second for r in same),
                             method="same model", measured_run_ids=[r.id for r in same])
        target = FORWARD_GFLOPS.get(key)
        scalable = [r for r in self.runs if r.gflops_per_second is not None]
        if target is None or not scalable:
            return None
        speed = statistics.median(r.gflops_per_second for r in scalable)
        return LocalRate(model=spec.model.model_dump(mode="json"), batch_size=batch, runs=planned_runs,
                         images_per_second=speed / (3 * target), method="scaled by FLOPs",
                         measured_run_ids=[r.id for r in scalable])


def _alive_workers(session: Session, alive_within: float) -> InstallationWorkers:
    alive = [w for w, ok in store.find_workers(session, alive_within=alive_within) if ok]
    return InstallationWorkers(alive=[w.name for w in alive], gpu=[w.name for w in alive if w.gpu is not None],
                               cpu=[w.name for w in alive if w.gpu is None], slots=sum(w.slots for w in alive))


def installation(session: Session, *, alive_within: float) -> Installation:
    """The workers alive now and the finished runs whose measured speed stands for theirs."""
    workers = _alive_workers(session, alive_within)
    query = (select(Run.id, Run.spec, Run.images_per_second, Run.worker, Run.gpu)
             .where(Run.status == "succeeded", Run.images_per_second > 0)
             .order_by(Run.id.desc()).limit(MEASURED_RUNS_CONSIDERED))
    runs = [MeasuredRun(run_id, model_dict_key(spec["model"]), spec["optim"]["batch_size"], rate,
                        worker or "an unknown worker", gpu)
            for run_id, spec, rate, worker, gpu in session.execute(query)]
    hosts = {_worker_host(name) for name in workers.alive}
    on_alive = [r for r in runs if r.worker in hosts]
    return Installation(workers, tuple(on_alive or runs), bool(on_alive))


def _device(workers: InstallationWorkers) -> str:
    if workers.gpu and workers.cpu:
        return "cpu and gpu"
    return "gpu" if workers.gpu else "cpu" if workers.cpu else "none"


def local_estimate(place: Installation, groups: list[list[RunSpec]]) -> LocalEstimate:
    """The time of the planned runs (grouped by model and batch size) at this installation's rates."""
    hours, without, rates, used = 0.0, 0, [], set()
    for specs in groups:
        rate = place.rate(specs[0], len(specs))
        if rate is None:
            without += len(specs)
            continue
        rates.append(rate)
        used.update(rate.measured_run_ids)
        hours += sum(run_hours(spec, rate.images_per_second) for spec in specs)
    measured = [r for r in place.runs if r.id in used]
    on = dict.fromkeys(f"{r.worker} ({'GPU ' + r.gpu if r.gpu is not None else 'CPU'})" for r in measured)
    slots = place.workers.slots
    return LocalEstimate(hours=hours if rates else None,
                         wall_hours=hours / slots if rates and slots else None,
                         workers=place.workers, device=_device(place.workers),
                         measured_run_ids=[r.id for r in measured], measured_on=list(on),
                         on_workers_alive=place.on_workers_alive, runs_without_rate=without, rates=rates)
