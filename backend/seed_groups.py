"""Seed groups: runs that differ only by seed (one spec key), which of them count, and their statistics.

A group's statistics take each seed once, from a run that finished (succeeded). A run still queued or
running, a failed or cancelled one, and a second succeeded run of a seed already counted are kept in the
group and listed with the reason they are not counted. Of several succeeded runs of one seed, the latest to
finish counts (a re-run with the same seed replaces the earlier result rather than adding a sample).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable

from scipy import stats

from .models import Run
from .schemas import NotCounted, SeedGroup, SeedStats

__all__ = ["seed_groups", "seed_stats", "group_summary"]


def seed_stats(values: Iterable[float | None]) -> SeedStats | None:
    """n, mean, sample std, range and a 95% confidence interval of the mean (Student's t, n >= 2)."""
    xs = [v for v in values if v is not None]
    if not xs:
        return None
    mean = statistics.fmean(xs)
    std = statistics.stdev(xs) if len(xs) > 1 else None
    ci = None
    if std is not None:
        half = float(stats.t.ppf(0.975, len(xs) - 1)) * std / math.sqrt(len(xs))
        ci = (mean - half, mean + half)
    return SeedStats(n=len(xs), mean=mean, std=std, min=min(xs), max=max(xs), ci95=ci)


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


def seed_groups(runs: list[Run]) -> list[SeedGroup]:
    """The runs' seed groups, in the order of each spec key's first run; members in the order given."""
    by_key: dict[str, list[Run]] = {}
    for run in runs:
        by_key.setdefault(run.spec_key, []).append(run)
    return [_group(key, members) for key, members in by_key.items()]


def _group(key: str, members: list[Run]) -> SeedGroup:
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
        best_test_error=seed_stats(r.best_test_error for r in counted))
