"""The run store: creating, finding and cancelling runs, and every change of a run's state.

Every state change is one conditional UPDATE (`WHERE status = ... AND claim_token = ...`), so that an API
process, a dispatcher and any number of workers can race on the same run and exactly one of them wins.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from itertools import groupby

from sqlalchemy import Engine, Select, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from worker.engine.spec import RunSpec

from .db import session_scope
from .models import (
    FINISHED,
    METRIC_FIELDS,
    VALIDATION_FIELDS,
    Experiment,
    Metric,
    NASChild,
    Run,
    RunTag,
    Search,
    Worker,
    utcnow,
)
from .series import refresh_series

__all__ = [
    "spec_key", "default_run_name", "create_runs", "create_experiment", "next_unused_seed", "rerun",
    "run_filters", "find_runs", "get_run", "get_metrics", "metrics_of",
    "METRIC_COLUMNS",
    "request_cancel", "edit_run", "set_archived", "delete_run", "queued_runs",
    "claim_run", "heartbeat", "record_epochs", "finish_run", "finish_cancelled", "release_run", "runs_to_dispatch",
    "queued_widths", "queued_gpus", "keep_dispatched",
    "mark_dispatched", "forget_lost_dispatches", "requeue_stale", "worker_seen", "worker_stopped", "find_workers",
    "runs_by_worker",
    "NotFound", "Conflict",
]


class NotFound(LookupError):
    pass


class Conflict(RuntimeError):
    """The request cannot be met in the run's present state (409): deleting a run that still trains."""


# Fields added to the spec after keys were first stored, with the value that means "as before": at that
# value they stay out of the key, so every spec written before them keeps its key (and its table cell).
KEY_NEUTRAL_DEFAULTS = {("dataset", "validation"): 0}


def spec_key(spec: RunSpec) -> str:
    """Identity of a spec up to its seed: runs with the same key differ only by seed."""
    data = spec.model_dump(mode="json", exclude={"seed"})
    for (section, field), neutral in KEY_NEUTRAL_DEFAULTS.items():
        if data[section].get(field) == neutral:
            del data[section][field]
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def model_tag(spec: RunSpec) -> str:
    """The model in a few characters, its size included: "pyramidnet-272", "wrn-28-10", "nasnet-6x32"."""
    m = spec.model
    size = {"wrn": lambda: f"{m.depth}-{m.widen}", "nasnet": lambda: f"{m.cells}x{m.filters}",
            "shake_resnet": lambda: f"{m.depth}-2x{m.width}d",
            "resnext": lambda: f"{m.depth}-{m.cardinality}x{m.base_width}d",
            "shake_resnext": lambda: f"{m.depth}-2x{m.cardinality}x{m.base_width}d"}.get(m.arch, lambda: f"{m.depth}")
    return f"{m.arch}-{size()}"


def default_run_name(spec: RunSpec) -> str:
    """Dataset, model with its size, method and seed, so that two different runs rarely share a name:
    "cifar10 pyramidnet-272 shakedrop · seed 0"."""
    return f"{spec.dataset.name} {model_tag(spec)} {spec.regularization.method} · seed {spec.seed}"


def _new_run(spec: RunSpec, name: str | None, tags: Iterable[str], notes: str, experiment: Experiment | None,
             gpus: int = 1) -> Run:
    model, method = spec.model.arch, spec.regularization.method
    return Run(
        name=name or default_run_name(spec), gpus=gpus,
        notes=notes, spec=spec.model_dump(mode="json"), spec_key=spec_key(spec), arch=model, method=method,
        dataset=spec.dataset.name, seed=spec.seed, epochs=spec.optim.epochs, status="queued",
        experiment=experiment, tags=[RunTag(tag=t) for t in sorted(set(tags))],
        cancel_requested=False, attempts=0, epochs_done=0, train_seconds=0.0, created_at=utcnow(),
    )


