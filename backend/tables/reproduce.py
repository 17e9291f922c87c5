"""Reproduce a table: queue, for each cell, the seeds that have no run of the cell's spec yet.

A seed is taken by a queued, running or succeeded run with the cell's spec key and that seed; a failed or
cancelled run does not block a retry. Cells that share a spec (a cell repeated across two tables, or two
cells that one profile makes equal) share their runs, so nothing is queued twice, and a second call queues
nothing. Reproductions are serialised by a database lock, so two clicks at once cannot both queue.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import false, select, text, update
from sqlalchemy.orm import Session

from worker.engine.spec import RunSpec, parse_spec

from .. import store
from ..models import Experiment, Run, utcnow
from ..schemas import MAX_RUNS_PER_REQUEST
from ..settings import Settings
from .cost import estimated_throughput, model_key, run_hours, source_entry
from .data import PaperTable
from .local_speed import installation, local_estimate
from .profiles import Profile, table_specs
from .schemas import CellPlan, EstimateSource, ReproduceOut

__all__ = ["BLOCKING_STATUSES", "UnknownCells", "TooManyRuns", "reproduce_table"]

BLOCKING_STATUSES = ("queued", "running", "succeeded")
DEFAULT_ALIVE_WITHIN = Settings.model_fields["stale_after_seconds"].default
# PostgreSQL advisory lock key of reproductions ("SHAKELAB" in ASCII, as a positive bigint).
REPRODUCE_LOCK_KEY = int.from_bytes(b"SHAKELAB", "big") & (2**63 - 1)


class UnknownCells(ValueError):
    def __init__(self, keys: list[str], known: list[str]):
        self.keys = keys
        super().__init__(f"unknown cell(s) {', '.join(keys)}; this table's cells: {', '.join(known)}")


class TooManyRuns(ValueError):
    pass


@dataclass(frozen=True)
class PlannedRun:
    cell_key: str  # the first cell that asked for it
    spec: RunSpec  # with its seed


def _lock_reproductions(session: Session) -> None:
    """Hold a lock until this transaction ends, so that concurrent reproductions run one after another."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": REPRODUCE_LOCK_KEY})
    elif dialect == "sqlite":
        # Any write statement, even one that matches no row, takes SQLite's single write lock until commit.
        session.execute(update(Experiment).where(false()).values(name=Experiment.name))


def _taken_seeds(session: Session, keys: set[str]) -> set[tuple[str, int]]:
    query = select(Run.spec_key, Run.seed).where(Run.spec_key.in_(sorted(keys)),
                                                  Run.status.in_(BLOCKING_STATUSES))
    return {(key, seed) for key, seed in session.execute(query)}


def reproduce_table(session: Session, table: PaperTable, profile: Profile, *, seeds: int,
                    cell_keys: list[str] | None = None, dry_run: bool = False,
                    alive_within: float = DEFAULT_ALIVE_WITHIN) -> ReproduceOut:
    """Plan (and unless dry_run, queue) the runs the table lacks; the caller commits. `alive_within`: how
    recently a worker must have been seen to count as this installation's (the local estimate)."""
    cells = table_specs(table.id, profile.name)
    if cell_keys is not None:
        unknown = [k for k in dict.fromkeys(cell_keys) if k not in {c.key for c in cells}]
        if unknown:
            raise UnknownCells(unknown, [c.key for c in cells])
        cells = tuple(c for c in cells if c.key in set(cell_keys))
    if not dry_run:
        _lock_reproductions(session)

    taken = _taken_seeds(session, {c.spec_key for c in cells})
    planned: dict[tuple[str, int], PlannedRun] = {}
    plans = []
    for cell in cells:
        missing = [seed for seed in range(seeds) if (cell.spec_key, seed) not in taken]
        plans.append(CellPlan(key=cell.key, seeds_missing=missing))
        for seed in missing:
            if (cell.spec_key, seed) not in planned:
                spec = parse_spec({**cell.spec.model_dump(mode="json"), "seed": seed})
                planned[(cell.spec_key, seed)] = PlannedRun(cell.key, spec)
    if len(planned) > MAX_RUNS_PER_REQUEST:
        raise TooManyRuns(f"this would queue {len(planned)} runs; at most {MAX_RUNS_PER_REQUEST} per request "
                          "(fewer seeds, or some cells at a time)")

    # Cost: one rate per model and batch size, on one H100 (estimated) and on this installation (measured).
    groups: dict[tuple[str, int], list[RunSpec]] = defaultdict(list)
    for run in planned.values():
        groups[(model_key(run.spec), run.spec.optim.batch_size)].append(run.spec)
    hours, sources = 0.0, []
    for specs in groups.values():
        rate = estimated_throughput(specs[0])
        hours += sum(run_hours(spec, rate.images_per_second) for spec in specs)
        sources.append(EstimateSource(**source_entry(specs[0], rate, len(specs))))
    local = local_estimate(installation(session, alive_within=alive_within), list(groups.values()))

    created, experiment_id = [], None
    if planned and not dry_run:
        tags = [f"table:{table.id}", f"profile:{profile.name}"]
        notes = f"Reproduction of {table.title} ({table.source}); profile {profile.label}."
        label = f"Reproduce {table.title} [{profile.name}, seeds 0..{seeds - 1}]"
        experiment = Experiment(name=label[:200],
                                notes=notes, created_at=utcnow())
        session.add(experiment)
        for run in planned.values():
            name = f"{table.id} {run.cell_key} seed {run.spec.seed} [{profile.name}]"[:200]
            [row] = store.create_runs(session, [run.spec], name=name, tags=tags, notes=notes,
                                      experiment=experiment)
            created.append(row.id)
        experiment_id = experiment.id

    return ReproduceOut(
        table_id=table.id, profile=profile.name, profile_label=profile.label, seeds=seeds, dry_run=dry_run,
        runs=len(planned), epochs=sum(r.spec.optim.epochs for r in planned.values()), gpu_hours=hours,
        estimate_sources=sources, local=local, created_run_ids=created, experiment_id=experiment_id, cells=plans,
        datasets=sorted({r.spec.dataset.name for r in planned.values()}))
