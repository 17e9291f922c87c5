"""The read path of per-epoch metrics: each run's epochs kept packed in one row, thinned and rounded with numpy,
and written as JSON by orjson.

The metrics table keeps one row per epoch (the record). Reading a table's worth of runs from it row by row
costs seconds (200 runs x 1800 epochs are 360,000 rows through the driver); so `record_epochs` also keeps,
per run, one `metric_series` row whose blob holds the run's columns as little-endian float64 arrays (missing
values NaN), and the reads take that row: one blob per run, read in milliseconds (stored uncompressed on
PostgreSQL, migration 0011: TOAST's pglz made reading a table's 200 series half decompression).
docs/benchmarks.md has the figures that chose this over reading the columns on demand.

A series row is trusted only while it covers the run's recorded epochs (`last_epoch` = runs.epochs_done,
which `record_epochs` updates in the same transaction); otherwise, and for runs without one, the rows are read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import METRIC_FIELDS, VALIDATION_FIELDS, Metric, MetricSeries

__all__ = ["SERIES_COLUMNS", "ERROR_FIELDS", "pack", "unpack", "refresh_series", "read_series", "thin_indices",
           "thin_many", "rounded", "metrics_payload", "metrics_payloads", "dumps", "SeriesColumns"]

# The blob's columns, in this order (migration 0009 packs them the same way).
SERIES_COLUMNS = ("epoch", *METRIC_FIELDS, *VALIDATION_FIELDS)
ERROR_FIELDS = ("test_error", "train_error", "val_error")

SeriesColumns = dict[str, np.ndarray]


def pack(columns: dict[str, Iterable]) -> bytes:
    """Columns (lists with None for a missing value, or arrays) as one blob."""
    arrays = [np.asarray(_floats(columns[name]), dtype="<f8") for name in SERIES_COLUMNS]
    return np.stack(arrays).tobytes() if arrays[0].size else b""


def _floats(values: Iterable) -> Iterable:
    return values if isinstance(values, np.ndarray) else [math.nan if v is None else v for v in values]


def unpack(blob: bytes, rows: int) -> SeriesColumns:
    data = np.frombuffer(blob, dtype="<f8").reshape(len(SERIES_COLUMNS), rows) if rows else \
        np.empty((len(SERIES_COLUMNS), 0))
    return dict(zip(SERIES_COLUMNS, data, strict=True))


def _rows_of(session: Session, run_ids: list[int]) -> dict[int, SeriesColumns]:
    """The runs' epochs read row by row from the metrics table (one query), as arrays."""
    table = Metric.__table__
    query = (select(table.c.run_id, *(table.c[name] for name in SERIES_COLUMNS))
             .where(table.c.run_id.in_(run_ids)).order_by(table.c.run_id, table.c.epoch))
    out = {run_id: unpack(b"", 0) for run_id in run_ids}
    rows = session.execute(query).all()
    if rows:
        data = np.array([[math.nan if v is None else v for v in row] for row in rows], dtype="<f8")
        starts = np.flatnonzero(np.r_[True, data[1:, 0] != data[:-1, 0]])
        for start, stop in zip(starts, [*starts[1:], len(data)], strict=True):
            block = data[start:stop, 1:].T
            out[int(data[start, 0])] = dict(zip(SERIES_COLUMNS, block, strict=True))
    return out


def refresh_series(session: Session, run_id: int) -> None:
    """Rebuild the run's series row from its metric rows (record_epochs calls it in its transaction: one
    indexed read of the run's rows per batch of epochs, negligible beside an epoch of training)."""
    columns = _rows_of(session, [run_id])[run_id]
    rows = len(columns["epoch"])
    last = int(columns["epoch"][-1]) if rows else 0
    series = session.get(MetricSeries, run_id)
    if series is None:
        session.add(MetricSeries(run_id=run_id, rows=rows, last_epoch=last, data=pack(columns)))
    else:
        series.rows, series.last_epoch, series.data = rows, last, pack(columns)


def _series_rows(session: Session, run_ids: list[int]) -> list[tuple]:
    connection = session.connection()
    if connection.dialect.driver == "psycopg":
        # PostgreSQL sends bytea as hex text unless asked for binary results: a third of the time for 200 runs.
        with connection.connection.driver_connection.cursor(binary=True) as cursor:
            cursor.execute("SELECT run_id, rows, last_epoch, data FROM metric_series WHERE run_id = ANY(%s)",
                           (run_ids,))
            return cursor.fetchall()
    table = MetricSeries.__table__
    return session.execute(select(table.c.run_id, table.c.rows, table.c.last_epoch, table.c.data)
                           .where(table.c.run_id.in_(run_ids))).all()