def create_runs(session: Session, specs: list[RunSpec], *, name: str | None = None, tags: Iterable[str] = (),
                notes: str = "", experiment: Experiment | None = None, gpus: int = 1) -> list[Run]:
    tags = list(tags)
    runs = [_new_run(spec, name, tags, notes, experiment, gpus) for spec in specs]
    session.add_all(runs)
    session.flush()
    return runs


def create_experiment(session: Session, specs: list[RunSpec], *, name: str, tags: Iterable[str] = (),
                      notes: str = "", gpus: int = 1) -> Experiment:
    experiment = Experiment(name=name, notes=notes, created_at=utcnow())
    session.add(experiment)
    tags = list(tags)
    # "setting 2" rather than "#2": in the dashboard "#" is a run's id.
    settings = {key: i + 1 for i, key in enumerate(dict.fromkeys(spec_key(s) for s in specs))}
    for spec in specs:
        setting = f" · setting {settings[spec_key(spec)]}" if len(settings) > 1 else ""
        session.add(_new_run(spec, f"{name}{setting} · seed {spec.seed}" if len(specs) > 1 else name,
                             tags, notes, experiment, gpus))
    session.flush()
    return experiment


def next_unused_seed(session: Session, key: str) -> int:
    """The lowest seed that no run of this spec key has used, whatever became of that run."""
    used = set(session.scalars(select(Run.seed).where(Run.spec_key == key)))
    return next(seed for seed in range(len(used) + 1) if seed not in used)


def rerun(session: Session, run_id: int, *, new_seed: bool) -> Run:
    """The run's spec, tags and notes again: with its own seed (the same sample again), or with the lowest
    seed its spec has not used yet (one more sample of the seed group). A default name follows the seed."""
    run = get_run(session, run_id)
    spec = RunSpec.model_validate(run.spec)
    if new_seed:
        spec = spec.model_copy(update={"seed": next_unused_seed(session, run.spec_key)})
    base = run.name.split(" · re-run of #")[0]
    if base == default_run_name(RunSpec.model_validate(run.spec)):
        name = default_run_name(spec) + ("" if new_seed else f" · re-run of #{run.id}")
    else:
        name = f"{base} · re-run of #{run.id}{f' · seed {spec.seed}' if new_seed else ''}"
    [created] = create_runs(session, [spec], name=name[:200], tags=run.tag_names, notes=run.notes, gpus=run.gpus)
    return created


RUN_ORDER = {
    "created": Run.created_at.desc(), "-created": Run.created_at.asc(),
    "best": Run.best_test_error.asc().nulls_last(), "last": Run.last_test_error.asc().nulls_last(),
    "name": Run.name.asc(), "status": Run.status.asc(),
}


def run_filters(*, status: list[str] | None = None, tag: str | None = None, arch: str | None = None,
                method: str | None = None, dataset: str | None = None, experiment_id: int | None = None,
                spec_key_: str | None = None, ids: list[int] | None = None, search_id: int | None = None,
                archived: bool | None = None) -> list:
    """The WHERE clauses of a runs query with these filters (find_runs; backend/run_rows.py's JSON listing)."""
    where = []
    if archived is not None:
        where.append(Run.archived_at.is_not(None) if archived else Run.archived_at.is_(None))
    if status:
        where.append(Run.status.in_(status))
    if tag:
        where.append(Run.id.in_(select(RunTag.run_id).where(RunTag.tag == tag)))
    for column, value in ((Run.arch, arch), (Run.method, method), (Run.dataset, dataset),
                          (Run.experiment_id, experiment_id), (Run.spec_key, spec_key_), (Run.search_id, search_id)):
        if value is not None:
            where.append(column == value)
    if ids:
        where.append(Run.id.in_(ids))
    return where


def find_runs(session: Session, *, order: str = "created", limit: int = 100, offset: int = 0,
              **filters) -> tuple[list[Run], int]:
    """Runs matching every filter given (run_filters); `archived`: False only the active runs, True only the
    archived ones, None both."""
    query: Select = select(Run).where(*run_filters(**filters))
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(RUN_ORDER[order], Run.id.desc()).limit(limit).offset(offset)).all()
    return list(rows), total


