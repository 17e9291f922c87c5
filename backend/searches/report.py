"""What the API says about a search: its summary, its whole record, its cost, and its runs' curves."""

from __future__ import annotations

from collections import Counter, OrderedDict

from sqlalchemy.orm import Session

from worker.engine.spec import parse_spec

from ..models import Search, SearchProposal
from ..stats import summarize
from .cost import SearchCosts, largest_cost
from .schemas import (
    ProposalOut,
    ProposalRun,
    RunCurve,
    SearchCost,
    SearchCurves,
    SearchOut,
    SearchSummary,
    ValidSearch,
)
from .store import SearchState, max_proposals
from .study import importances, space_of

__all__ = ["summary", "detail", "curves", "dry_run"]

# Importances change only when a proposal completes: computed once per set of complete proposals.
_IMPORTANCES: OrderedDict[tuple, tuple] = OrderedDict()
_IMPORTANCES_KEPT = 64


def _proposal(state: SearchState, proposal: SearchProposal) -> ProposalOut:
    runs = [ProposalRun(id=r.id, seed=r.seed, status=r.status, epochs_done=r.epochs_done, epochs=r.epochs,
                        value=state.last_value(r), error=r.error) for r in state.runs_of.get(proposal.id, [])]
    return ProposalOut(number=proposal.number, params=proposal.params, state=proposal.state, value=proposal.value,
                       error=proposal.error, created_at=proposal.created_at, finished_at=proposal.finished_at,
                       runs=runs, stats=summarize(r.value for r in runs if r.status == "succeeded"))


def _best(state: SearchState) -> SearchProposal | None:
    complete = [p for p in state.proposals if p.state == "complete" and p.value is not None]
    return min(complete, key=lambda p: (p.value, p.number)) if complete else None


def _summary_fields(state: SearchState) -> dict:
    search = state.search
    costs = SearchCosts(state.runs)
    proposals = Counter(p.state for p in state.proposals)
    runs = Counter(r.status for r in state.runs)
    best = _best(state)
    return dict(
        id=search.id, name=search.name, status=search.status, stop_reason=search.stop_reason,
        objective=search.objective, sampler=search.sampler, pruner=search.pruner, space=search.space,
        seeds=search.seeds, max_runs=search.max_runs, max_concurrent=search.max_concurrent,
        budget_gpu_hours=search.budget_gpu_hours, created_at=search.created_at, finished_at=search.finished_at,
        proposals={**proposals, "total": len(state.proposals)}, runs={**runs, "total": len(state.runs)},
        gpu_hours_spent=costs.spent_hours, gpu_hours_in_flight=costs.in_flight_hours,
        best=_proposal(state, best) if best else None)


def summary(session: Session, search: Search) -> SearchSummary:
    return SearchSummary(**_summary_fields(SearchState.load(session, search)))


def _importances(state: SearchState) -> tuple[dict[str, float] | None, str | None]:
    records = state.records()
    key = (state.search.id, tuple((r.number, r.value) for r in records if r.state == "complete"))
    if key not in _IMPORTANCES:
        _IMPORTANCES[key] = importances(state.search, records)
        while len(_IMPORTANCES) > _IMPORTANCES_KEPT:
            _IMPORTANCES.popitem(last=False)
    return _IMPORTANCES[key]


def _cost(per_run: float | None, basis: str, *, proposals: int, seeds: int, budget: float | None) -> SearchCost:
    runs = proposals * seeds
    total = per_run * runs if per_run is not None else None
    largest = None if total is None else min(total, budget) if budget is not None else total
    return SearchCost(max_proposals=proposals, max_runs=runs, gpu_hours_per_run_max=per_run, gpu_hours_max=total,
                      budget_gpu_hours=budget, largest_gpu_hours=largest, basis=basis)


def detail(session: Session, search: Search) -> SearchOut:
    state = SearchState.load(session, search)
    values, note = _importances(state)
    return SearchOut(**_summary_fields(state), notes=search.notes, spec=search.spec,
                     sampler_seed=search.sampler_seed, proposal_list=[_proposal(state, p) for p in state.proposals],
                     importances=values, importances_note=note,
                     cost=_cost(*largest_cost(parse_spec(search.spec), space_of(search), SearchCosts(state.runs)),
                                proposals=max_proposals(search), seeds=search.seeds, budget=search.budget_gpu_hours))


def curves(session: Session, search: Search) -> SearchCurves:
    state = SearchState.load(session, search)
    number = {p.id: p.number for p in state.proposals}
    return SearchCurves(objective=search.objective, runs=[
        RunCurve(run_id=r.id, proposal=number[r.proposal_id], seed=r.seed, status=r.status, epochs=r.epochs,
                 epoch=sorted(state.curves[r.id]), value=[state.curves[r.id][e] for e in sorted(state.curves[r.id])])
        for r in state.runs])


def dry_run(valid: ValidSearch) -> SearchCost:
    """The largest cost a search can reach, before it exists (stored nowhere)."""
    body = valid.body
    return _cost(*largest_cost(valid.spec, body.space), proposals=valid.max_proposals, seeds=body.seeds,
                 budget=body.budget_gpu_hours)