def read_series(session: Session, runs: dict[int, int]) -> dict[int, SeriesColumns]:
    """{run id: epochs_done} -> each run's full columns: from its series row where that covers every recorded
    epoch, else (a run recorded before the series existed, or rows written some other way) from the rows."""
    out: dict[int, SeriesColumns] = {}
    if runs:
        for run_id, rows, last_epoch, data in _series_rows(session, list(runs)):
            if last_epoch == runs[run_id]:
                out[run_id] = unpack(data, rows)
    if missing := [run_id for run_id in runs if run_id not in out]:
        out.update(_rows_of(session, missing))
    return out


@lru_cache(maxsize=256)
def _stretches(n: int, buckets: int) -> tuple[int, np.ndarray, np.ndarray]:
    """Rows 1 .. stop-1 cut into stretches: stretch b covers [1 + int(b * size), 1 + int((b + 1) * size)), as the
    pure-Python version cut them (empty ones dropped). The same for every run of n rows, hence cached."""
    size = (n - 2) / buckets
    bounds = (1 + np.floor(np.arange(buckets + 1) * size)).astype(np.int64)
    bounds = bounds[np.concatenate(([True], np.diff(bounds) > 0))]
    stretch = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))  # the stretch of each row 1 .. stop-1
    return int(bounds[-1]), bounds[:-1] - 1, stretch  # stop, each stretch's first position, row -> stretch


def thin_indices(columns: SeriesColumns, max_points: int) -> np.ndarray:
    """Indices of about `max_points` rows: the first, the last, and in each of max_points/(2 x curves) equal
    stretches the rows with the lowest and highest train, test (and validation) error, so that no spike and no
    best epoch disappears. The same rows as the earlier pure-Python thinning: on ties the first such epoch."""
    return thin_many([columns], max_points)[0]


