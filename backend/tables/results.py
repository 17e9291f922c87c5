"""A table's cells beside the runs that reproduce them. Runs match a cell by spec, not by name or tag: a run
counts for a cell when its spec key (the resolved spec without its seed) equals the key of the cell's spec
under the profile, whatever its seed."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Run
from ..stats import paper_verdict, summarize
from .data import PAPER_TABLES, PaperTable
from .notes import table_settings
from .profiles import PROFILES, Profile, table_specs
from .schemas import (
    CellOut,
    ColumnOut,
    Counts,
    ProfileOut,
    Reproduced,
    RowOut,
    TableListItem,
    TableOut,
    TableSummary,
)

__all__ = ["MatchedRun", "matching_runs", "reproduced", "cell_status", "table_view", "table_list",
           "profile_out"]


@dataclass(frozen=True)
class MatchedRun:
    id: int
    spec_key: str
    seed: int
    status: str
    last_test_error: float | None
    finished_at: datetime | None = None


def matching_runs(session: Session, keys: set[str]) -> dict[str, list[MatchedRun]]:
    """The runs of each spec key, oldest first."""
    out: dict[str, list[MatchedRun]] = defaultdict(list)
    if not keys:
        return out
    query = (select(Run.id, Run.spec_key, Run.seed, Run.status, Run.last_test_error, Run.finished_at)
             .where(Run.spec_key.in_(sorted(keys))).order_by(Run.id))
    for row in session.execute(query):
        out[row.spec_key].append(MatchedRun(*row))
    return out


def reproduced(runs: list[MatchedRun], reported: float | None, profile: Profile) -> Reproduced | None:
    """n, mean, spread and 95% interval of the succeeded runs' last test error (each seed once), with the
    paper verdict where n >= 2; null when none has succeeded.

    within_spread: the paper's number lies within the seeds' spread of the mean, i.e.
    |mean - reported| <= max(sample std, half the range), which needs at least two runs.
    """
    latest: dict[int, MatchedRun] = {}  # each seed once: a re-run of a seed replaces it (as seed groups count)
    for run in sorted((r for r in runs if r.status == "succeeded" and r.last_test_error is not None),
                      key=lambda r: (r.finished_at is not None, r.finished_at or datetime.min, r.id)):
        latest[run.seed] = run
    done = [r for r in runs if latest.get(r.seed) is r]
    if not done:
        return None
    summary = summarize(r.last_test_error for r in done)
    diff = within = verdict = None
    note = summary.note or ""
    if reported is not None and profile.comparable:
        diff = summary.mean - reported
        if summary.std is not None:
            within = abs(diff) <= max(summary.std, (summary.max - summary.min) / 2)
            verdict = paper_verdict(summary, reported)
            note = verdict.sentence
    elif not profile.comparable:
        note = f"{note}; " if note else ""
        note += f"profile {profile.name}: not compared with the paper"
    return Reproduced(mean=summary.mean, std=summary.std, sem=summary.sem, ci95=summary.ci95, min=summary.min,
                      max=summary.max, count=summary.n, run_ids=[r.id for r in done], diff=diff,
                      within_spread=within, verdict=verdict, note=note, profile=profile.name, label=profile.label)


def cell_status(counts: Counts) -> str:
    """Work under way comes first, so that the page shows a cell filling in: running, queued, done, missing."""
    if counts.running:
        return "running"
    if counts.queued:
        return "queued"
    if counts.succeeded:
        return "done"
    return "missing"


def _counts(runs: list[MatchedRun]) -> Counts:
    by_status = Counter(r.status for r in runs)
    return Counts(**{s: by_status.get(s, 0) for s in Counts.model_fields})


def profile_out(profile: Profile) -> ProfileOut:
    return ProfileOut(name=profile.name, label=profile.label, description=profile.description,
                      comparable=profile.comparable)


def _summary(statuses: list[str]) -> TableSummary:
    counted = Counter(statuses)
    return TableSummary(cells=len(statuses), **{s: counted.get(s, 0) for s in ("done", "running", "queued",
                                                                                  "missing")})


def _cells(table: PaperTable, profile: Profile, runs: dict[str, list[MatchedRun]]) -> dict[str, CellOut]:
    specs = {c.key: c for c in table_specs(table.id, profile.name)}
    out = {}
    for key, row, cell in table.cells():
        cell_spec = specs[key]
        matched = runs.get(cell_spec.spec_key, [])
        counts = _counts(matched)
        out[key] = CellOut(
            key=key, column=cell.column, reported=cell.reported, verification=cell.verification,
            source=table.cell_source(row, cell), note=cell.note,
            spec=cell_spec.spec.model_dump(mode="json", exclude={"seed"}), spec_key=cell_spec.spec_key,
            status=cell_status(counts), counts=counts, reproduced=reproduced(matched, cell.reported, profile))
    return out


def table_view(session: Session, table: PaperTable, profile: Profile) -> TableOut:
    keys = {c.spec_key for c in table_specs(table.id, profile.name)}
    cells = _cells(table, profile, matching_runs(session, keys))
    rows = []
    for row in table.rows:
        by_column = {c.column: cells[f"{row.key}:{c.column}"] for c in row.cells}
        rows.append(RowOut(key=row.key, label=row.label, cells=[by_column.get(c.key) for c in table.columns]))
    config, notes = table_settings(table, profile)
    return TableOut(
        id=table.id, title=table.title, source=table.source, dataset=table.dataset,
        verification=table.verification, verification_levels=table.verification_levels, notes=notes, config=config,
        profile=profile_out(profile), profiles=[profile_out(p) for p in PROFILES.values()],
        columns=[ColumnOut(key=c.key, label=c.label) for c in table.columns], rows=rows,
        summary=_summary([c.status for c in cells.values()]))


def table_list(session: Session, profile: Profile) -> list[TableListItem]:
    keys = {c.spec_key for t in PAPER_TABLES for c in table_specs(t, profile.name)}
    runs = matching_runs(session, keys)
    profiles = [profile_out(p) for p in PROFILES.values()]
    out = []
    for table in PAPER_TABLES.values():
        statuses = []
        for cell in table_specs(table.id, profile.name):
            statuses.append(cell_status(_counts(runs.get(cell.spec_key, []))))
        out.append(TableListItem(id=table.id, title=table.title, source=table.source, dataset=table.dataset,
                                 verification=table.verification, verification_levels=table.verification_levels,
                                 profiles=profiles, summary=_summary(statuses)))
    return out
