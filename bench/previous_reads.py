"""The read path as it was before issue 16, kept for the benchmarks' side-by-side figures and for the tests that
check that the new answers carry the same content (up to rounding).

`previous_compare` and `previous_metrics` build /api/compare's and /api/runs/{id}/metrics's bodies the old
way: every metric row read through the ORM session, thinned in pure Python, validated by pydantic and written
with its 17 digits. `previous_app` is the API with the four reads answered the old way (the runs list, one run,
a run's metrics, compare; compressed by the middleware at level 3 on the event loop, as before) and run as
before (anyio's 40 threads, no heap frozen), plus
/api/compare-on-demand: the new thinning, rounding and JSON on the columns read from the metrics rows rather
than the packed series (the alternative docs/benchmarks.md weighs). `python bench/previous_reads.py` serves
it as `python -m backend api` serves the API (SHAKELAB_* settings), for the benchmarks; with
SHAKELAB_PREVIOUS_FRONTEND=DIR it serves the dashboard's files from DIR (bench/dashboard.py puts the previous
commit's there).
"""

from __future__ import annotations

import gc
import os
import sys
from contextlib import asynccontextmanager
from itertools import accumulate
from pathlib import Path
from typing import Annotated

import anyio.to_thread
from fastapi import Depends, FastAPI, Query, Request
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from backend import series, store  # noqa: E402
from backend.api import Frontend, create_app  # noqa: E402
from backend.api.deps import db_session  # noqa: E402
from backend.api.routes.runs import JSONBody  # noqa: E402
from backend.models import VALIDATION_FIELDS  # noqa: E402
from backend.schemas import Comparison, Metrics, RunOut, RunPage  # noqa: E402
from backend.seed_groups import seed_groups  # noqa: E402
from backend.settings import Settings, get_settings  # noqa: E402


