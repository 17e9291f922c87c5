"""The search store: creating, finding and stopping searches, and reading a search's whole state (its
proposals, their runs and per-epoch objective) from the database, where all of it lives."""

from __future__ import annotations

import random
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .. import store as run_store
from ..models import Metric, Run, Search, SearchProposal, utcnow
from .schemas import ValidSearch
from .space import apply_params
from .study import STEPS, TrialRecord, step_of

__all__ = ["create_search", "find_searches", "get_search", "stop_search", "SearchState", "proposal_counts",
           "max_proposals", "run_spec", "ACTIVE_RUN"]

ACTIVE_RUN = ("queued", "running")


def create_search(session: Session, valid: ValidSearch) -> Search:
    body = valid.body
    search = Search(
        name=body.name, notes=body.notes, spec=valid.spec.model_dump(mode="json"),
        space={path: entry.as_json() for path, entry in body.space.items()}, objective=body.objective,
        sampler=body.sampler,
        sampler_seed=body.sampler_seed if body.sampler_seed is not None else random.SystemRandom().randrange(2**31 - 1),
        pruner=body.pruner.model_dump(mode="json"), seeds=body.seeds, max_runs=body.max_runs,
        max_concurrent=body.max_concurrent, budget_gpu_hours=body.budget_gpu_hours, status="running",
        proposals_made=0, created_at=utcnow())
    session.add(search)
    session.flush()
    return search


def find_searches(session: Session, *, limit: int = 50, offset: int = 0) -> list[Search]:
    return list(session.scalars(select(Search).order_by(Search.id.desc()).limit(limit).offset(offset)))


def get_search(session: Session, search_id: int) -> Search:
    search = session.get(Search, search_id)
    if search is None:
        raise run_store.NotFound(f"search {search_id} not found")
    return search


def stop_search(session: Session, search_id: int, *, running: str) -> Search:
    """No new proposal; the runs in flight finish (`finish`) or are cancelled (`cancel`)."""
    search = get_search(session, search_id)
    session.execute(update(Search).where(Search.id == search_id, Search.status == "running")
                    .values(status="stopping", stop_reason="stopped by request"))
    if running == "cancel":
        for run_id in session.scalars(select(Run.id).where(Run.search_id == search_id, Run.status.in_(ACTIVE_RUN))):
            run_store.request_cancel(session, run_id)
    session.flush()
    session.refresh(search)
    return search


# ------------------------------------------------------------------------------------------ state

