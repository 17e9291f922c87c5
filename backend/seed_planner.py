"""The statistics routes' work: which runs a group's statistics count, each run's value of a metric, the
spread to plan with, and what the seeds a difference needs would cost.

Costs use the rates the tables' Reproduce dialog uses (backend/tables/cost.py, local_speed.py): the speed
this installation's finished runs measured, and the labelled FLOPs estimate for one H100.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy.orm import Session

from worker.engine.spec import RunSpec, parse_spec

from . import store
from .models import Run
from .schemas import SeedsCost
from .seed_groups import LOWER_IS_BETTER, counted_runs, seed_groups
from .stats import pooled_sigma, summarize
from .tables.cost import estimated_throughput, model_key, run_hours
from .tables.local_speed import installation, local_estimate

__all__ = ["GroupValues", "group_values", "sigma_of_runs", "runs_cost", "TooFewRuns"]


class TooFewRuns(ValueError):
    pass


@dataclass(frozen=True)
class GroupValues:
    run_ids: list[int]  # the counted runs that have a value
    values: list[float]


def _value(columns: dict[str, list], metric: str, epoch: str) -> float | None:
    values = [v for v in columns.get(metric) or [] if v is not None and math.isfinite(v)]
    if not values:
        return None
    return min(values) if epoch == "best" else values[-1]


def group_values(session: Session, runs: list[Run], metric: str, epoch: str) -> GroupValues:
    """The counted runs' (finished, each seed once) values of `metric` at their last or best epoch."""
    if epoch == "best" and metric not in LOWER_IS_BETTER:
        raise TooFewRuns(f"{metric} has no best epoch; use epoch 'last'")
    counted = counted_runs(runs)
    columns = store.metrics_of(session, [r.id for r in counted]) if counted else {}
    pairs = [(r.id, _value(columns[r.id], metric, epoch)) for r in counted]
    pairs = [(i, v) for i, v in pairs if v is not None]
    return GroupValues([i for i, _ in pairs], [v for _, v in pairs])


def sigma_of_runs(session: Session, runs: list[Run], metric: str) -> tuple[float, int, int] | None:
    """The pooled std of the runs' seed groups at the last epoch: (sigma, degrees of freedom, groups)."""
    spreads = []
    for group in seed_groups(runs):
        members = [r for r in runs if r.id in set(group.counted_run_ids)]
        summary = summarize(group_values(session, members, metric, "last").values)
        if summary is not None:
            spreads.append((summary.n, summary.std))
    return pooled_sigma(spreads)


def runs_cost(session: Session, runs: list[Run], per_group: int, *, alive_within: float) -> SeedsCost:
    """The runs each seed group of `runs` still lacks to reach `per_group` counted seeds, and their hours."""
    planned: list[RunSpec] = []
    for group in seed_groups(runs):
        first = next(r for r in runs if r.spec_key == group.spec_key)
        planned += [parse_spec(first.spec)] * max(0, per_group - len(group.counted_run_ids))
    by_model: dict[tuple[str, int], list[RunSpec]] = defaultdict(list)
    for spec in planned:
        by_model[(model_key(spec), spec.optim.batch_size)].append(spec)
    rates = [estimated_throughput(s).images_per_second for s in planned]
    h100 = sum(run_hours(s, r) for s, r in zip(planned, rates, strict=True)) if any(rates) or not planned else None
    local = local_estimate(installation(session, alive_within=alive_within), list(by_model.values()))
    return SeedsCost(runs=len(planned), gpu_hours_h100_estimate=h100, local_hours=local.hours,
                     local_basis="the speed this installation's finished runs measured" if local.hours is not None
                     else "no finished run has measured a speed here yet")
