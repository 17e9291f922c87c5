"""The NASNet search store: creating, finding and stopping NAS searches, and reading them with their children.
The controller process (worker/nas/driver.py) is the only writer of a search's children and searcher state."""

from __future__ import annotations

import statistics
from collections import Counter

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .. import store as run_store
from ..models import NASChild, NASSearch, Run, utcnow
from .schemas import NASChildOut, NASCreate, NASOut, NASSummary, validate_nas

__all__ = ["PAPER_CHILDREN", "create_nas", "find_nas", "get_nas", "stop_nas", "summary", "detail"]

PAPER_CHILDREN = 20_000  # the paper's search sampled 20,000 child networks


def create_nas(session: Session, body: NASCreate) -> NASSearch:
    spec = validate_nas(body)
    search = NASSearch(name=body.name, notes=body.notes, searcher=body.searcher, seed=body.seed,
                       spec=spec.model_dump(mode="json"), max_children=body.max_children,
                       max_concurrent=body.max_concurrent, status="running", children_made=0, updates=0,
                       state=None, state_version=0, created_at=utcnow())
    session.add(search)
    session.flush()
    return search


def find_nas(session: Session, *, limit: int = 50, offset: int = 0) -> list[NASSearch]:
    return list(session.scalars(select(NASSearch).order_by(NASSearch.id.desc()).limit(limit).offset(offset)))


def get_nas(session: Session, search_id: int) -> NASSearch:
    search = session.get(NASSearch, search_id)
    if search is None:
        raise run_store.NotFound(f"NAS search {search_id} not found")
    return search


def stop_nas(session: Session, search_id: int, *, cancel: bool) -> NASSearch:
    """No new child; the children in flight finish, or are cancelled (`cancel`)."""
    search = get_nas(session, search_id)
    session.execute(update(NASSearch).where(NASSearch.id == search_id, NASSearch.status == "running")
                    .values(status="stopping", stop_reason="stopped by request"))
    if cancel:
        run_ids = session.scalars(select(NASChild.run_id).join(Run, Run.id == NASChild.run_id).where(
            NASChild.search_id == search_id, Run.status.in_(("queued", "running"))))
        for run_id in run_ids:
            run_store.request_cancel(session, run_id)
    session.flush()
    session.refresh(search)
    return search


def _children(session: Session, search: NASSearch) -> list[tuple[NASChild, Run | None]]:
    rows = session.execute(select(NASChild, Run).outerjoin(Run, Run.id == NASChild.run_id)
                           .where(NASChild.search_id == search.id).order_by(NASChild.number))
    return [(child, run) for child, run in rows]


def _child_out(child: NASChild, run: Run | None) -> NASChildOut:
    return NASChildOut(number=child.number, run_id=child.run_id, run_status=run.status if run else None,
                       state=child.state, reward=child.reward, error=child.error, learned=child.learned,
                       log_prob=child.log_prob, genotype=child.genotype,
                       train_seconds=run.train_seconds if run is not None and run.status == "succeeded" else None,
                       created_at=child.created_at, finished_at=child.finished_at)


def _summary_fields(search: NASSearch, children: list[NASChildOut]) -> dict:
    rewarded = [c for c in children if c.state == "complete" and c.reward is not None]
    return dict(id=search.id, name=search.name, notes=search.notes, searcher=search.searcher, seed=search.seed,
                status=search.status, stop_reason=search.stop_reason, children_made=search.children_made,
                max_children=search.max_children, max_concurrent=search.max_concurrent, updates=search.updates,
                started=search.state is not None, children=dict(Counter(c.state for c in children)),
                best=max(rewarded, key=lambda c: c.reward, default=None), created_at=search.created_at,
                finished_at=search.finished_at)


def summary(session: Session, search: NASSearch) -> NASSummary:
    children = [_child_out(c, r) for c, r in _children(session, search)]
    return NASSummary(**_summary_fields(search, children))


def detail(session: Session, search: NASSearch) -> NASOut:
    children = [_child_out(c, r) for c, r in _children(session, search)]
    seconds = [c.train_seconds for c in children if c.train_seconds]
    child_seconds = statistics.fmean(seconds) if seconds else None
    return NASOut(**_summary_fields(search, children), spec=search.spec, child_list=children,
                  child_seconds=child_seconds,
                  paper_search_hours=child_seconds * PAPER_CHILDREN / 3600 if child_seconds else None)
