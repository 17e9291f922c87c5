"""The store's tables: experiments, runs with their state, and per-epoch metrics.

The database is the source of truth for a run's state; the broker only carries "run N is ready".
Progress figures (epochs done, best and last test error) are kept on the run row, updated with each epoch,
so that listing a thousand runs reads one table.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    FetchedValue,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# `pruned`: stopped early by its search (docs/searches.md); its recorded epochs stay.
FINISHED = ("succeeded", "failed", "cancelled", "pruned")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Timestamps in UTC on every database: SQLite keeps no time zone, so it stores naive UTC."""
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(timezone.utc)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime}


class Experiment(Base):
    """A group of runs launched together: several seeds of one spec, or a grid over spec fields."""
    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    runs: Mapped[list[Run]] = relationship(back_populates="experiment", order_by="Run.id")


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    experiment_id: Mapped[int | None] = mapped_column(ForeignKey("experiments.id", ondelete="SET NULL"))
    # A run proposed by a search: its search and the proposal (one run per seed) it belongs to.
    search_id: Mapped[int | None] = mapped_column(ForeignKey("searches.id", ondelete="SET NULL"), index=True)
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("search_proposals.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    # The resolved spec (papers' defaults filled in); spec_key hashes it without the seed, so runs that
    # differ only by seed share a key (grouping over seeds, matching a table's cell).
    spec: Mapped[dict] = mapped_column(JSON)
    spec_key: Mapped[str] = mapped_column(String(64), index=True)
    arch: Mapped[str] = mapped_column(String(40), index=True)
    method: Mapped[str] = mapped_column(String(40), index=True)
    dataset: Mapped[str] = mapped_column(String(40))
    seed: Mapped[int] = mapped_column(Integer)
    epochs: Mapped[int] = mapped_column(Integer)
    # The GPUs it trains on at once (one process each, torchrun): a placement choice, not part of the spec.
    gpus: Mapped[int] = mapped_column(Integer, default=1, server_default="1")

    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # What a requested cancel ends as: null is `cancelled`; a search's pruner asks for `pruned`, with its reason.
    cancel_status: Mapped[str | None] = mapped_column(String(16))
    cancel_reason: Mapped[str | None] = mapped_column(Text)

    # Dispatch and ownership: published to the broker at dispatched_at; claimed by a worker with a fresh
    # claim token per attempt, kept alive by heartbeat_at.
    dispatched_at: Mapped[datetime | None] = mapped_column()
    worker: Mapped[str | None] = mapped_column(String(200))
    gpu: Mapped[str | None] = mapped_column(String(40))
    claim_token: Mapped[str | None] = mapped_column(String(36))
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)

    epochs_done: Mapped[int] = mapped_column(Integer, default=0)
    best_test_error: Mapped[float | None] = mapped_column(Float)
    last_test_error: Mapped[float | None] = mapped_column(Float)
    last_train_error: Mapped[float | None] = mapped_column(Float)
    # Only for runs with a validation split (`dataset.validation` > 0).
    best_val_error: Mapped[float | None] = mapped_column(Float)
    last_val_error: Mapped[float | None] = mapped_column(Float)
    images_per_second: Mapped[float | None] = mapped_column(Float)
    train_seconds: Mapped[float] = mapped_column(Float, default=0.0)

    # Archived runs leave the default runs list (a filter shows them); nothing else changes.
    archived_at: Mapped[datetime | None] = mapped_column(index=True)
    # When its end was announced to SHAKELAB_WEBHOOK_URL (backend/alerts.py); claimed once, by one dispatcher.
    alerted_at: Mapped[datetime | None] = mapped_column()
    # Set by the database (migration 0010's triggers), never by the code: a new value, from a counter that only
    # grows, at every change of the run, its tags or its packed series. The read caches key answers on it.
    # (Its DDL default is the migration's; the 0 here is for tables made by create_all, which have no triggers.)
    version: Mapped[int] = mapped_column(BigInteger, server_default=text("0"), server_onupdate=FetchedValue())

    experiment: Mapped[Experiment | None] = relationship(back_populates="runs")
    tags: Mapped[list[RunTag]] = relationship(cascade="all, delete-orphan", lazy="selectin",
                                              order_by="RunTag.tag")

    @property
    def tag_names(self) -> list[str]:
        return [t.tag for t in self.tags]


