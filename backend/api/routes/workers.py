from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from ... import store
from ...schemas import WorkerOut
from ..deps import db_session

router = APIRouter(tags=["workers"])


@router.get("/workers", response_model=list[WorkerOut],
            summary="The workers seen in the last week, newest first, and whether each is alive now")
def list_workers(request: Request, db: Annotated[Session, Depends(db_session)]) -> list[WorkerOut]:
    stale_after = request.app.state.settings.stale_after_seconds
    return [WorkerOut(name=w.name, gpu=w.gpu, slots=w.slots, started_at=w.started_at, last_seen=w.last_seen,
                      stopped_at=w.stopped_at, alive=alive)
            for w, alive in store.find_workers(db, alive_within=stale_after)]
