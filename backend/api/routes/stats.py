"""Statistics between groups of runs: two groups' difference with Welch's t-test and a rank test, and how many
seeds a difference needs, with what they would cost."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from sqlalchemy.orm import Session

from ... import store
from ...models import Run
from ...schemas import (
    GroupRef,
    SeedsCost,
    SeedsNeededRequest,
    SeedsPlanOut,
    StatsCompareOut,
    StatsCompareRequest,
)
from ...seed_planner import TooFewRuns, group_values, runs_cost, sigma_of_runs
from ...stats import compare_two, pooled_sigma, seeds_needed
from ...tables.data import PAPER_TABLES
from ...tables.profiles import PROFILES
from ...tables.reproduce import TooManyRuns, UnknownCells, reproduce_table
from ...tables.results import table_view
from ...tables.schemas import TableOut
from ..deps import Db

router = APIRouter(tags=["statistics"])

NOT_FOUND = {404: {"description": "no such run or table"}}


def _unprocessable(field: str, message: str) -> HTTPException:
    return HTTPException(422, [{"loc": ["body", *field.split(".")], "field": field, "msg": message,
                                "type": "value_error"}])


def _runs(db: Session, ids: list[int]) -> list[Run]:
    ids = list(dict.fromkeys(ids))
    found, _ = store.find_runs(db, ids=ids, limit=len(ids))
    by_id = {r.id: r for r in found}
    if missing := [i for i in ids if i not in by_id]:
        raise store.NotFound(f"run {missing[0]} not found")
    return [by_id[i] for i in ids]


def _members(db: Session, ref: GroupRef) -> list[Run]:
    if ref.run_ids is not None:
        return _runs(db, ref.run_ids)
    runs, _ = store.find_runs(db, spec_key_=ref.spec_key, order="created", limit=1000)
    return runs


@router.post("/stats/compare", response_model=StatsCompareOut, responses=NOT_FOUND,
             summary="Two groups of runs: the difference of their means with its 95% interval, Welch's t-test, "
                     "the Mann-Whitney rank test and a plain verdict")
def compare(body: StatsCompareRequest, db: Db) -> StatsCompareOut:
    sides = {}
    for name in ("a", "b"):
        try:
            sides[name] = group_values(db, _members(db, getattr(body, name)), body.metric, body.epoch)
        except TooFewRuns as exc:
            raise _unprocessable("epoch", str(exc)) from None
        if len(sides[name].values) < 2:
            have = len(sides[name].values)
            raise _unprocessable(name, f"a test needs at least 2 counted runs (finished, each seed once, with "
                                       f"{body.metric}); group {name} has {have}")
    labels = (body.a.label or "A", body.b.label or "B")
    result = compare_two(sides["a"].values, sides["b"].values, labels=labels, alpha=body.alpha)
    return StatsCompareOut(**result.model_dump(), metric=body.metric, epoch=body.epoch,
                           a_run_ids=sides["a"].run_ids, b_run_ids=sides["b"].run_ids)


def _table_sigma(view: TableOut, cells: list[str] | None) -> tuple[float, int, int] | None:
    chosen = [c for row in view.rows for c in row.cells if c is not None and (cells is None or c.key in cells)]
    return pooled_sigma((c.reproduced.count, c.reproduced.std) for c in chosen if c.reproduced is not None)


def _hours(hours: float) -> str:
    """0.405, 32.1, 5,030,593: three significant digits, whole hours with separators from 100 up."""
    return f"{hours:,.0f}" if hours >= 100 else f"{hours:.3g}"


@router.post("/stats/seeds-needed", response_model=SeedsPlanOut, responses=NOT_FOUND,
             summary="Seeds per group (or table cell) to tell a difference delta apart at significance alpha "
                     "with the given power (two-sided two-sample t-test), from sigma or the spread of runs, and "
                     "what those runs would cost")
def seeds_plan(body: SeedsNeededRequest, request: Request, db: Db) -> SeedsPlanOut:
    table = profile = view = None
    if body.table_id is not None:
        table = PAPER_TABLES.get(body.table_id)
        if table is None:
            raise store.NotFound(f"table {body.table_id!r} not found; tables: {', '.join(PAPER_TABLES)}")
        profile = PROFILES[body.profile]
        view = table_view(db, table, profile)
    runs = _runs(db, body.run_ids) if body.run_ids is not None else None

    if body.sigma is not None:
        sigma, source = body.sigma, "entered"
    else:
        pooled = sigma_of_runs(db, runs, body.metric) if runs is not None else \
            _table_sigma(view, body.cells) if view is not None else None
        if pooled is None:
            raise _unprocessable("sigma", "give sigma, or run_ids or a table_id with at least one group of 2 "
                                          "finished seeds to pool it from")
        sigma, df, groups = pooled
        over = "the runs' seed groups" if runs is not None else "the table's cells"
        source = f"pooled over {groups} of {over} ({df} degrees of freedom)"
    needed = seeds_needed(sigma=sigma, delta=body.delta, alpha=body.alpha, power=body.power)

    cost = None
    unit = "a cell" if table is not None else "a group"
    if needed.per_group is not None and table is not None:
        try:
            dry = reproduce_table(db, table, profile, seeds=needed.per_group, cell_keys=body.cells, dry_run=True,
                                  alive_within=request.app.state.settings.stale_after_seconds)
        except UnknownCells as exc:
            raise _unprocessable("cells", str(exc)) from None
        except TooManyRuns:
            dry = None
        if dry is not None:
            cost = SeedsCost(runs=dry.runs, gpu_hours_h100_estimate=dry.gpu_hours, local_hours=dry.local.hours,
                             local_basis="the speed this installation's finished runs measured"
                             if dry.local.hours is not None else "no finished run has measured a speed here yet")
    elif needed.per_group is not None and runs is not None:
        cost = runs_cost(db, runs, needed.per_group, alive_within=request.app.state.settings.stale_after_seconds)

    sentence = needed.sentence.replace("seeds a group", f"seeds {unit}")
    if cost is not None:
        hours = [f"{_hours(cost.gpu_hours_h100_estimate)} GPU-hours on one H100 (estimate)"
                 if cost.gpu_hours_h100_estimate is not None else None,
                 f"{_hours(cost.local_hours)} h on this installation" if cost.local_hours is not None else None]
        hours = [h for h in hours if h] or ["no speed measured or estimated"]
        sentence += f": {', '.join(hours)} for the {cost.runs} run{'s' if cost.runs != 1 else ''} still missing"
    return SeedsPlanOut(needed=needed, sigma_source=source, cost=cost, sentence=sentence)