def downsample_keeping_extrema(columns: dict[str, list], max_points: int) -> list[int]:
    """Indices of about `max_points` rows: the first, the last, and in each of max_points/(2 x curves) equal
    stretches the rows with the lowest and highest train, test (and validation) error."""
    n = len(columns["epoch"])
    keys = [key for key in ("test_error", "train_error", "val_error") if key in columns]
    buckets = max(1, (max_points - 2) // (2 * len(keys)))
    size = (n - 2) / buckets
    keep = {0, n - 1}
    for key in keys:
        values = columns[key]
        for b in range(buckets):
            start, stop = 1 + int(b * size), 1 + int((b + 1) * size)
            if start < stop:
                chunk = values[start:stop]
                keep.add(start + chunk.index(min(chunk)))
                keep.add(start + chunk.index(max(chunk)))
    return sorted(keep)


def metrics_model(run, columns: dict[str, list], after_epoch: int = 0, max_points: int | None = None) -> Metrics:
    columns = dict(columns)
    if not run.spec.get("dataset", {}).get("validation"):
        for name in VALIDATION_FIELDS:
            del columns[name]
    before = run.train_seconds - sum(columns["seconds"]) if after_epoch else 0.0
    columns["wall_seconds"] = [before + s for s in accumulate(columns["seconds"])]
    total = len(columns["epoch"])
    if max_points is not None and total > max_points:
        keep = downsample_keeping_extrema(columns, max_points)
        columns = {name: [values[i] for i in keep] for name, values in columns.items()}
    return Metrics(run_id=run.id, status=run.status, epochs=run.epochs, **columns, total_epochs=total,
                   downsampled=len(columns["epoch"]) < total)


def previous_metrics(session: Session, run_id: int, after_epoch: int = 0, max_points: int | None = None) -> str:
    run = store.get_run(session, run_id)
    return metrics_model(run, store.get_metrics(session, run_id, after_epoch), after_epoch,
                         max_points).model_dump_json()


def previous_compare(session: Session, ids: list[int], max_points: int | None = 1000) -> str:
    ids = list(dict.fromkeys(ids))
    found, _ = store.find_runs(session, ids=ids, limit=len(ids))
    runs = {run.id: run for run in found}
    columns = store.metrics_of(session, ids)
    groups = seed_groups([runs[i] for i in ids], columns)
    return Comparison(runs=[RunOut.of(runs[i]) for i in ids],
                      metrics=[metrics_model(runs[i], columns[i], 0, max_points) for i in ids],
                      groups=groups).model_dump_json()


Db = Annotated[Session, Depends(db_session)]


def previous_app(settings: Settings | None = None) -> FastAPI:
    app = create_app(settings or get_settings(), dispatch=False)

    def list_runs(db: Db, status: Annotated[list[str] | None, Query()] = None, arch: str | None = None,
                  order: str = "created", limit: int = 100, archived: str = "false") -> RunPage:
        runs, total = store.find_runs(db, status=status, arch=arch, order=order, limit=limit,
                                      archived={"false": False, "true": True, "any": None}[archived])
        return RunPage(total=total, runs=[RunOut.of(r) for r in runs])

    def get_run(run_id: int, db: Db) -> RunOut:
        return RunOut.of(store.get_run(db, run_id))

    def get_metrics(run_id: int, db: Db, after_epoch: int = 0, max_points: int | None = None) -> Metrics:
        run = store.get_run(db, run_id)
        return metrics_model(run, store.get_metrics(db, run_id, after_epoch), after_epoch, max_points)

    def compare(db: Db, ids: Annotated[list[int], Query()], max_points: int = 1000) -> Comparison:
        ids = list(dict.fromkeys(ids))
        found, _ = store.find_runs(db, ids=ids, limit=len(ids))
        runs = {run.id: run for run in found}
        columns = store.metrics_of(db, ids)
        groups = seed_groups([runs[i] for i in ids], columns)
        return Comparison(runs=[RunOut.of(runs[i]) for i in ids],
                          metrics=[metrics_model(runs[i], columns[i], 0, max_points) for i in ids], groups=groups)

    def compare_on_demand(request: Request, db: Db, ids: Annotated[list[int], Query()],
                          max_points: int = 1000) -> JSONBody:
        ids = list(dict.fromkeys(ids))
        found, _ = store.find_runs(db, ids=ids, limit=len(ids))
        runs = {run.id: run for run in found}
        columns = series._rows_of(db, ids)  # the columns from the metrics rows, not the packed series
        groups = seed_groups([runs[i] for i in ids], columns)
        return JSONBody.of(request, {
            "runs": [RunOut.of(runs[i]).model_dump(mode="json") for i in ids],
            "metrics": [series.metrics_payload(runs[i], columns[i], max_points=max_points) for i in ids],
            "groups": [group.model_dump(mode="json") for group in groups]})

    for path, endpoint, model in (("/api/runs", list_runs, RunPage), ("/api/runs/{run_id}", get_run, RunOut),
                                  ("/api/runs/{run_id}/metrics", get_metrics, Metrics),
                                  ("/api/compare", compare, Comparison),
                                  ("/api/compare-on-demand", compare_on_demand, None)):
        app.add_api_route(path, endpoint, methods=["GET"], response_model=model)
        app.router.routes.insert(0, app.router.routes.pop())  # before the API's own route of that path
    started = app.router.lifespan_context

    @asynccontextmanager
    async def runtime_as_before(app):  # anyio's default of 40 threads, and nothing frozen
        async with started(app):
            anyio.to_thread.current_default_thread_limiter().total_tokens = 40
            gc.unfreeze()
            yield

    app.router.lifespan_context = runtime_as_before
    if frontend := os.environ.get("SHAKELAB_PREVIOUS_FRONTEND"):  # the dashboard's files as they were
        for route in app.router.routes:
            if getattr(route, "name", None) == "frontend":
                route.app = Frontend(directory=frontend, html=True)
    return app


if __name__ == "__main__":
    import uvicorn

    settings = get_settings()
    uvicorn.run(previous_app(settings), host=settings.host, port=settings.port, log_level="warning")