class RunTag(Base):
    __tablename__ = "run_tags"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)


class Metric(Base):
    """One finished epoch; append-only, keyed by (run, epoch), so a replayed epoch is never stored twice."""
    __tablename__ = "metrics"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    epoch: Mapped[int] = mapped_column(Integer, primary_key=True)
    train_loss: Mapped[float] = mapped_column(Float)
    train_error: Mapped[float] = mapped_column(Float)
    test_loss: Mapped[float] = mapped_column(Float)
    test_error: Mapped[float] = mapped_column(Float)
    lr: Mapped[float] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float)
    images_per_second: Mapped[float] = mapped_column(Float)
    # Only for runs with a validation split (`dataset.validation` > 0); older runs have none.
    val_loss: Mapped[float | None] = mapped_column(Float)
    val_error: Mapped[float | None] = mapped_column(Float)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class MetricSeries(Base):
    """A run's metrics packed in one row, for the reads (backend/series.py): every recorded epoch's columns as
    little-endian float64 arrays one after the other (SERIES_COLUMNS there; a missing value is NaN), rebuilt
    by record_epochs with the rows. The metrics table stays the record; this is its copy for fast reading."""
    __tablename__ = "metric_series"

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    rows: Mapped[int] = mapped_column(Integer)
    last_epoch: Mapped[int] = mapped_column(Integer)  # trusted only while it equals runs.epochs_done
    data: Mapped[bytes] = mapped_column(LargeBinary)


class RunVersionCounter(Base):
    """One row: the count of committed changes of runs, in commit order (migration 0012; the runs lists' key).
    SQLite also draws runs.version from it; PostgreSQL, from the sequence run_version_seq."""
    __tablename__ = "run_version_counter"

    value: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class Worker(Base):
    """A worker process, as it last said it was alive: how the API knows whether anyone will train."""
    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    gpu: Mapped[str | None] = mapped_column(String(40))
    slots: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    stopped_at: Mapped[datetime | None] = mapped_column()
    # What the worker can train without a download, whether it may download, and the downloads its runs
    # wait on (worker/presence.py writes it; backend/schemas.py WorkerDatasets describes it).
    datasets: Mapped[dict | None] = mapped_column(JSON)
    # Its GPUs, which runs hold them and which runs wait for them, and why (worker/gpu_pool.py writes it).
    placement: Mapped[dict | None] = mapped_column(JSON)


class Search(Base):
    """An experiment whose runs a sampler proposes (backend/searches): the base spec, the space over its
    fields, and the limits. The proposals and their runs are the search's whole state."""
    __tablename__ = "searches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    spec: Mapped[dict] = mapped_column(JSON)  # the base spec, resolved
    space: Mapped[dict] = mapped_column(JSON)  # {"optim.lr": {"float": [0.01, 1], "log": true}, ...}
    objective: Mapped[str] = mapped_column(String(40))
    sampler: Mapped[str] = mapped_column(String(16))
    sampler_seed: Mapped[int] = mapped_column(Integer)
    pruner: Mapped[dict] = mapped_column(JSON)  # {"kind": "asha", "min_epochs_fraction": 0.1, "reduction": 3}
    seeds: Mapped[int] = mapped_column(Integer)
    max_runs: Mapped[int] = mapped_column(Integer)
    max_concurrent: Mapped[int] = mapped_column(Integer)
    budget_gpu_hours: Mapped[float | None] = mapped_column(Float)
    # running: proposing; stopping: no new proposal, its runs still going; finished.
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)
    stop_reason: Mapped[str | None] = mapped_column(Text)
    # Proposals made so far: the next proposal's number, claimed by a conditional UPDATE, so two
    # dispatchers never make the same proposal.
    proposals_made: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    alerted_at: Mapped[datetime | None] = mapped_column()  # as Run.alerted_at

    proposals: Mapped[list[SearchProposal]] = relationship(back_populates="search", order_by="SearchProposal.number",
                                                           cascade="all, delete-orphan")


