from __future__ import annotations

from fastapi import APIRouter

from ...catalog import catalog

router = APIRouter(tags=["catalog"])


@router.get("/catalog", summary="Archs, methods, datasets, every spec field with its default, and presets")
def get_catalog() -> dict:
    return catalog()


@router.get("/schema", summary="The run spec's JSON schema")
def get_spec_schema() -> dict:
    from worker.engine.spec import RunSpec
    return RunSpec.model_json_schema()
