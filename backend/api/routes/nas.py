from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, ConfigDict, Field

from ...nas import store as nas
from ...nas.schemas import NASCreate, NASOut, NASSummary
from ..deps import MAX_ID, Db, PathId, require_api_key

router = APIRouter(tags=["nas"])

NOT_FOUND = {404: {"description": "no such NAS search"}}


class NASStop(BaseModel):
    model_config = ConfigDict(extra="forbid")
    running: str = Field("finish", pattern="^(finish|cancel)$",
                         description="finish: the children in flight train to their end; cancel: cancel them")


@router.post("/nas", status_code=status.HTTP_201_CREATED, response_model=NASOut,
             dependencies=[Depends(require_api_key)],
             summary="Start a NASNet architecture search: a controller (PPO) or random search proposes nasnet runs")
def create_nas(body: NASCreate, db: Db) -> NASOut:
    search = nas.create_nas(db, body)
    db.commit()
    return nas.detail(db, search)


@router.get("/nas", response_model=list[NASSummary], summary="NASNet searches, newest first")
def list_nas(db: Db, limit: Annotated[int, Query(ge=1, le=500)] = 50,
             offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> list[NASSummary]:
    return [nas.summary(db, s) for s in nas.find_nas(db, limit=limit, offset=offset)]


@router.get("/nas/{search_id}", response_model=NASOut, responses=NOT_FOUND,
            summary="A NASNet search: every child with its cell, run, reward and log-probability, the best, the cost")
def get_nas(search_id: PathId, db: Db) -> NASOut:
    return nas.detail(db, nas.get_nas(db, search_id))


@router.post("/nas/{search_id}/stop", status_code=status.HTTP_202_ACCEPTED, response_model=NASOut,
             dependencies=[Depends(require_api_key)], responses=NOT_FOUND,
             summary="Stop sampling children; those in flight finish or are cancelled")
def stop_nas(search_id: PathId, db: Db, body: NASStop | None = None) -> NASOut:
    search = nas.stop_nas(db, search_id, cancel=(body or NASStop()).running == "cancel")
    db.commit()
    return nas.detail(db, search)