@dataclass
class SearchState:
    """One search as the database holds it now: proposals, their runs, and each run's objective per epoch."""
    search: Search
    proposals: list[SearchProposal]
    runs: list[Run]
    curves: dict[int, dict[int, float | None]] = field(default_factory=dict)  # run id -> epoch -> objective

    @classmethod
    def load(cls, session: Session, search: Search, *, curves: bool = True) -> SearchState:
        """The search's proposals and runs, and (unless curves=False) every run's objective per epoch."""
        proposals = list(session.scalars(select(SearchProposal).where(SearchProposal.search_id == search.id)
                                         .order_by(SearchProposal.number)))
        runs = list(session.scalars(select(Run).where(Run.search_id == search.id).order_by(Run.id)))
        state = cls(search, proposals, runs)
        if curves:
            state.load_curves(session)
        return state

    def load_curves(self, session: Session) -> None:
        column = getattr(Metric, self.search.objective)
        self.curves = {run.id: {} for run in self.runs}
        if self.runs:
            rows = session.execute(select(Metric.run_id, Metric.epoch, column)
                                   .where(Metric.run_id.in_([r.id for r in self.runs])).order_by(Metric.epoch))
            for run_id, epoch, value in rows:
                self.curves[run_id][epoch] = value

    def has_news(self) -> bool:
        """Whether a running proposal can be settled (its runs all ended) or judged (all its runs have
        passed the step the pruner last judged): the per-epoch curves are read only then."""
        for proposal in self.proposals:
            runs = self.runs_of.get(proposal.id, [])
            if proposal.state != "running" or not runs:
                continue
            if not any(run.status in ACTIVE_RUN for run in runs):
                return True
            judged_epoch = proposal.checked_step * runs[0].epochs / STEPS
            if self.search.pruner["kind"] != "none" and min(run.epochs_done for run in runs) > judged_epoch:
                return True
        return False

    @cached_property
    def runs_of(self) -> dict[int, list[Run]]:
        out: dict[int, list[Run]] = {p.id: [] for p in self.proposals}
        for run in self.runs:
            out.setdefault(run.proposal_id, []).append(run)
        return out

    @property
    def active_runs(self) -> int:
        return sum(run.status in ACTIVE_RUN for run in self.runs)

    def final_value(self, run: Run) -> float | None:
        """The objective at the run's last epoch (the papers' protocol: no epoch picked on it)."""
        return self.curves.get(run.id, {}).get(run.epochs)

    def last_value(self, run: Run) -> float | None:
        curve = self.curves.get(run.id) or {}
        return curve[max(curve)] if curve else None

    def intermediate(self, proposal: SearchProposal) -> dict[int, float]:
        """The proposal's objective at each epoch all its runs recorded (the seeds' mean), by step."""
        runs = self.runs_of.get(proposal.id, [])
        if not runs:
            return {}
        common = set.intersection(*(set(self.curves.get(r.id, {})) for r in runs))
        out = {}
        for epoch in sorted(common):
            values = [self.curves[r.id][epoch] for r in runs]
            if all(v is not None for v in values):
                out[step_of(epoch, runs[0].epochs)] = statistics.fmean(values)
        return out

    def latest_epoch(self, proposal: SearchProposal) -> tuple[int, int] | None:
        """(epoch, epochs) of the proposal's latest step, the one the pruner judges."""
        steps = self.intermediate(proposal)
        if not steps:
            return None
        epochs = self.runs_of[proposal.id][0].epochs
        return round(max(steps) * epochs / STEPS), epochs

    def records(self) -> list[TrialRecord]:
        return [TrialRecord(p.number, p.params, p.state, p.value, dict(p.optuna_attrs or {}), self.intermediate(p))
                for p in self.proposals]

    def outcome(self, proposal: SearchProposal) -> tuple[str, float | None, str | None] | None:
        """How a running proposal ended, once all its runs have: (state, value, error); None while any runs."""
        runs = self.runs_of.get(proposal.id, [])
        if not runs or any(run.status in ACTIVE_RUN for run in runs):
            return None
        objective = self.search.objective
        if pruned := [r for r in runs if r.status == "pruned"]:
            return "pruned", self.last_value(pruned[0]), pruned[0].error
        if failed := [r for r in runs if r.status == "failed"]:
            return "failed", None, f"run #{failed[0].id} (seed {failed[0].seed}) failed: {failed[0].error}"
        if cancelled := [r for r in runs if r.status != "succeeded"]:
            return "cancelled", None, f"run #{cancelled[0].id} was cancelled"
        values = [self.final_value(run) for run in runs]
        if any(v is None for v in values):
            missing = next(run for run, v in zip(runs, values, strict=True) if v is None)
            return "failed", None, f"run #{missing.id} recorded no {objective} at its last epoch"
        return "complete", statistics.fmean(values), None


def proposal_counts(session: Session, search_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    rows = session.execute(select(SearchProposal.search_id, SearchProposal.state, func.count())
                           .where(SearchProposal.search_id.in_(list(search_ids)))
                           .group_by(SearchProposal.search_id, SearchProposal.state))
    out: dict[int, dict[str, int]] = {}
    for search_id, state, count in rows:
        out.setdefault(search_id, {})[state] = count
    return out


def max_proposals(search: Search) -> int:
    """max_runs // seeds, and no more than the grid's points for the grid sampler."""
    from .space import grid_size
    from .study import space_of

    proposals = search.max_runs // search.seeds
    return min(proposals, grid_size(space_of(search))) if search.sampler == "grid" else proposals


def run_spec(search: Search, params: dict[str, Any], seed_offset: int) -> dict[str, Any]:
    """A proposal's spec for one of its seeds: the base spec with the proposed values."""
    spec = apply_params(search.spec, params)
    spec["seed"] = search.spec.get("seed", 0) + seed_offset
    return spec
