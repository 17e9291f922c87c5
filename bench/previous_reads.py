"""The read path as it was before the packed series (issue 16), kept for the benchmarks' side-by-side figures and
for the tests that check the new answers carry the same content (up to rounding).

`previous_compare` and `previous_metrics` build /api/compare's and /api/runs/{id}/metrics's bodies the old
way: every metric row read through the ORM session, thinned in pure Python, validated by pydantic and written
with its 17 digits.
"""

from __future__ import annotations

from itertools import accumulate

from sqlalchemy.orm import Session

from backend import store
from backend.models import VALIDATION_FIELDS
from backend.schemas import Comparison, Metrics, RunOut
from backend.seed_groups import seed_groups


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
