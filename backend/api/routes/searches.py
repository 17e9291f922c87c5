from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, status

from ...searches import report
from ...searches import store as searches
from ...searches.schemas import (
    SearchCost,
    SearchCreate,
    SearchCurves,
    SearchOut,
    SearchStop,
    SearchSummary,
    validate_search,
)
from ..deps import MAX_ID, Db, PathId, require_api_key, wake_dispatcher

router = APIRouter(tags=["searches"])

NOT_FOUND = {404: {"description": "no such search"}}


@router.post("/searches", status_code=status.HTTP_201_CREATED, response_model=SearchOut,
             dependencies=[Depends(require_api_key)],
             summary="Start a search: a sampler proposes runs of the base spec over the space")
def create_search(body: SearchCreate, request: Request, db: Db) -> SearchOut:
    search = searches.create_search(db, validate_search(body))
    db.commit()
    wake_dispatcher(request)
    return report.detail(db, search)


@router.post("/searches/dry-run", response_model=SearchCost,
             summary="What a search would cost at most, in GPU-hours; validated like POST /searches, stored nowhere")
def dry_run(body: SearchCreate) -> SearchCost:
    return report.dry_run(validate_search(body))


@router.get("/searches", response_model=list[SearchSummary], summary="Searches, newest first")
def list_searches(db: Db, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                  offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> list[SearchSummary]:
    return [report.summary(db, s) for s in searches.find_searches(db, limit=limit, offset=offset)]


@router.get("/searches/{search_id}", response_model=SearchOut, responses=NOT_FOUND,
            summary="A search: status, every proposal with its params, runs, state and value, the best, the budget")
def get_search(search_id: PathId, db: Db) -> SearchOut:
    return report.detail(db, searches.get_search(db, search_id))


@router.get("/searches/{search_id}/curves", response_model=SearchCurves, responses=NOT_FOUND,
            summary="The objective at every recorded epoch of each of the search's runs")
def get_curves(search_id: PathId, db: Db) -> SearchCurves:
    return report.curves(db, searches.get_search(db, search_id))


@router.post("/searches/{search_id}/stop", status_code=status.HTTP_202_ACCEPTED, response_model=SearchOut,
             dependencies=[Depends(require_api_key)], responses=NOT_FOUND,
             summary="Stop proposing; the runs in flight finish or are cancelled")
def stop_search(search_id: PathId, request: Request, db: Db,
                body: Annotated[SearchStop | None, Body()] = None) -> SearchOut:
    search = searches.stop_search(db, search_id, running=(body or SearchStop()).running)
    db.commit()
    wake_dispatcher(request)
    return report.detail(db, search)