def get_run(session: Session, run_id: int) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise NotFound(f"run {run_id} not found")
    return run


METRIC_COLUMNS = ("epoch", *METRIC_FIELDS, *VALIDATION_FIELDS)


def get_metrics(session: Session, run_id: int, after_epoch: int = 0) -> dict[str, list]:
    """The run's epochs after `after_epoch`, column-wise ({"epoch": [...], "test_error": [...], ...})."""
    get_run(session, run_id)
    return metrics_of(session, [run_id], after_epoch)[run_id]


def metrics_of(session: Session, run_ids: list[int], after_epoch: int = 0) -> dict[int, dict[str, list]]:
    """Several runs' epochs in one query, column-wise per run: thousands of rows per run are read at once,
    as plain tuples (no ORM objects)."""
    table = Metric.__table__
    query = (select(table.c.run_id, *(table.c[name] for name in METRIC_COLUMNS))
             .where(table.c.run_id.in_(run_ids), table.c.epoch > after_epoch)
             .order_by(table.c.run_id, table.c.epoch))
    out = {run_id: {name: [] for name in METRIC_COLUMNS} for run_id in run_ids}
    for run_id, rows in groupby(session.execute(query).all(), key=lambda row: row[0]):  # one fetchall
        columns = list(zip(*rows, strict=True))[1:]
        out[run_id] = {name: list(values) for name, values in zip(METRIC_COLUMNS, columns, strict=True)}
    return out


def request_cancel(session: Session, run_id: int, *, status: str = "cancelled", reason: str | None = None) -> Run:
    """A queued run ends `cancelled` at once; a running one is flagged and its worker stops it. A search's
    pruner asks for status `pruned` with its reason, which the run ends with instead."""
    assert status in ("cancelled", "pruned")
    run = get_run(session, run_id)
    now = utcnow()
    session.execute(update(Run).where(Run.id == run_id, Run.status == "queued")
                    .values(status=status, cancel_requested=True, finished_at=now,
                            error=reason or "cancelled before it started"))
    session.execute(update(Run).where(Run.id == run_id, Run.status == "running", Run.cancel_requested.is_(False))
                    .values(cancel_requested=True, cancel_status=None if status == "cancelled" else status,
                            cancel_reason=reason))
    session.flush()
    session.refresh(run)
    return run


def edit_run(session: Session, run_id: int, *, name: str | None = None, tags: Iterable[str] | None = None,
             notes: str | None = None) -> Run:
    """Change what a person wrote about a run (never its spec): the fields given, the others as they are."""
    run = get_run(session, run_id)
    if name is not None:
        run.name = name
    if notes is not None:
        run.notes = notes
    if tags is not None:
        wanted = set(tags)
        kept = [t for t in run.tags if t.tag in wanted]
        run.tags = kept + [RunTag(tag=t) for t in sorted(wanted - set(run.tag_names))]
    session.flush()
    session.refresh(run)
    return run


def set_archived(session: Session, run_id: int, archived: bool) -> Run:
    """Archive a run (it leaves the default runs list) or restore it; archiving twice keeps the first date."""
    run = get_run(session, run_id)
    if archived and run.archived_at is None:
        run.archived_at = utcnow()
    elif not archived:
        run.archived_at = None
    session.flush()
    return run


def delete_run(session: Session, run_id: int) -> Run:
    """Remove a finished run with its tags and metrics (the caller removes its files). A queued or running
    run is refused: cancel it first, so that no worker writes to a run that no longer exists."""
    run = get_run(session, run_id)
    if run.status not in FINISHED:
        raise Conflict(f"run {run_id} is {run.status}: cancel it first, then delete it once it has stopped")
    if run.search_id is not None:
        search_status = session.scalar(select(Search.status).where(Search.id == run.search_id))
        if search_status not in (None, "finished"):
            raise Conflict(f"run {run_id} belongs to search {run.search_id}, which is still {search_status}: its "
                           "sampler learns from this run; delete it once the search has finished")
    unlearned = session.scalar(select(NASChild.search_id).where(NASChild.run_id == run_id,
                                                                 NASChild.learned.is_(False)))
    if unlearned is not None:
        raise Conflict(f"run {run_id} is a child of NAS search {unlearned}, whose controller has not learned from "
                       "it yet; delete it once the search has taken its reward")
    session.delete(run)
    session.flush()
    return run


