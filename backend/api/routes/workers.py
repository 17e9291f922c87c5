"""What the workers report with their presence: who is alive (GET /api/workers), and from that, whether each
dataset is on them or will be downloaded first (GET /api/datasets)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from ... import store
from ...datasets import dataset_availability, worker_report
from ...schemas import DatasetAvailability, WorkerOut
from ..deps import db_session

router = APIRouter(tags=["workers"])

Db = Annotated[Session, Depends(db_session)]


@router.get("/workers", response_model=list[WorkerOut],
            summary="The workers seen in the last week, newest first, whether each is alive now, and its datasets")
def list_workers(request: Request, db: Db) -> list[WorkerOut]:
    stale_after = request.app.state.settings.stale_after_seconds
    return [WorkerOut(name=w.name, gpu=w.gpu, slots=w.slots, started_at=w.started_at, last_seen=w.last_seen,
                      stopped_at=w.stopped_at, alive=alive, datasets=worker_report(w.datasets))
            for w, alive in store.find_workers(db, alive_within=stale_after)]


@router.get("/datasets", response_model=list[DatasetAvailability],
            summary="Each dataset: on the workers alive now, downloaded by them before the first epoch, or not "
                    "to be had (downloads off)")
def list_datasets(request: Request, db: Db) -> list[DatasetAvailability]:
    return dataset_availability(db, alive_within=request.app.state.settings.stale_after_seconds)
