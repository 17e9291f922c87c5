"""Runs as JSON-ready dicts read straight from their rows: the runs list and one run, at dashboard speed.

The answer is RunOut's (backend/schemas.py), field for field: every RunOut field that is a column of `runs`
is read as such (a column added to both shows up by itself), the others (tags, progress, eta_seconds, download)
are computed as RunOut.of computes them. What this skips is the ORM's objects and pydantic's validation, twice
per run (RunOut.of, then the response model): a list of 100 runs took 3x the time. The spec goes out as the
JSON text it is stored as (an orjson Fragment), never parsed. tests/integration/test_run_rows.py checks
that these dicts are what RunOut.of gives.
"""

from __future__ import annotations

from itertools import groupby

import orjson
from sqlalchemy import Text, cast, func, select
from sqlalchemy.orm import Session

from . import store
from .models import Run, RunTag, RunVersionCounter
from .schemas import RunOut

__all__ = ["find_run_dicts", "find_run_rows", "run_dict", "run_dicts", "run_facts", "page_versions", "run_versions",
           "runs_generation"]

_COMPUTED = ("tags", "progress", "eta_seconds", "download", "spec")
# RunOut's columns, and beside them what seed groups (backend/seed_groups.py) and the metrics answers read of a run.
_NAMES = [name for name in RunOut.model_fields if name not in _COMPUTED and name in Run.__table__.c]
_NAMES += [name for name in ("epochs_done", "train_seconds", "epochs", "status", "spec_key", "seed", "finished_at",
                             "created_at") if name not in _NAMES]
_QUERY_COLUMNS = [*(getattr(Run, name) for name in _NAMES), cast(Run.spec, Text).label("spec_json")]


def _rows(session: Session, where: list, order=None, limit: int | None = None, offset: int = 0) -> list:
    query = select(*_QUERY_COLUMNS).where(*where)
    if order is not None:
        query = query.order_by(order, Run.id.desc()).limit(limit).offset(offset)
    return session.execute(query).all()


def run_dicts(session: Session, rows: list) -> list[dict]:
    ids = [row.id for row in rows]
    tags: dict[int, list[str]] = {}
    if ids:  # one query for every run's tags
        query = select(RunTag.run_id, RunTag.tag).where(RunTag.run_id.in_(ids)).order_by(RunTag.run_id, RunTag.tag)
        tags = {run_id: [t for _, t in group] for run_id, group in groupby(session.execute(query), lambda r: r[0])}
    out = []
    for row in rows:
        values = row._mapping
        item = {}
        for name in RunOut.model_fields:
            if name == "spec":
                item[name] = orjson.Fragment(row.spec_json)
            elif name == "tags":
                item[name] = tags.get(row.id, [])
            elif name == "progress":
                item[name] = row.epochs_done / row.epochs
            elif name == "eta_seconds":
                active = row.epochs_done and row.status in ("queued", "running")
                item[name] = row.train_seconds / row.epochs_done * (row.epochs - row.epochs_done) if active else None
            elif name == "download":
                item[name] = None
            else:
                item[name] = values[name]
        out.append(item)
    return out


def find_run_dicts(session: Session, *, order: str = "created", limit: int = 100, offset: int = 0,
                   **filters) -> tuple[list[dict], int]:
    """store.find_runs's runs and total, as RunOut dicts."""
    where = store.run_filters(**filters)
    total = session.scalar(select(func.count(Run.id)).where(*where))
    return run_dicts(session, _rows(session, where, store.RUN_ORDER[order], limit, offset)), total


def find_run_rows(session: Session, ids: list[int]) -> list:
    """The runs of these ids as rows (attributes as a Run's: what seed_groups and series need), any order."""
    return _rows(session, [Run.id.in_(ids)])


def run_dict(session: Session, run_id: int) -> dict:
    rows = _rows(session, [Run.id == run_id])
    if not rows:
        raise store.NotFound(f"run {run_id} not found")
    return run_dicts(session, rows)[0]


def run_facts(session: Session, run_id: int):
    """What series.metrics_payload needs of a run (id, status, epochs, epochs_done, train_seconds, spec), one row."""
    row = session.execute(select(Run.id, Run.status, Run.epochs, Run.epochs_done, Run.train_seconds, Run.spec)
                          .where(Run.id == run_id)).first()
    if row is None:
        raise store.NotFound(f"run {run_id} not found")
    return row


# ------------------------------------------------------------------- the read caches' keys (backend/read_cache.py)

def page_versions(session: Session, *, order: str = "created", limit: int = 100, offset: int = 0,
                  **filters) -> tuple[int, tuple[tuple[int, int], ...]]:
    """What find_run_dicts's answer depends on, cheaply: the total and the page's (id, version) in order."""
    where = store.run_filters(**filters)
    # One statement: the total rides along on every row (counted before LIMIT); an empty page asks apart.
    query = (select(Run.id, Run.version, func.count().over()).where(*where)
             .order_by(store.RUN_ORDER[order], Run.id.desc()).limit(limit).offset(offset))
    rows = session.execute(query).all()
    total = rows[0][2] if rows else session.scalar(select(func.count(Run.id)).where(*where))
    return total, tuple((row[0], row[1]) for row in rows)


def runs_generation(session: Session) -> int:
    """The count of committed changes of runs, in commit order (migration 0012): unchanged, no run changed."""
    return session.scalar(select(RunVersionCounter.value))


def run_versions(session: Session, ids: list[int]) -> dict[int, tuple]:
    """{id: (version, status, epochs_done)} of the runs of these ids that exist."""
    query = select(Run.id, Run.version, Run.status, Run.epochs_done).where(Run.id.in_(ids))
    return {row[0]: tuple(row[1:]) for row in session.execute(query)}