def queued_runs(session: Session, limit: int = 200) -> tuple[list[Run], int]:
    """Queued runs in the order workers take them (the dispatcher publishes by id), and how many there are."""
    query = select(Run).where(Run.status == "queued")
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    return list(session.scalars(query.order_by(Run.id).limit(limit))), total


# ------------------------------------------------------------------------------------------ the worker

def claim_run(engine: Engine, run_id: int, *, worker: str, gpu: str | None) -> str | None:
    """Take a queued run for this worker; None if it is not queued (a duplicate message, or cancelled)."""
    token = str(uuid.uuid4())
    now = utcnow()
    with session_scope(engine) as session:
        claimed = session.execute(
            update(Run).where(Run.id == run_id, Run.status == "queued", Run.cancel_requested.is_(False))
            .values(status="running", worker=worker, gpu=gpu, claim_token=token, heartbeat_at=now,
                    started_at=func.coalesce(Run.started_at, now), attempts=Run.attempts + 1, error=None)
        ).rowcount
    return token if claimed else None


def heartbeat(engine: Engine, run_id: int, token: str) -> str:
    """Mark the run alive: 'ok', 'cancel' (a cancel was asked for) or 'lost' (another worker owns it now)."""
    with session_scope(engine) as session:
        alive = session.execute(update(Run).where(Run.id == run_id, Run.claim_token == token,
                                                  Run.status == "running")
                                .values(heartbeat_at=utcnow())).rowcount
        if not alive:
            return "lost"
        cancel = session.scalar(select(Run.cancel_requested).where(Run.id == run_id))
    return "cancel" if cancel else "ok"


def _insert_ignoring_duplicates(session: Session, rows: list[dict]) -> None:
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    session.execute(insert(Metric).values(rows).on_conflict_do_nothing(index_elements=["run_id", "epoch"]))


def record_epochs(engine: Engine, run_id: int, token: str, events: list[dict]) -> bool:
    """Store finished epochs (a replayed one is ignored) and the run's progress; False if the claim is lost."""
    now = utcnow()
    rows = [{"run_id": run_id, "epoch": int(e["epoch"]), "recorded_at": now,
             **{k: float(e[k]) for k in METRIC_FIELDS},
             **{k: None if e.get(k) is None else float(e[k]) for k in VALIDATION_FIELDS}} for e in events]
    with session_scope(engine) as session:
        owner = session.scalar(select(Run.claim_token).where(Run.id == run_id))
        if owner != token:
            return False
        if rows:
            _insert_ignoring_duplicates(session, rows)
            refresh_series(session, run_id)  # the reads' packed copy, in the same transaction
        mine = Metric.run_id == run_id
        last = select(Metric).where(mine).order_by(Metric.epoch.desc()).limit(1).subquery()
        session.execute(update(Run).where(Run.id == run_id).values(
            epochs_done=select(func.coalesce(func.max(Metric.epoch), 0)).where(mine).scalar_subquery(),
            best_test_error=select(func.min(Metric.test_error)).where(mine).scalar_subquery(),
            train_seconds=select(func.coalesce(func.sum(Metric.seconds), 0.0)).where(mine).scalar_subquery(),
            last_test_error=select(last.c.test_error).scalar_subquery(),
            last_train_error=select(last.c.train_error).scalar_subquery(),
            best_val_error=select(func.min(Metric.val_error)).where(mine).scalar_subquery(),
            last_val_error=select(last.c.val_error).scalar_subquery(),
            images_per_second=select(last.c.images_per_second).scalar_subquery(),
            heartbeat_at=now,
        ))
    return True