def thin_many(runs: list[SeriesColumns], max_points: int) -> list[np.ndarray]:
    """thin_indices of each run, computed for all runs of one length (and error columns) at once: a table's
    200 runs of 1800 epochs are one (200, 1800) array per curve, not 1200 rounds of small numpy calls."""
    out: list[np.ndarray | None] = [None] * len(runs)
    groups: dict[tuple, list[int]] = {}
    for i, columns in enumerate(runs):
        keys = tuple(key for key in ERROR_FIELDS if key in columns)
        groups.setdefault((len(columns["epoch"]), keys), []).append(i)
    for (n, keys), members in groups.items():
        stop, first, stretch = _stretches(n, max(1, (max_points - 2) // (2 * len(keys))))
        positions = np.arange(stop - 1)
        keep = np.zeros((len(members), n), dtype=bool)
        keep[:, [0, n - 1]] = True
        rows = np.arange(len(members))[:, None]
        for key in keys:
            values = np.stack([runs[i][key][1:stop] for i in members])
            for reduce, missing in ((np.minimum, np.inf), (np.maximum, -np.inf)):
                ranked = np.where(np.isnan(values), missing, values)
                hits = ranked == reduce.reduceat(ranked, first, axis=1)[:, stretch]  # rows at their extreme
                # The first hit in each stretch (every stretch has one: its extreme is one of its values).
                firsts = np.minimum.reduceat(np.where(hits, positions, stop), first, axis=1)
                keep[rows, firsts + 1] = True
        for row, i in enumerate(members):
            out[i] = np.flatnonzero(keep[row])
    return out


def _round_decimals(values: np.ndarray, decimals: int) -> np.ndarray:
    # rint(v * 10^d) / 10^d: an exact integer divided by an exact power of ten is the double nearest the decimal,
    # so its shortest form (what orjson writes) has at most d decimals.
    scale = 10.0 ** decimals
    return np.rint(values * scale) / scale


_POWERS_OF_TEN = 10.0 ** np.arange(23)  # exact doubles up to 10^22


def _round_significant(values: np.ndarray, digits: int) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.floor(np.log10(np.abs(values)))
    decimals = np.where(np.isfinite(magnitude), digits - 1 - magnitude, 0).clip(-300, 300).astype(np.int64)
    # v x 10^d, divided back by the exact 10^d; for d < 0, divided by 10^-d and multiplied back.
    scale = _POWERS_OF_TEN[np.abs(decimals).clip(0, 22)]
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.where(decimals >= 0, np.rint(values * scale) / scale, np.rint(values / scale) * scale)
    # Beyond 10^22 powers of ten are inexact, and such values (a diverged loss) are shown as they are.
    return np.where(np.abs(decimals) > 22, values, out)


# The digits a metric has: errors are percentages of at most 50,000 images (3 decimals), kept to 4; losses and
# the learning rate to significant digits (their scale varies by orders of magnitude); times to the millisecond.
ROUNDING = {
    "test_error": ("decimals", 4), "train_error": ("decimals", 4), "val_error": ("decimals", 4),
    "test_loss": ("significant", 5), "train_loss": ("significant", 5), "val_loss": ("significant", 5),
    "lr": ("significant", 6), "seconds": ("decimals", 3), "wall_seconds": ("decimals", 3),
    "images_per_second": ("decimals", 1),
}


def rounded(name: str, values: np.ndarray) -> np.ndarray:
    kind, digits = ROUNDING[name]
    return _round_decimals(values, digits) if kind == "decimals" else _round_significant(values, digits)


def metrics_payloads(runs: list, columns: dict[int, SeriesColumns], *, after_epoch: int = 0,
                     max_points: int | None = None, only: Iterable[str] | None = None) -> list[dict]:
    """The `Metrics` answers of several runs (backend/schemas.py), as dicts of arrays for `dumps`: each run's
    epochs after `after_epoch`, wall-clock seconds from every epoch, thinned to about `max_points` rows; each
    column rounded for all the runs at once (one numpy call per column, not one per run and column).
    `only`: these metric columns, the others null (thinning keeps the same epochs whatever they are)."""
    out, kept = [], []
    for run in runs:
        own = columns[run.id]
        if after_epoch:
            newer = own["epoch"] > after_epoch
            own = {name: values[newer] for name, values in own.items()}
        own = dict(own)
        if not _has_validation(run):  # no split: the answer's val columns are null, not lists of nulls
            for name in VALIDATION_FIELDS:
                own.pop(name, None)
        before = run.train_seconds - float(own["seconds"].sum()) if after_epoch else 0.0
        own["wall_seconds"] = before + np.cumsum(own["seconds"])
        kept.append(own)
    totals = [len(own["epoch"]) for own in kept]
    thinned = [i for i, total in enumerate(totals) if max_points is not None and total > max_points]
    for i, keep in zip(thinned, thin_many([kept[i] for i in thinned], max_points), strict=True):
        kept[i] = {name: values[keep] for name, values in kept[i].items()}
    for run, own, total in zip(runs, kept, totals, strict=True):
        out.append({"run_id": run.id, "status": run.status, "epochs": run.epochs,
                    "epoch": own["epoch"].astype(np.int64), "total_epochs": total,
                    "downsampled": len(own["epoch"]) < total})
    wanted = (*METRIC_FIELDS, *VALIDATION_FIELDS, "wall_seconds")
    for name in wanted if only is None else [name for name in wanted if name in set(only)]:
        having = [i for i, own in enumerate(kept) if name in own]
        if having:
            joined = rounded(name, np.concatenate([kept[i][name] for i in having]))
            cuts = np.cumsum([len(kept[i][name]) for i in having])[:-1]
            for i, values in zip(having, np.split(joined, cuts), strict=True):
                out[i][name] = values
    fields = ("run_id", "status", "epochs", "epoch", *METRIC_FIELDS, *VALIDATION_FIELDS, "wall_seconds",
              "total_epochs", "downsampled")
    return [{name: payload.get(name) for name in fields} for payload in out]  # Metrics' field order


def metrics_payload(run, columns: SeriesColumns, *, after_epoch: int = 0, max_points: int | None = None) -> dict:
    """One run's `Metrics` answer (metrics_payloads)."""
    return metrics_payloads([run], {run.id: columns}, after_epoch=after_epoch, max_points=max_points)[0]


def _has_validation(run) -> bool:
    spec = run.spec if hasattr(run, "spec") else orjson.loads(run.spec_json)
    return bool((spec.get("dataset") or {}).get("validation"))


def dumps(payload) -> bytes:
    """JSON with numpy arrays written straight from memory; NaN as null and UTC times with a Z, as pydantic
    writes them."""
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_UTC_Z)
