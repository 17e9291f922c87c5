"""The searches' request and response bodies (POST /api/searches and the answers about them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from worker.engine.spec import RunSpec, SpecError, parse_spec

from ..schemas import SeedStats
from .space import SpaceEntry, SpacePath, check_grid, check_space, grid_size

__all__ = ["PrunerSpec", "SearchCreate", "ValidSearch", "validate_search", "SearchStop", "ProposalOut",
           "SearchOut", "SearchSummary", "SearchCost", "SearchCurves", "Objective"]

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Objective = Literal["val_error", "val_loss"]
SearchStatus = Literal["running", "stopping", "finished"]
ProposalState = Literal["running", "complete", "pruned", "failed", "cancelled"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PrunerSpec(_Body):
    """Stops hopeless runs early, comparing proposals at the same fraction of their schedule."""
    kind: Literal["asha", "median", "none"] = Field(
        "none", description="asha: asynchronous successive halving; median: below the median of finished "
        "proposals at the same point; none: every run trains to its end")
    min_epochs_fraction: float = Field(0.25, gt=0, le=1, description="the first rung (asha) or the end of the "
                                       "warm-up (median), as a fraction of the schedule: prune late on long "
                                       "cosine schedules")
    reduction: int = Field(3, ge=2, le=10, description="asha: each rung keeps the best 1/reduction; the next rung "
                           "is `reduction` times further into the schedule")
    min_finished: int = Field(3, ge=1, le=100, description="median: finished proposals before it prunes any")


class SearchCreate(_Body):
    name: Name
    notes: str = Field("", max_length=10_000)
    spec: dict[str, Any] = Field(description="the base run spec (see POST /api/runs); it needs "
                                 "dataset.validation > 0, since the objective is measured there")
    space: dict[SpacePath, SpaceEntry] = Field(
        min_length=1, max_length=16, description='dotted spec fields and their ranges, e.g. {"optim.lr": '
        '{"float": [0.05, 0.8], "log": true}, "regularization.level": {"choice": ["batch", "image"]}}')
    objective: Objective = Field("val_error", description="minimised, at the last epoch; the seeds' mean")
    sampler: Literal["tpe", "random", "grid"] = Field("tpe", description="Optuna's TPE, random or grid sampler")
    sampler_seed: int | None = Field(None, ge=0, le=2**31 - 1, description="makes the proposals reproducible; "
                                     "default: drawn at creation")
    pruner: PrunerSpec = Field(default_factory=PrunerSpec)
    seeds: int = Field(1, ge=1, le=20, description="runs per proposal (seeds 0, 1, ... of the base spec's seed)")
    max_runs: int = Field(20, ge=1, le=10_000, description="runs in all: at most max_runs // seeds proposals")
    max_concurrent: int = Field(2, ge=1, le=1000, description="runs queued or training at once")
    budget_gpu_hours: float | None = Field(None, gt=0, le=10_000_000, description="no proposal is made once the "
                                           "hours spent plus those of the runs in flight and of the proposal "
                                           "would pass it; none: no limit")


@dataclass(frozen=True)
class ValidSearch:
    body: SearchCreate
    spec: RunSpec  # the base spec, resolved

    @property
    def max_proposals(self) -> int:
        proposals = self.body.max_runs // self.body.seeds
        return min(proposals, grid_size(self.body.space)) if self.body.sampler == "grid" else proposals


def validate_search(body: SearchCreate) -> ValidSearch:
    """Every check that needs the base spec; a SpecError names each bad field (`spec.*`, `space.<path>`, ...)."""
    try:
        spec = parse_spec(body.spec)
    except SpecError as exc:
        raise SpecError([{"field": f"spec.{e['field']}" if e["field"] else "spec", "message": e["message"]}
                         for e in exc.errors]) from None
    errors = check_space(body.space, spec)
    if not spec.dataset.validation:
        errors.append({"field": "objective", "message": f"{body.objective} is recorded only with a validation "
                       "split: set spec.dataset.validation (images held out of the training set), e.g. 5000 on "
                       "CIFAR (searches never decide on the test set)"})
    if body.sampler == "grid" and not errors:
        errors += check_grid(body.space)
    if body.seeds > body.max_concurrent:
        errors.append({"field": "max_concurrent", "message": f"each proposal trains its {body.seeds} seeds at "
                       f"once: max_concurrent must be at least {body.seeds}, got {body.max_concurrent}"})
    if body.seeds > body.max_runs:
        errors.append({"field": "max_runs", "message": f"one proposal is {body.seeds} runs (seeds): max_runs must "
                       f"be at least {body.seeds}, got {body.max_runs}"})
    if errors:
        raise SpecError(errors)
    return ValidSearch(body, spec)


class SearchStop(_Body):
    running: Literal["finish", "cancel"] = Field("finish", description="what becomes of the runs in flight")


# ------------------------------------------------------------------------------------------ answers

class ProposalRun(BaseModel):
    id: int
    seed: int
    status: str
    epochs_done: int
    epochs: int
    value: float | None = Field(description="the objective at the run's last recorded epoch")
    error: str | None


class ProposalOut(BaseModel):
    number: int = Field(description="0, 1, ... in the order proposed")
    params: dict[str, Any]
    state: ProposalState
    value: float | None = Field(description="the objective at the last epoch (seeds' mean); pruned: at the "
                                "pruning; null while running or failed")
    error: str | None = Field(description="why it failed (a spec that does not validate: never dispatched), "
                              "or the pruner's reason")
    created_at: datetime
    finished_at: datetime | None
    runs: list[ProposalRun]
    stats: SeedStats | None = Field(None, description="the objective at the last epoch over the proposal's "
                                    "succeeded runs (one per seed): n, mean, std, standard error, 95% interval")


class SearchCost(BaseModel):
    """What the search can cost, in GPU-hours (a run's training time on one worker slot)."""
    max_proposals: int
    max_runs: int
    gpu_hours_per_run_max: float | None = Field(description="the costliest run the space allows; null when "
                                                "no estimate exists for its model")
    gpu_hours_max: float | None = Field(description="every proposal at the costliest run, before the budget")
    budget_gpu_hours: float | None
    largest_gpu_hours: float | None = Field(description="the largest cost the search can reach: the lesser of "
                                            "gpu_hours_max and the budget")
    basis: str = Field(description="where the figures come from (measured runs or a FLOPs estimate)")


class SearchSummary(BaseModel):
    id: int
    name: str
    status: SearchStatus
    stop_reason: str | None
    objective: Objective
    sampler: str
    pruner: dict[str, Any]
    space: dict[str, Any]
    seeds: int
    max_runs: int
    max_concurrent: int
    budget_gpu_hours: float | None
    created_at: datetime
    finished_at: datetime | None
    proposals: dict[str, int] = Field(description="proposals per state, and `total`")
    runs: dict[str, int] = Field(description="runs per status, and `total`")
    gpu_hours_spent: float = Field(description="training time recorded by the search's runs")
    gpu_hours_in_flight: float = Field(description="estimated time still to train for the runs queued or running")
    best: ProposalOut | None = Field(description="the complete proposal with the lowest objective")


class SearchOut(SearchSummary):
    notes: str
    spec: dict[str, Any] = Field(description="the base spec, resolved")
    sampler_seed: int
    proposal_list: list[ProposalOut] = Field(description="every proposal, in order")
    importances: dict[str, float] | None = Field(description="Optuna's parameter importances over the complete "
                                                 "proposals; null until enough have finished")
    importances_note: str | None
    cost: SearchCost


class RunCurve(BaseModel):
    run_id: int
    proposal: int
    seed: int
    status: str
    epochs: int
    epoch: list[int]
    value: list[float | None]


class SearchCurves(BaseModel):
    objective: Objective
    runs: list[RunCurve]