def finish_run(engine: Engine, run_id: int, token: str, status: str, error: str | None = None) -> bool:
    assert status in FINISHED
    with session_scope(engine) as session:
        return bool(session.execute(
            update(Run).where(Run.id == run_id, Run.claim_token == token, Run.status == "running")
            .values(status=status, error=error, finished_at=utcnow(), claim_token=None)
        ).rowcount)


def finish_cancelled(engine: Engine, run_id: int, token: str) -> bool:
    """End a run whose cancel was requested, as asked: `cancelled`, or `pruned` with the pruner's reason."""
    with session_scope(engine) as session:
        return bool(session.execute(
            update(Run).where(Run.id == run_id, Run.claim_token == token, Run.status == "running")
            .values(status=func.coalesce(Run.cancel_status, "cancelled"),
                    error=func.coalesce(Run.cancel_reason, "cancelled while running"),
                    finished_at=utcnow(), claim_token=None)
        ).rowcount)


def release_run(engine: Engine, run_id: int, token: str, reason: str) -> bool:
    """Give a running run back to the queue (its worker is stopping); it resumes from its checkpoint."""
    with session_scope(engine) as session:
        return bool(session.execute(
            update(Run).where(Run.id == run_id, Run.claim_token == token, Run.status == "running")
            # A graceful hand-back does not use up one of the run's attempts.
            .values(status="queued", claim_token=None, worker=None, gpu=None, dispatched_at=None,
                    heartbeat_at=None, error=reason, attempts=Run.attempts - 1)
        ).rowcount)


# -------------------------------------------------------------------------------------- the dispatcher

def runs_to_dispatch(engine: Engine, limit: int = 100) -> list[tuple[int, int]]:
    """Queued runs not yet published: (id, the GPUs it asks for), oldest first."""
    with session_scope(engine) as session:
        query = (select(Run.id, Run.gpus).where(Run.status == "queued", Run.dispatched_at.is_(None))
                 .order_by(Run.id).limit(limit))
        return [tuple(row) for row in session.execute(query)]


def queued_widths(engine: Engine) -> set[int]:
    """The numbers of GPUs that queued runs ask for (which broker queues hold their messages)."""
    with session_scope(engine) as session:
        return set(session.scalars(select(Run.gpus).where(Run.status == "queued").distinct()))


def queued_gpus(engine: Engine, run_id: int) -> int | None:
    """The GPUs a queued run asks for; None when it is not queued (taken, finished or cancelled)."""
    with session_scope(engine) as session:
        return session.scalar(select(Run.gpus).where(Run.id == run_id, Run.status == "queued",
                                                     Run.cancel_requested.is_(False)))


def keep_dispatched(engine: Engine, run_id: int) -> bool:
    """A worker holds this queued run's message while it waits for GPUs: refresh its publication time, so the
    dispatcher does not take the message for lost and publish it again. False once the run is no longer
    queued (cancelled) or its publication was undone."""
    with session_scope(engine) as session:
        return bool(session.execute(
            update(Run).where(Run.id == run_id, Run.status == "queued", Run.cancel_requested.is_(False),
                              Run.dispatched_at.is_not(None)).values(dispatched_at=utcnow())).rowcount)


def forget_lost_dispatches(engine: Engine, *, older_than: float) -> list[int]:
    """Queued runs published more than `older_than` seconds ago: when the broker's queue is empty, their
    messages were lost (a broker restarted without persistence, a worker that died before claiming), so
    they are marked unpublished, for the next pass to publish again."""
    cutoff = utcnow() - timedelta(seconds=older_than)
    lost = and_(Run.status == "queued", Run.dispatched_at.is_not(None), Run.dispatched_at < cutoff)
    with session_scope(engine) as session:
        ids = list(session.scalars(select(Run.id).where(lost)))
        if ids:
            session.execute(update(Run).where(Run.id.in_(ids)).where(lost).values(dispatched_at=None))
    return ids


