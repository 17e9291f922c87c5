"""What the workers report with their presence: who is alive (GET /api/workers), and from that, whether each
dataset is on them or will be downloaded first (GET /api/datasets)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ... import store
from ...datasets import dataset_availability, worker_report
from ...placement import gpus_owned, placement_of
from ...schemas import DatasetAvailability, WorkerOut, WorkerRun
from ..deps import Db

router = APIRouter(tags=["workers"])



@router.get("/workers", response_model=list[WorkerOut],
            summary="The workers seen in the last week, newest first: alive or not, what each trains, its datasets")
def list_workers(request: Request, db: Db) -> list[WorkerOut]:
    stale_after = request.app.state.settings.stale_after_seconds
    training = store.runs_by_worker(db)
    out = []
    for w, alive in store.find_workers(db, alive_within=stale_after):
        runs = training.get(w.name, []) if alive else []
        state = "stopped" if w.stopped_at else "stale" if not alive else "training" if runs else "idle"
        out.append(WorkerOut(name=w.name, gpu=w.gpu, gpus=gpus_owned(w), slots=w.slots, placement=placement_of(w),
                             started_at=w.started_at, last_seen=w.last_seen,
                             stopped_at=w.stopped_at, alive=alive, datasets=worker_report(w.datasets), state=state,
                             runs=[WorkerRun(id=r.id, name=r.name, epochs_done=r.epochs_done, epochs=r.epochs,
                                             progress=r.epochs_done / r.epochs, last_test_error=r.last_test_error,
                                             heartbeat_at=r.heartbeat_at) for r in runs]))
    return out


@router.get("/datasets", response_model=list[DatasetAvailability],
            summary="Each dataset: on the workers alive now, downloaded by them before the first epoch, or not "
                    "to be had (downloads off)")
def list_datasets(request: Request, db: Db) -> list[DatasetAvailability]:
    return dataset_availability(db, alive_within=request.app.state.settings.stale_after_seconds)
