from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from worker.celery_app import celery_for

from ...schemas import Health
from ...store import find_workers

router = APIRouter(tags=["health"])


def _workers_alive(engine, stale_after: float) -> int | None:
    """Workers alive now; None when the database does not answer."""
    try:
        with Session(engine) as session:
            return sum(alive for _, alive in find_workers(session, alive_within=stale_after))
    except SQLAlchemyError:
        return None


def _broker_up(settings) -> bool:
    try:
        with celery_for(settings).connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, timeout=settings.broker_timeout_seconds)
        return True
    except Exception:  # any failure to connect means down, whatever the transport raises
        return False


def _public_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


@router.get("/health", response_model=Health, responses={503: {"model": Health}},
            summary="The state of the database and the broker")
def get_health(request: Request):
    settings = request.app.state.settings
    workers = _workers_alive(request.app.state.engine, settings.stale_after_seconds)
    database = workers is not None
    broker = _broker_up(settings)
    body = Health(status="ok" if database and broker else ("degraded" if database else "down"),
                  database="up" if database else "down", broker="up" if broker else "down", workers=workers,
                  broker_url=_public_url(settings.resolved_broker_url).split("?")[0],
                  database_url=_public_url(settings.resolved_database_url), version=request.app.version)
    return JSONResponse(body.model_dump(), status_code=200 if database else 503)
