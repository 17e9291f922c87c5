"""Seed groups: runs that differ only by seed (one spec key), which of them count, and their statistics.

A group's statistics take each seed once, from a run that finished (succeeded). A run still queued or
running, a failed or cancelled one, and a second succeeded run of a seed already counted are kept in the
group and listed with the reason they are not counted. Of several succeeded runs of one seed, the latest to
finish counts (a re-run with the same seed replaces the earlier result rather than adding a sample).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .models import Run
from .schemas import MetricStats, NotCounted, SeedGroup, SeedStats
from .stats import summarize

__all__ = ["seed_groups", "seed_stats", "counted_runs", "metric_stats", "group_summary", "LOWER_IS_BETTER"]

# Metrics whose best epoch is their lowest; the others (learning rate, throughput) have no best epoch.
LOWER_IS_BETTER = ("test_error", "train_error", "test_loss", "train_loss", "val_error", "val_loss")


def seed_stats(values: Iterable[float | None]) -> SeedStats | None:
    """n, mean, sample std, standard error, range and a 95% confidence interval of the mean (backend/stats.py)."""
    return summarize(values)


def _best_and_last(values) -> tuple[float, float] | None:
    """A column's lowest and last recorded values; None when it has none. Lists have None where a value is
    missing; the float arrays of backend/series.py have NaN, so there a diverged run's NaN loss stays its last
    value (which the statistics count as missing) and the lowest is taken over the finite ones."""
    if isinstance(values, np.ndarray):
        lowest = np.fmin.reduce(values) if len(values) else math.nan  # fmin passes over NaN: NaN only if all are
        return None if math.isnan(lowest) else (float(lowest), float(values[-1]))
    present = [v for v in values or [] if v is not None]
    return (min(present), present[-1]) if present else None


def metric_stats(counted: list[Run], columns: dict[int, dict]) -> dict[str, MetricStats]:
    """Every recorded metric's statistics over the counted runs: at the last epoch, and at each run's best."""
    summary = {run.id: {name: _best_and_last(values) for name, values in columns.get(run.id, {}).items()
                        if name not in ("epoch", "seconds", "wall_seconds")} for run in counted}
    names = {name for per_run in summary.values() for name, pair in per_run.items() if pair is not None}
    out = {}
    for name in sorted(names):
        pairs = [summary[run.id].get(name) for run in counted]
        best = seed_stats(p and p[0] for p in pairs) if name in LOWER_IS_BETTER else None
        out[name] = MetricStats(last=seed_stats(p and p[1] for p in pairs), best=best)
    return out


def _unfinished(run: Run) -> str:
    if run.status == "queued":
        return f"queued{f' to resume at epoch {run.epochs_done}' if run.epochs_done else ''}"
    if run.status == "running":
        return f"running, epoch {run.epochs_done} of {run.epochs}"
    return f"{run.status} at epoch {run.epochs_done} of {run.epochs}"


def _finish_order(run: Run) -> tuple:
    return (run.finished_at is not None, run.finished_at or run.created_at, run.id)


def group_summary(runs: int, counted: int, unfinished: int, duplicates: int) -> str:
    """'3 seeds' when every run counts; else '3 runs, 1 counted: 2 not finished'."""
    if counted == runs:
        return f"{runs} seed{'s' if runs != 1 else ''}"
    reasons = []
    if unfinished:
        reasons.append(f"{unfinished} not finished")
    if duplicates:
        reasons.append(f"{duplicates} duplicate seed{'s' if duplicates != 1 else ''}")
    return f"{runs} run{'s' if runs != 1 else ''}, {counted} counted: {', '.join(reasons)}"


def seed_groups(runs: list[Run], columns: dict[int, dict[str, list]] | None = None) -> list[SeedGroup]:
    """The runs' seed groups, in the order of each spec key's first run; members in the order given.
    With `columns` (each run's per-epoch metrics, unthinned), every metric's statistics too."""
    by_key: dict[str, list[Run]] = {}
    for run in runs:
        by_key.setdefault(run.spec_key, []).append(run)
    return [_group(key, members, columns) for key, members in by_key.items()]


def counted_runs(members: list[Run]) -> list[Run]:
    """The runs that count: each seed once, from the latest succeeded run of it."""
    chosen: dict[tuple[str, int], Run] = {}
    for run in sorted((r for r in members if r.status == "succeeded"), key=_finish_order):
        chosen[(run.spec_key, run.seed)] = run
    ids = {r.id for r in chosen.values()}
    return [r for r in members if r.id in ids]


def _group(key: str, members: list[Run], columns: dict[int, dict[str, list]] | None = None) -> SeedGroup:
    chosen: dict[int, Run] = {}  # seed -> the run that counts for it
    for run in sorted((r for r in members if r.status == "succeeded"), key=_finish_order):
        chosen[run.seed] = run  # the latest to finish wins
    counted_ids = {r.id for r in chosen.values()}
    not_counted = []
    for run in members:
        if run.id in counted_ids:
            continue
        if run.status != "succeeded":
            not_counted.append(NotCounted(run_id=run.id, seed=run.seed, reason="not finished", detail=_unfinished(run)))
        else:
            used = chosen[run.seed].id
            not_counted.append(NotCounted(run_id=run.id, seed=run.seed, reason="duplicate seed",
                                          detail=f"seed {run.seed} is counted once, from run #{used} (the latest "
                                                 f"to finish)"))
    counted = [r for r in members if r.id in counted_ids]
    unfinished = sum(n.reason == "not finished" for n in not_counted)
    return SeedGroup(
        spec_key=key, run_ids=[r.id for r in members], counted_run_ids=[r.id for r in counted],
        seeds=sorted(r.seed for r in counted), not_counted=not_counted,
        summary=group_summary(len(members), len(counted), unfinished, len(not_counted) - unfinished),
        last_test_error=seed_stats(r.last_test_error for r in counted),
        best_test_error=seed_stats(r.best_test_error for r in counted),
        metrics=None if columns is None else metric_stats(counted, columns))
