from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, status
from sqlalchemy import select

from ... import store
from ...models import Experiment
from ...schemas import ExperimentCreate, ExperimentOut, RunOut
from ..deps import MAX_ID, Db, PathId, require_api_key, wake_dispatcher

router = APIRouter(tags=["experiments"])



def _out(experiment: Experiment) -> ExperimentOut:
    return ExperimentOut(id=experiment.id, name=experiment.name, notes=experiment.notes,
                         created_at=experiment.created_at, runs=[RunOut.of(r) for r in experiment.runs])


@router.post("/experiments", status_code=status.HTTP_201_CREATED, response_model=ExperimentOut,
             dependencies=[Depends(require_api_key)],
             summary="Queue a run per seed and per combination of the grid's values")
def create_experiment(body: ExperimentCreate, request: Request, db: Db) -> ExperimentOut:
    specs = body.run_specs()
    experiment = store.create_experiment(db, specs, name=body.name, tags=body.tags, notes=body.notes,
                                         gpus=body.gpus)
    db.commit()
    db.refresh(experiment)
    wake_dispatcher(request)
    return _out(experiment)


@router.get("/experiments", response_model=list[ExperimentOut], summary="Experiments, newest first")
def list_experiments(db: Db, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                     offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0) -> list[ExperimentOut]:
    query = select(Experiment).order_by(Experiment.id.desc()).limit(limit).offset(offset)
    return [_out(e) for e in db.scalars(query)]


@router.get("/experiments/{experiment_id}", response_model=ExperimentOut,
            responses={404: {"description": "no such experiment"}})
def get_experiment(experiment_id: PathId, db: Db) -> ExperimentOut:
    experiment = db.get(Experiment, experiment_id)
    if experiment is None:
        raise store.NotFound(f"experiment {experiment_id} not found")
    return _out(experiment)
