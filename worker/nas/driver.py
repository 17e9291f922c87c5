"""The NASNet search on the platform: one step of every active NAS search, run by the controller process
(`python -m worker.nas`), which is where torch is (the API stays torch-free).

For each search still running or stopping, in one database transaction:
1. settle: a child whose run has ended gets its reward, the validation accuracy at its last epoch
   (1 - val_error / 100); a failed run (one that diverged included) gets the lowest reward, 0, and says
   why; a cancelled run gets none. Each reward is told to the searcher (the PPO controller or random search);
2. propose: while max_children and max_concurrent allow, the searcher samples a child, which becomes an
   ordinary `nasnet` run with the child's cells in `model.genotype` (the API's dispatcher publishes it);
3. finish: a search with no child left to sample stops, and is finished once its runs have ended;
4. save the searcher's state (weights, optimiser, baseline, random state, children learned from) with the
   children's rows, conditional on the state's version and the search's status.
The children's rewards and the state that learned from them commit together or not at all, so a process
killed at any point, or two processes side by side, never learn from a child twice.
"""

from __future__ import annotations

import json
import logging
import math

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from backend import store as run_store
from backend.db import session_scope
from backend.models import NASChild, NASSearch, Run, utcnow
from backend.nas.schemas import child_spec
from worker.nas.controller import Controller
from worker.nas.random_search import RandomSearch

__all__ = ["advance_nas_searches", "advance_nas_search", "load_searcher", "reward_of"]

log = logging.getLogger("shakelab.nas")
ACTIVE = ("running", "stopping")
ACTIVE_RUN = ("queued", "running")


class _Raced(Exception):
    """Another process changed the search during this step: nothing of it is kept."""


def load_searcher(search: NASSearch) -> Controller | RandomSearch:
    """The search's searcher as its state was last saved, or a new one from its seed."""
    if search.searcher == "controller":
        return Controller(search.seed) if search.state is None else Controller.from_bytes(search.state)
    searcher = RandomSearch(search.seed)
    if search.state is not None:
        searcher.load_state_dict(json.loads(search.state))
    return searcher


def _state_bytes(searcher: Controller | RandomSearch) -> bytes:
    return searcher.to_bytes() if isinstance(searcher, Controller) else json.dumps(searcher.state_dict()).encode()


def reward_of(run: Run) -> tuple[str, float | None, str | None]:
    """(state, reward, error) of a child whose run has ended."""
    if run.status == "succeeded":
        error = run.last_val_error
        if run.epochs_done < run.epochs or error is None or not math.isfinite(error):
            return "failed", 0.0, f"run #{run.id} recorded no val_error at its last epoch: the lowest reward, 0"
        return "complete", 1.0 - error / 100.0, None
    if run.status == "failed":
        return "failed", 0.0, f"run #{run.id} failed ({run.error}): the lowest reward, 0"
    return "cancelled", None, f"run #{run.id} was {run.status}: no reward"


def advance_nas_searches(engine: Engine) -> dict[str, list]:
    outcome: dict[str, list] = {"proposed": [], "settled": [], "finished": []}
    with session_scope(engine) as session:
        ids = list(session.scalars(select(NASSearch.id).where(NASSearch.status.in_(ACTIVE)).order_by(NASSearch.id)))
    for search_id in ids:
        try:
            advance_nas_search(engine, search_id, outcome)
        except (_Raced, IntegrityError, OperationalError) as exc:
            # Another controller process saved first (SQLite: "locked"; PostgreSQL: a child number taken, or
            # a newer state): what it did stands, this step is rolled back whole.
            log.info("NAS search %s: changed by another process this pass (%s); next pass", search_id,
                     exc.__class__.__name__)
        except SQLAlchemyError:
            raise  # the database is away: the loop says so and retries
        except Exception:  # one broken search must not hold up the others
            log.exception("NAS search %s: this step failed; retrying at the next pass", search_id)
    return outcome


def advance_nas_search(engine: Engine, search_id: int, outcome: dict[str, list]) -> None:
    with session_scope(engine) as session:
        search = session.get(NASSearch, search_id)
        if search is None or search.status not in ACTIVE:
            return
        status, version = search.status, search.state_version
        searcher = load_searcher(search)
        changed = search.state is None
        rows = session.execute(select(NASChild, Run).outerjoin(Run, Run.id == NASChild.run_id).where(
            NASChild.search_id == search_id, NASChild.state == "running").order_by(NASChild.number)).all()
        active = 0
        for child, run in rows:
            if run is not None and run.status in ACTIVE_RUN:
                active += 1
                continue
            state, reward, error = reward_of(run) if run is not None else ("cancelled", None, "its run was deleted")
            if reward is not None and not searcher.tell(child.number, reward):
                raise RuntimeError(f"child {child.number} was told before")  # state and rows disagree
            child.state, child.reward, child.error = state, reward, error
            child.learned, child.finished_at = reward is not None, utcnow()
            changed = True
            outcome["settled"].append((search_id, child.number, state))

        made, stop_reason = search.children_made, search.stop_reason
        while status == "running" and made < search.max_children and active < search.max_concurrent:
            [sampled] = searcher.propose(1)
            genotype = sampled.genotype.model_dump(mode="json")
            [run] = run_store.create_runs(session, [child_spec(search.spec, genotype)],
                                          name=f"{search.name} · child {sampled.number}"[:200],
                                          notes=f"child {sampled.number} of NAS search #{search_id}")
            session.add(NASChild(search_id=search_id, number=sampled.number, run_id=run.id,
                                 decisions=list(sampled.decisions), genotype=genotype, log_prob=sampled.log_prob,
                                 state="running", learned=False, created_at=utcnow()))
            made, active, changed = made + 1, active + 1, True
            outcome["proposed"].append((search_id, sampled.number))
        new_status, finished_at = status, None
        if status == "running" and made >= search.max_children:
            new_status, stop_reason = "stopping", f"max_children reached: {made} children"
        if new_status == "stopping" and active == 0:
            new_status, finished_at = "finished", utcnow()
            outcome["finished"].append(search_id)
        if not changed and new_status == status:
            return
        saved = session.execute(update(NASSearch).where(
            NASSearch.id == search_id, NASSearch.state_version == version, NASSearch.status == status).values(
            state=_state_bytes(searcher), state_version=version + 1, children_made=made,
            updates=getattr(searcher, "updates", 0), status=new_status, stop_reason=stop_reason,
            finished_at=finished_at)).rowcount
        if not saved:
            raise _Raced()  # rolls back the children's rows with it