def mark_dispatched(engine: Engine, run_id: int, when: datetime | None) -> bool:
    """Claim the publishing of a run (when = now), or undo it after a failed publish (when = None)."""
    with session_scope(engine) as session:
        condition = Run.dispatched_at.is_(None) if when is not None else Run.dispatched_at.is_not(None)
        return bool(session.execute(update(Run).where(Run.id == run_id, Run.status == "queued", condition)
                                    .values(dispatched_at=when)).rowcount)


def requeue_stale(engine: Engine, *, stale_after: float, max_attempts: int) -> dict[str, list[int]]:
    """Runs whose worker fell silent: requeued to resume from their checkpoint, cancelled if a cancel was
    asked for, or failed once they have lost `max_attempts` workers."""
    cutoff = utcnow() - timedelta(seconds=stale_after)
    now = utcnow()
    stale = and_(Run.status == "running", or_(Run.heartbeat_at.is_(None), Run.heartbeat_at < cutoff))
    outcome: dict[str, list[int]] = {"requeued": [], "cancelled": [], "failed": []}
    with session_scope(engine) as session:
        for run_id, attempts, cancel, worker, cancel_status, cancel_reason in session.execute(
                select(Run.id, Run.attempts, Run.cancel_requested, Run.worker, Run.cancel_status,
                       Run.cancel_reason).where(stale)).all():
            silent = f"worker {worker} stopped answering (no heartbeat for {stale_after:g} s)"
            if cancel:
                values = {"status": cancel_status or "cancelled", "finished_at": now,
                          "error": cancel_reason or "cancelled"}
                kind = "cancelled"
            elif attempts >= max_attempts:
                values = {"status": "failed", "finished_at": now,
                          "error": f"{silent}; gave up after {attempts} attempts"}
                kind = "failed"
            else:
                values = {"status": "queued", "dispatched_at": None, "worker": None, "gpu": None,
                          "error": f"{silent}; requeued to resume from its last checkpoint"}
                kind = "requeued"
            done = session.execute(update(Run).where(Run.id == run_id).where(stale)
                                   .values(claim_token=None, heartbeat_at=None, **values)).rowcount
            if done:
                outcome[kind].append(run_id)
    return outcome


# ------------------------------------------------------------------------------------------ workers

FORGET_WORKERS_AFTER = timedelta(days=7)


def worker_seen(engine: Engine, name: str, *, gpu: str | None, slots: int, datasets: dict | None = None,
                placement: dict | None = None) -> None:
    """A worker says it is alive (every heartbeat), with what it reports of its datasets (worker/presence.py);
    workers silent for a week are forgotten."""
    now = utcnow()
    with session_scope(engine) as session:
        seen = session.execute(update(Worker).where(Worker.name == name)
                               .values(last_seen=now, gpu=gpu, slots=slots, stopped_at=None,
                                       datasets=datasets, placement=placement)).rowcount
        if not seen:
            session.add(Worker(name=name, gpu=gpu, slots=slots, started_at=now, last_seen=now, datasets=datasets,
                               placement=placement))
            session.execute(Worker.__table__.delete().where(Worker.last_seen < now - FORGET_WORKERS_AFTER))


def runs_by_worker(session: Session) -> dict[str, list[Run]]:
    """The running runs, by the worker that holds them."""
    out: dict[str, list[Run]] = {}
    for run in session.scalars(select(Run).where(Run.status == "running").order_by(Run.id)):
        out.setdefault(run.worker, []).append(run)
    return out


def worker_stopped(engine: Engine, name: str) -> None:
    with session_scope(engine) as session:
        session.execute(update(Worker).where(Worker.name == name).values(stopped_at=utcnow()))


def find_workers(session: Session, *, alive_within: float) -> list[tuple[Worker, bool]]:
    """Every known worker, newest first, with whether it is alive (seen within `alive_within` seconds and
    not stopped)."""
    cutoff = utcnow() - timedelta(seconds=alive_within)
    workers = session.scalars(select(Worker).order_by(Worker.last_seen.desc())).all()
    return [(w, w.stopped_at is None and w.last_seen >= cutoff) for w in workers]