class SearchProposal(Base):
    """One point of the space the sampler proposed: an Optuna trial, trained as one run per seed."""
    __tablename__ = "search_proposals"
    __table_args__ = (UniqueConstraint("search_id", "number", name="uq_search_proposals_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("searches.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict] = mapped_column(JSON)  # {"optim.lr": 0.13}
    # running, complete, pruned, failed (a failed run, or a spec that does not validate), cancelled.
    state: Mapped[str] = mapped_column(String(16), default="running")
    value: Mapped[float | None] = mapped_column(Float)  # the objective (seeds' mean); pruned: at the pruning
    error: Mapped[str | None] = mapped_column(Text)  # why it failed, or the pruner's reason
    # What Optuna's sampler and pruner keep on the trial (grid point, rungs reached), kept here so the
    # study rebuilt at each decision sees it.
    optuna_attrs: Mapped[dict] = mapped_column(JSON, default=dict)
    checked_step: Mapped[int] = mapped_column(Integer, default=0)  # the last step the pruner judged
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()

    search: Mapped[Search] = relationship(back_populates="proposals")


Index("ix_runs_status_dispatched", Run.status, Run.dispatched_at)

METRIC_FIELDS = ("train_loss", "train_error", "test_loss", "test_error", "lr", "seconds", "images_per_second")
# Recorded only by runs with a validation split; None for the others.
VALIDATION_FIELDS = ("val_loss", "val_error")


class NASSearch(Base):
    """The NASNet paper's architecture search (docs/nas.md): a controller trained with PPO, or random search,
    proposing `nasnet` runs with their cells. Its searcher's whole state is `state` (written only by the
    controller process, `python -m worker.nas`, under `state_version`), so a restart never learns twice."""
    __tablename__ = "nas_searches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    searcher: Mapped[str] = mapped_column(String(16))  # controller or random
    seed: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict] = mapped_column(JSON)  # the children's spec, resolved; each child gets its genotype
    max_children: Mapped[int] = mapped_column(Integer)
    max_concurrent: Mapped[int] = mapped_column(Integer)
    # running: proposing; stopping: no new child, its runs still going; finished.
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)
    stop_reason: Mapped[str | None] = mapped_column(Text)
    children_made: Mapped[int] = mapped_column(Integer, default=0)
    updates: Mapped[int] = mapped_column(Integer, default=0)  # the controller's PPO updates so far
    state: Mapped[bytes | None] = mapped_column(LargeBinary)  # None until the controller process starts it
    state_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()

    children: Mapped[list[NASChild]] = relationship(back_populates="search", order_by="NASChild.number",
                                                    cascade="all, delete-orphan")


class NASChild(Base):
    """One sampled child network: its decisions and cell, its log-probability at sampling, its run, and its
    reward once the run has ended (`learned`: told to the searcher)."""
    __tablename__ = "nas_children"
    __table_args__ = (UniqueConstraint("search_id", "number", name="uq_nas_children_number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    search_id: Mapped[int] = mapped_column(ForeignKey("nas_searches.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), index=True)
    decisions: Mapped[list] = mapped_column(JSON)
    genotype: Mapped[dict] = mapped_column(JSON)
    log_prob: Mapped[float] = mapped_column(Float)
    # running, complete (a reward), failed (the lowest reward, and why), cancelled (no reward).
    state: Mapped[str] = mapped_column(String(16), default="running")
    reward: Mapped[float | None] = mapped_column(Float)
    error: Mapped[str | None] = mapped_column(Text)
    learned: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()

    search: Mapped[NASSearch] = relationship(back_populates="children")
