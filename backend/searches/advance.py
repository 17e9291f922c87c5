"""One step of every active search, run by the dispatcher at each pass (backend/dispatch.py).

For each search still running or stopping:
1. settle: a proposal whose runs have all ended gets its state and objective (the seeds' mean at the last
   epoch); a failed run fails its proposal, with the run's reason;
2. prune: Optuna's pruner judges each running proposal at its newest step; a pruned proposal's runs are
   cancelled through the runs' own cancel path, and end `pruned` with the pruner's reason;
3. propose: while the limits allow (max_runs, max_concurrent, the budget), Optuna's sampler proposes the
   next point, which becomes one run per seed, or a failed proposal when its spec does not validate;
4. finish: a stopping search whose runs have all ended is finished.

Every change is a conditional UPDATE on the state it was decided from (a proposal still `running`, a
pruner step not yet judged, `proposals_made` still N), so API processes dispatching side by side, or one
started after another was killed, never propose twice or judge twice; the database holds everything.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm.attributes import set_committed_value

from worker.engine.spec import SpecError, parse_spec

from .. import store as run_store
from ..db import session_scope
from ..models import Search, SearchProposal, utcnow
from .cost import SearchCosts
from .store import SearchState, max_proposals, run_spec

__all__ = ["advance_searches", "advance_search"]

log = logging.getLogger("shakelab.searches")
ACTIVE = ("running", "stopping")
MAX_PROPOSALS_PER_PASS = 50


def advance_searches(engine: Engine) -> dict[str, list]:
    outcome: dict[str, list] = {"proposed": [], "pruned": [], "settled": [], "finished": []}
    with session_scope(engine) as session:
        search_ids = list(session.scalars(select(Search.id).where(Search.status.in_(ACTIVE)).order_by(Search.id)))
    for search_id in search_ids:
        try:
            advance_search(engine, search_id, outcome)
        except (IntegrityError, OperationalError) as exc:
            # Another dispatcher changed this search first (SQLite says "locked", PostgreSQL a duplicate
            # proposal number): what it did stands; this pass looks again next time.
            log.info("search %s: left to another dispatcher this pass (%s)", search_id, exc.__class__.__name__)
        except SQLAlchemyError:
            raise  # the database is away: the dispatcher says so and retries
        except Exception:  # one broken search must not hold up the others, nor the publishing of runs
            log.exception("search %s: this step failed; retrying at the next pass", search_id)
    return outcome


def advance_search(engine: Engine, search_id: int, outcome: dict[str, list]) -> None:
    with session_scope(engine) as session:
        search = session.get(Search, search_id)
        state = SearchState.load(session, search, curves=False)
        if state.has_news():
            state.load_curves(session)
            _settle(session, state, outcome)
            if search.pruner["kind"] != "none":
                _prune(session, state, outcome)
    for _ in range(MAX_PROPOSALS_PER_PASS):
        if not _propose_one(engine, search_id, outcome):
            break
    _finish(engine, search_id, outcome)


def _settle(session, state: SearchState, outcome: dict[str, list]) -> None:
    for proposal in state.proposals:
        if proposal.state != "running" or (result := state.outcome(proposal)) is None:
            continue
        kind, value, error = result
        done = session.execute(update(SearchProposal)
                               .where(SearchProposal.id == proposal.id, SearchProposal.state == "running")
                               .values(state=kind, value=value, error=error, finished_at=utcnow())).rowcount
        if done:
            _remember(proposal, state=kind, value=value, error=error)
            outcome["settled"].append((state.search.id, proposal.number, kind))


def _prune(session, state: SearchState, outcome: dict[str, list]) -> None:
    from .study import judge

    search = state.search
    for proposal in state.proposals:
        if proposal.state != "running":
            continue
        steps = state.intermediate(proposal)
        if not steps or max(steps) <= proposal.checked_step:
            continue
        step = max(steps)
        epoch, epochs = state.latest_epoch(proposal)
        verdict = judge(search, state.records(), proposal.number, epoch=epoch, epochs=epochs)
        values = {"optuna_attrs": verdict.attrs, "checked_step": step}
        if verdict.prune:
            values |= {"state": "pruned", "value": steps[step], "error": verdict.reason, "finished_at": utcnow()}
        judged = session.execute(update(SearchProposal).where(
            SearchProposal.id == proposal.id, SearchProposal.state == "running",
            SearchProposal.checked_step < step).values(**values)).rowcount
        if not judged:
            continue  # another dispatcher judged this step
        _remember(proposal, optuna_attrs=verdict.attrs, checked_step=step)
        if verdict.prune:
            _remember(proposal, state="pruned", value=steps[step], error=verdict.reason)
            for run in state.runs_of[proposal.id]:
                run_store.request_cancel(session, run.id, status="pruned", reason=verdict.reason)
            outcome["pruned"].append((search.id, proposal.number))
            log.info("search %s proposal %s: %s", search.id, proposal.number, verdict.reason)


def _remember(proposal: SearchProposal, **values) -> None:
    """What a conditional UPDATE just stored, in the loaded object too, without the ORM writing it again."""
    for name, value in values.items():
        set_committed_value(proposal, name, value)


def _stop(session, search: Search, reason: str) -> None:
    session.execute(update(Search).where(Search.id == search.id, Search.status == "running")
                    .values(status="stopping", stop_reason=reason))


def _propose_one(engine: Engine, search_id: int, outcome: dict[str, list]) -> bool:
    """Make the next proposal if the limits allow; False when there is nothing (more) to do now."""
    from .study import propose

    with session_scope(engine) as session:
        search = session.get(Search, search_id)
        if search.status != "running":
            return False
        number = search.proposals_made
        limit = max_proposals(search)
        if number >= limit:
            exhausted = limit < search.max_runs // search.seeds
            _stop(session, search, f"the grid is exhausted ({limit} points)" if exhausted else
                  f"max_runs reached: {limit} proposal(s) of {search.seeds} seed(s)")
            return False
        state = SearchState.load(session, search, curves=False)
        if state.active_runs + search.seeds > search.max_concurrent:
            return False
        state.load_curves(session)  # for the sampler: TPE ranks pruned trials by their last values
        params, attrs = propose(search, state.records(), number)
        specs, error = [], None
        try:
            specs = [parse_spec(run_spec(search, params, i)) for i in range(search.seeds)]
        except SpecError as exc:
            error = f"the proposed spec does not validate: {exc}"
        if specs and search.budget_gpu_hours is not None:
            costs = SearchCosts(state.runs)
            cost = sum(costs.run_seconds(s.model_dump(mode="json")) for s in specs) / 3600
            if costs.spent_hours + costs.in_flight_hours + cost > search.budget_gpu_hours:
                if not state.active_runs:  # nothing in flight will free budget: the search is done
                    _stop(session, search, f"budget: {costs.spent_hours:.3g} of {search.budget_gpu_hours:.3g} "
                                           f"GPU-hours spent; the next proposal (about {cost:.3g} h) would pass it")
                return False
        claimed = session.execute(update(Search).where(
            Search.id == search_id, Search.status == "running", Search.proposals_made == number)
            .values(proposals_made=number + 1)).rowcount
        if not claimed:
            return False  # another dispatcher made proposal `number`
        proposal = SearchProposal(search_id=search_id, number=number, params=params, optuna_attrs=attrs,
                                  state="failed" if error else "running", error=error, checked_step=0,
                                  created_at=utcnow(), finished_at=utcnow() if error else None)
        session.add(proposal)
        session.flush()
        for spec in specs:
            name = f"{search.name} · proposal {number}" + (f" · seed {spec.seed}" if search.seeds > 1 else "")
            [run] = run_store.create_runs(session, [spec], name=name[:200], notes=f"proposed by search #{search_id}")
            run.search_id, run.proposal_id = search_id, proposal.id
    outcome["proposed"].append((search_id, number))
    return True


def _finish(engine: Engine, search_id: int, outcome: dict[str, list]) -> None:
    with session_scope(engine) as session:
        search = session.get(Search, search_id)
        if search.status != "stopping":
            return
        state = SearchState.load(session, search, curves=False)
        if state.active_runs or any(p.state == "running" for p in state.proposals):
            return
        if session.execute(update(Search).where(Search.id == search_id, Search.status == "stopping")
                           .values(status="finished", finished_at=utcnow())).rowcount:
            outcome["finished"].append(search_id)
