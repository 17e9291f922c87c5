from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from worker.engine.spec import RunSpec

from ...catalog import catalog
from ...store import spec_key

router = APIRouter(tags=["catalog"])


@router.get("/catalog", summary="Archs, methods, datasets, every spec field with its default, and presets")
def get_catalog() -> dict:
    return catalog()


@router.get("/schema", summary="The run spec's JSON schema")
def get_spec_schema() -> dict:
    return RunSpec.model_json_schema()


class SpecBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    spec: RunSpec


class ResolvedSpec(BaseModel):
    spec: dict
    spec_key: str


@router.post("/specs/resolve", response_model=ResolvedSpec,
             summary="Validate a spec and fill in the papers' defaults, without creating a run (422 names "
                     "each bad field, as POST /api/runs would)")
def resolve_spec(body: SpecBody) -> ResolvedSpec:
    return ResolvedSpec(spec=body.spec.model_dump(mode="json"), spec_key=spec_key(body.spec))
