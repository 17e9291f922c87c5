"""The REST API's request and response bodies. The run spec itself is the engine's `RunSpec`: one schema."""

from __future__ import annotations

import itertools
import math
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from worker.engine.spec import RunSpec, SpecError, parse_spec

Tag = Annotated[str, StringConstraints(pattern=r"^[\w.:+\-=]{1,64}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]

MAX_RUNS_PER_REQUEST = 500


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunCreate(_Body):
    spec: RunSpec
    name: Name | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    notes: str = Field("", max_length=10_000)


class ExperimentCreate(_Body):
    """Several runs at once: every combination of `seeds` and the `grid`'s values over spec fields."""
    name: Name
    spec: dict[str, Any] = Field(description="the base run spec (see POST /api/runs)")
    seeds: list[Annotated[int, Field(ge=0, le=2**31 - 1)]] | None = Field(
        None, min_length=1, max_length=100, description="one run per seed; default: the spec's seed")
    grid: dict[Annotated[str, StringConstraints(pattern=r"^[a-z_]+(\.[a-z_]+)+$")], list[Any]] = Field(
        default_factory=dict, max_length=8,
        description='dotted spec fields and their values, e.g. {"regularization.p_last": [0.5, 0.7]}')
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    notes: str = Field("", max_length=10_000)

    @field_validator("grid")
    @classmethod
    def _values(cls, grid):
        for path, values in grid.items():
            if not values or len(values) > 100:
                raise ValueError(f"{path}: give between 1 and 100 values")
        return grid

    @model_validator(mode="after")
    def _size(self):
        count = len(self.seeds or [None]) * math.prod(len(v) for v in self.grid.values())
        if count > MAX_RUNS_PER_REQUEST:
            raise ValueError(f"this experiment would create {count} runs; at most {MAX_RUNS_PER_REQUEST}")
        return self

    def run_specs(self) -> list[RunSpec]:
        """Every combination, validated; a SpecError names the field as `spec.<path>` (with the combination)."""
        specs = []
        paths = list(self.grid)
        for values in itertools.product(*(self.grid[p] for p in paths)):
            data = _with_values(self.spec, dict(zip(paths, values, strict=False)))
            for seed in self.seeds or [None]:
                if seed is not None:
                    data = {**data, "seed": seed}
                try:
                    specs.append(parse_spec(data))
                except SpecError as exc:
                    where = ", ".join(f"{p}={v!r}" for p, v in zip(paths, values, strict=False))
                    raise SpecError([{"field": f"spec.{e['field']}" if e["field"] else "spec",
                                      "message": e["message"] + (f" (with {where})" if where else "")}
                                     for e in exc.errors]) from None
        return specs


def _with_values(spec: dict, values: dict[str, Any]) -> dict:
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in spec.items()}
    for path, value in values.items():
        section, *rest = path.split(".")
        node = out.setdefault(section, {})
        if not isinstance(node, dict):
            node = out[section] = {}
        for key in rest[:-1]:
            node = node.setdefault(key, {})
        node[rest[-1]] = value
    return out


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    experiment_id: int | None
    name: str
    tags: list[str]
    notes: str
    spec: dict[str, Any]
    spec_key: str
    arch: str
    method: str
    dataset: str
    seed: int
    status: Status
    epochs: int
    epochs_done: int
    progress: float = Field(description="epochs_done / epochs")
    best_test_error: float | None
    last_test_error: float | None
    last_train_error: float | None
    images_per_second: float | None
    train_seconds: float = Field(description="seconds spent in recorded epochs")
    eta_seconds: float | None = Field(description="from the recorded epochs' pace; null until one exists")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    worker: str | None
    gpu: str | None
    attempts: int
    cancel_requested: bool
    error: str | None

    @classmethod
    def of(cls, run) -> RunOut:
        eta = None
        if run.epochs_done and run.status in ("queued", "running"):
            eta = run.train_seconds / run.epochs_done * (run.epochs - run.epochs_done)
        return cls.model_validate({
            **{k: getattr(run, k) for k in cls.model_fields if hasattr(run, k) and k not in ("tags",)},
            "tags": run.tag_names, "progress": run.epochs_done / run.epochs, "eta_seconds": eta,
        })


class RunPage(BaseModel):
    total: int
    runs: list[RunOut]


class MetricOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    epoch: int
    train_loss: float
    train_error: float
    test_loss: float
    test_error: float
    lr: float
    seconds: float
    images_per_second: float
    recorded_at: datetime


class Metrics(BaseModel):
    """Column-wise, so that a script can plot it straight away: plt.plot(m["epoch"], m["test_error"])."""
    run_id: int
    status: Status
    epochs: int
    epoch: list[int]
    train_loss: list[float]
    train_error: list[float]
    test_loss: list[float]
    test_error: list[float]
    lr: list[float]
    seconds: list[float]
    images_per_second: list[float]
    wall_seconds: list[float] = Field(description="cumulative training time at the end of each epoch")
    total_epochs: int = Field(description="epochs recorded (before any downsampling)")
    downsampled: bool = Field(False, description="true when max_points thinned the rows (extrema kept)")


class Comparison(BaseModel):
    runs: list[RunOut]
    metrics: list[Metrics]


class ExperimentOut(BaseModel):
    id: int
    name: str
    notes: str
    created_at: datetime
    runs: list[RunOut]


class WorkerOut(BaseModel):
    name: str = Field(description="host[/gpuN]#pid")
    gpu: str | None
    slots: int = Field(description="runs it trains at once")
    started_at: datetime
    last_seen: datetime
    stopped_at: datetime | None
    alive: bool = Field(description="seen within SHAKELAB_STALE_AFTER_SECONDS and not stopped")


class Health(BaseModel):
    status: Literal["ok", "degraded", "down"]
    database: Literal["up", "down"]
    broker: Literal["up", "down"]
    workers: int | None = Field(description="workers alive now (null while the database is down)")
    broker_url: str = Field(description="the broker's kind and host, without credentials")
    database_url: str = Field(description="the database's kind and host, without credentials")
    version: str
