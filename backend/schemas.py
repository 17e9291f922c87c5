"""The REST API's request and response bodies. The run spec itself is the engine's `RunSpec`: one schema."""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from worker.engine.spec import RunSpec, SpecError, parse_spec

Tag = Annotated[str, StringConstraints(pattern=r"^[\w.:+\-=]{1,64}$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Status = Literal["queued", "running", "succeeded", "failed", "cancelled", "pruned"]

MAX_RUNS_PER_REQUEST = 500


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


Gpus = Annotated[int, Field(ge=1, le=64, description=(
    "the GPUs the run trains on at once, one process each (DistributedDataParallel under torchrun); a "
    "placement choice, not part of the spec: the run is the same on any number. Its batch's "
    "optim.replica_batch groups must divide evenly over them."))]


def gpus_problem(spec: RunSpec, gpus: int) -> str | None:
    """Why `gpus` GPUs cannot share this spec's batch, if they cannot (the engine's check_world, without torch)."""
    groups = spec.optim.replicas
    if groups % gpus:
        return (f"{gpus} GPUs cannot share a batch of {spec.optim.batch_size} split into {groups} group"
                f"{'s' if groups > 1 else ''} of optim.replica_batch {spec.optim.replica_batch}: use a number of "
                f"GPUs that divides {groups}")
    return None


class RunCreate(_Body):
    spec: RunSpec
    gpus: Gpus = 1
    name: Name | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    notes: str = Field("", max_length=10_000)

    @field_validator("gpus")
    @classmethod
    def _gpus_share_the_batch(cls, gpus: int, info):
        spec = info.data.get("spec")
        problem = spec is not None and gpus_problem(spec, gpus)
        if problem:
            raise ValueError(problem)
        return gpus


class ExperimentCreate(_Body):
    """Several runs at once: every combination of `seeds` and the `grid`'s values over spec fields."""
    name: Name
    spec: dict[str, Any] = Field(description="the base run spec (see POST /api/runs)")
    seeds: list[Annotated[int, Field(ge=0, le=2**31 - 1)]] | None = Field(
        None, min_length=1, max_length=100, description="one run per seed; default: the spec's seed")
    grid: dict[Annotated[str, StringConstraints(pattern=r"^[a-z_]+(\.[a-z_]+)+$")], list[Any]] = Field(
        default_factory=dict, max_length=8,
        description='dotted spec fields and their values, e.g. {"regularization.p_last": [0.5, 0.7]}')
    gpus: Gpus = 1
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
                where = ", ".join(f"{p}={v!r}" for p, v in zip(paths, values, strict=False))
                try:
                    spec = parse_spec(data)
                except SpecError as exc:
                    raise SpecError([{**e, "field": f"spec.{e['field']}" if e["field"] else "spec",
                                      "message": e["message"] + (f" (with {where})" if where else "")}
                                     for e in exc.errors]) from None
                problem = gpus_problem(spec, self.gpus)
                if problem:
                    raise SpecError([{"field": "gpus", "message": problem + (f" (with {where})" if where else ""),
                                      "type": "value_error"}])
                specs.append(spec)
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


class RunDownload(BaseModel):
    """The dataset a running run's worker is fetching before the first epoch."""
    dataset: str
    bytes: int = Field(description="fetched so far")
    total: int | None = Field(description="the archive's size; null when the server does not say")
    percent: float | None
    message: str = Field(description="e.g. 'downloading CIFAR-10: 43%'")


class RunOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    experiment_id: int | None
    search_id: int | None = Field(None, description="the search that proposed this run, if any")
    name: str
    tags: list[str]
    notes: str
    spec: dict[str, Any]
    spec_key: str
    arch: str
    method: str
    dataset: str
    seed: int
    gpus: int = Field(description="the GPUs it trains on at once")
    status: Status
    epochs: int
    epochs_done: int
    progress: float = Field(description="epochs_done / epochs")
    best_test_error: float | None
    last_test_error: float | None
    last_train_error: float | None
    best_val_error: float | None = Field(description="lowest validation error (%); null without "
                                         "dataset.validation")
    last_val_error: float | None = Field(description="the last epoch's validation error (%), what a search "
                                         "judges; null without dataset.validation")
    images_per_second: float | None
    train_seconds: float = Field(description="seconds spent in recorded epochs")
    eta_seconds: float | None = Field(description="from the recorded epochs' pace; null until one exists")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    worker: str | None
    gpu: str | None = Field(description="the GPUs it trains on, as its worker names them (\"0,1\" for two)")
    attempts: int
    cancel_requested: bool
    error: str | None
    download: RunDownload | None = Field(None, description="in GET /api/runs/{id}: the dataset its worker is "
                                                           "downloading before the first epoch, if any")
    archived_at: datetime | None = Field(None, description="when it was archived; null for a run in the default "
                                                           "list")

    @classmethod
    def of(cls, run) -> RunOut:
        eta = None
        if run.epochs_done and run.status in ("queued", "running"):
            eta = run.train_seconds / run.epochs_done * (run.epochs - run.epochs_done)
        return cls.model_validate({
            **{k: getattr(run, k) for k in cls.model_fields if hasattr(run, k) and k not in ("tags",)},
            "tags": run.tag_names, "progress": run.epochs_done / run.epochs, "eta_seconds": eta,
        })


class RunEdit(_Body):
    """What PATCH /api/runs/{id} may change: what a person wrote about the run, and whether it is archived.
    Fields left out stay as they are; the spec never changes (re-run it instead)."""
    name: Name | None = None
    tags: list[Tag] | None = Field(None, max_length=20, description="the run's whole new set of tags")
    notes: str | None = Field(None, max_length=10_000)
    archived: bool | None = Field(None, description="true: leave the default runs list; false: restore")


class RunPage(BaseModel):
    total: int
    runs: list[RunOut]


class QueuedRun(BaseModel):
    position: int = Field(description="1 is the next run a free worker takes")
    waiting_for: str = Field("", description="why it has not started: no worker with as many GPUs, all busy, or "
                                             "the GPUs of the worker that holds it (which runs hold them)")
    waited_seconds: float = Field(description="since it was created (a run given back by its worker counts its time "
                                                "before that too)")
    published: bool = Field(description="handed to the broker; false while the broker is unreachable")
    run: RunOut


class QueueOut(BaseModel):
    total: int = Field(description="queued runs, all of them (the list may be cut at `limit`)")
    runs: list[QueuedRun]

    @classmethod
    def of(cls, runs, total: int, reasons: dict[int, str]) -> QueueOut:
        now = datetime.now(timezone.utc)
        return cls(total=total, runs=[
            QueuedRun(position=i + 1, waited_seconds=max(0.0, (now - run.created_at).total_seconds()),
                      published=run.dispatched_at is not None, waiting_for=reasons.get(run.id, ""),
                      run=RunOut.of(run)) for i, run in enumerate(runs)])


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
    val_loss: float | None = None
    val_error: float | None = None
    recorded_at: datetime


LEFT_OUT = "null only when GET /api/compare's columns= leaves it out"


class Metrics(BaseModel):
    """Column-wise, so that a script can plot it straight away: plt.plot(m["epoch"], m["test_error"])."""
    run_id: int
    status: Status
    epochs: int
    epoch: list[int]
    train_loss: list[float] | None = Field(description=LEFT_OUT)
    train_error: list[float] | None = Field(description=LEFT_OUT)
    test_loss: list[float] | None = Field(description=LEFT_OUT)
    test_error: list[float] | None = Field(description=LEFT_OUT)
    lr: list[float] | None = Field(description=LEFT_OUT)
    seconds: list[float] | None = Field(description=LEFT_OUT)
    images_per_second: list[float] | None = Field(description=LEFT_OUT)
    val_loss: list[float] | None = Field(None, description="on the held-out training images; null for a run "
                                         "without a validation split (dataset.validation 0)")
    val_error: list[float] | None = Field(None, description="percent, like test_error; null for a run without "
                                          "a validation split")
    wall_seconds: list[float] | None = Field(
        description="cumulative training time at the end of each epoch; " + LEFT_OUT)
    total_epochs: int = Field(description="epochs recorded (before any downsampling)")
    downsampled: bool = Field(False, description="true when max_points thinned the rows (extrema kept)")


class SeedStats(BaseModel):
    """Statistics over a seed group's counted runs (backend/stats.py computes them)."""
    n: int
    mean: float
    std: float | None = Field(description="sample standard deviation; null with one run")
    sem: float | None = Field(None, description="standard error of the mean, std / sqrt(n); null with one run")
    min: float
    max: float
    ci95: tuple[float, float] | None = Field(description="95% confidence interval of the mean (Student's t); "
                                                         "null with one run")
    missing: int = Field(0, description="counted runs that have no value of this metric (left out of n)")
    note: str | None = Field(None, description='what the figures cannot say: "one run: no interval", or that '
                                               'runs without a spread make a zero-width interval')


class PaperVerdict(BaseModel):
    """Our 95% interval against the paper's number (n >= 2)."""
    reported: float
    inside_ci95: bool = Field(description="the paper's number lies inside our 95% confidence interval")
    difference: float = Field(description="our mean - the paper's number")
    difference_ci95: tuple[float, float] = Field(description="95% interval of that difference (the paper's "
                                                             "number taken as exact)")
    test: str = Field(description="the test behind p_value")
    p_value: float | None = Field(description="null when our runs do not vary")
    sentence: str = Field(description='"consistent with the paper: ...", or where the paper lies outside')


class Difference(BaseModel):
    estimate: float = Field(description="mean of a - mean of b")
    ci95: tuple[float, float] | None = Field(description="its 95% interval (Welch-Satterthwaite degrees of "
                                                         "freedom); null when neither group varies")


class WelchTest(BaseModel):
    test: str
    statistic: float
    df: float
    p_value: float


class RankTest(BaseModel):
    test: str
    statistic: float = Field(description="U of group a")
    p_value: float
    smallest_possible_p: float | None = Field(description="the exact test's smallest p at these sizes")
    note: str


class TwoGroupComparison(BaseModel):
    a: SeedStats
    b: SeedStats
    difference: Difference
    welch: WelchTest | None = Field(description="null when neither group varies")
    rank_test: RankTest
    alpha: float
    verdict: str = Field(description="a plain sentence that claims no more than the tests found")


class SeedsNeeded(BaseModel):
    per_group: int | None = Field(description="seeds a group (or a table cell); null beyond 100,000")
    sigma: float
    delta: float
    alpha: float
    power: float
    achieved_power: float | None = Field(description="the power at per_group seeds")
    test: str
    sentence: str


StatsMetric = Literal["test_error", "train_error", "test_loss", "train_loss", "val_error", "val_loss", "lr",
                      "images_per_second"]
RunIds = Annotated[list[Annotated[int, Field(ge=1, le=2**31 - 1)]], Field(min_length=1, max_length=1000)]


class GroupRef(_Body):
    """A group of runs: listed by id, or every run of one spec key. Its statistics count the finished runs,
    each seed once (as seed groups do)."""
    run_ids: RunIds | None = None
    spec_key: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = None
    label: Annotated[str, StringConstraints(max_length=80)] | None = Field(None, description="its name in the "
                                                                                          "verdict; default A, B")

    @model_validator(mode="after")
    def _one_of(self):
        if (self.run_ids is None) == (self.spec_key is None):
            raise ValueError("give run_ids or spec_key, one of them")
        return self


class StatsCompareRequest(_Body):
    a: GroupRef
    b: GroupRef
    metric: StatsMetric = "test_error"
    epoch: Literal["last", "best"] = Field("last", description="last: the papers' protocol; best: each run's "
                                                               "lowest epoch, optimistic")
    alpha: float = Field(0.05, gt=0, lt=1, description="the significance level of the verdict")


class StatsCompareOut(TwoGroupComparison):
    metric: StatsMetric
    epoch: Literal["last", "best"]
    a_run_ids: list[int] = Field(description="the runs counted for a (finished, each seed once, with the metric)")
    b_run_ids: list[int]


class SeedsNeededRequest(_Body):
    delta: float = Field(gt=0, allow_inf_nan=False,
                         description="the difference to tell apart, in the metric's unit (percent points of error)")
    sigma: float | None = Field(None, gt=0, allow_inf_nan=False,
                                description="the seed-to-seed standard deviation; null: pooled over run_ids' seed "
                                            "groups, or over the table's cells")
    run_ids: RunIds | None = Field(None, description="runs whose seed groups give sigma and, without a table, "
                                                     "the groups whose cost is counted")
    metric: StatsMetric = "test_error"
    alpha: float = Field(0.05, gt=0, lt=1)
    power: float = Field(0.8, gt=0, lt=1)
    table_id: Annotated[str, StringConstraints(max_length=100)] | None = Field(
        None, description="cost the runs this table's cells lack for that many seeds (a dry run of reproduce)")
    cells: list[Annotated[str, StringConstraints(max_length=100)]] | None = Field(None, min_length=1,
                                                                                   max_length=200)
    profile: Literal["full", "budget", "smoke"] = "full"


class SeedsCost(BaseModel):
    runs: int = Field(description="runs still to train: seeds a group or cell lacks (queued, running or finished "
                                  "ones already count in a table; finished ones in groups of runs)")
    gpu_hours_h100_estimate: float | None = Field(description="on one H100, from FLOPs at an assumed share of its "
                                                              "peak: an estimate, not a measurement; null when no "
                                                              "run's model has a FLOPs figure")
    local_hours: float | None = Field(description="on this installation at the speed its finished runs measured, "
                                                  "one after another; null without a measurement")
    local_basis: str


class SeedsPlanOut(BaseModel):
    needed: SeedsNeeded
    sigma_source: str = Field(description='"entered", or what it was pooled over')
    cost: SeedsCost | None = Field(description="null unless run_ids or a table say which runs to count")
    sentence: str = Field(description='"to tell 0.1 apart at σ 0.09 you need 14 seeds a cell: ..."')


class NotCounted(BaseModel):
    run_id: int
    seed: int
    reason: Literal["not finished", "duplicate seed"]
    detail: str = Field(description='e.g. "cancelled at epoch 7 of 300", "seed 0 is counted once, from run #14"')


class MetricStats(BaseModel):
    last: SeedStats | None = Field(description="at each run's last epoch (the papers' protocol)")
    best: SeedStats | None = Field(description="at each run's best (lowest) epoch, chosen on that very metric: "
                                               "optimistic; null for metrics without a best (lr, throughput)")


class SeedGroup(BaseModel):
    """Runs of one spec (any seed). Statistics count each seed once, from a succeeded run (the latest to finish
    where a seed ran twice); the other runs are listed in not_counted with the reason."""
    spec_key: str
    run_ids: list[int] = Field(description="every run of the group (in a comparison: those asked for)")
    counted_run_ids: list[int]
    seeds: list[int] = Field(description="the counted runs' seeds, ascending")
    not_counted: list[NotCounted]
    summary: str = Field(description='"3 seeds", or "3 runs, 1 counted: 2 not finished"')
    last_test_error: SeedStats | None = Field(description="the last epoch's test error (%), as the papers report")
    best_test_error: SeedStats | None = Field(description="each run's lowest test error (%): an epoch chosen "
                                                          "on the test set, optimistic")
    metrics: dict[str, MetricStats] | None = Field(None, description="in a comparison: every recorded metric's "
                                                   "statistics over the counted runs, by name (test_error, "
                                                   "train_loss, ...)")


class Comparison(BaseModel):
    runs: list[RunOut]
    metrics: list[Metrics]
    groups: list[SeedGroup] = Field(description="the runs' seed groups (runs with one spec_key), in the order of "
                                                "each group's first run")


class ExperimentOut(BaseModel):
    id: int
    name: str
    notes: str
    created_at: datetime
    runs: list[RunOut]


class DatasetOnWorker(BaseModel):
    present: bool = Field(description="its files are in the worker's data directory")
    download_bytes: int = Field(description="what fetching it would download")


class WorkerDownload(BaseModel):
    run_id: int
    dataset: str
    bytes: int
    total: int | None


class WorkerDatasets(BaseModel):
    data_dir: str
    download: bool = Field(description="whether it fetches a missing dataset before training "
                                       "(SHAKELAB_DOWNLOAD_DATASETS)")
    datasets: dict[str, DatasetOnWorker] = Field(description="the datasets that need files (CIFAR-10/100)")
    downloads: list[WorkerDownload] = Field(description="downloads its runs are waiting on now")


class WorkerGpu(BaseModel):
    label: str | None = Field(description="how runs name it (null: a worker on the CPU)")
    runs: list[int] = Field(description="the runs training on it")


class WorkerWaiting(BaseModel):
    run_id: int
    gpus: int
    reason: str = Field(description="e.g. 'needs 4 free GPUs at once; 2 of this worker's 4 are free (held by run 7)'")


class WorkerPlacement(BaseModel):
    """A worker's GPUs, the runs on each, and the runs it holds that wait for them (worker/gpu_pool.py)."""
    runs_per_gpu: int
    gpus: list[WorkerGpu]
    waiting: list[WorkerWaiting]


class WorkerRun(BaseModel):
    id: int
    name: str
    epochs_done: int
    epochs: int
    progress: float
    last_test_error: float | None
    heartbeat_at: datetime | None


class WorkerOut(BaseModel):
    name: str = Field(description="host[/gpuN]#pid, host/gpu0+1+2+3#pid for a worker that owns several GPUs")
    gpu: str | None = Field(description="its GPUs' labels, comma-separated; null for a worker on the CPU")
    gpus: int = Field(1, description="the GPUs it owns: the widest run it can train")
    slots: int = Field(description="runs it trains at once")
    started_at: datetime
    last_seen: datetime
    stopped_at: datetime | None
    alive: bool = Field(description="seen within SHAKELAB_STALE_AFTER_SECONDS and not stopped")
    datasets: WorkerDatasets | None = Field(description="what it reports of its data directory (null from a "
                                                        "worker older than this report)")
    state: Literal["training", "idle", "stale", "stopped"] = Field(
        "idle", description="training: it holds a running run; stale: silent past SHAKELAB_STALE_AFTER_SECONDS "
                            "without saying it stopped (killed, or its machine is down)")
    runs: list[WorkerRun] = Field(default_factory=list, description="the runs it trains now")
    placement: WorkerPlacement | None = Field(None, description="which runs hold its GPUs and which wait for them")


class DatasetAvailability(BaseModel):
    """Whether the workers can train a dataset, said before a run of it is queued."""
    name: str
    label: str
    state: Literal["bundled", "present", "download", "missing", "no_workers"] = Field(
        description="bundled: needs no files; present: on every worker alive; download: some alive worker "
                    "lacks it and fetches it before the first epoch; missing: some alive worker lacks it and may "
                    "not download; no_workers: no worker is alive to say")
    message: str | None = Field(description="the dashboard's sentence for it; null for a bundled dataset")
    workers: int = Field(description="workers alive now")
    workers_with: int = Field(description="of those, the ones that hold its files")
    download_bytes: int | None = Field(description="what a download fetches; null for a bundled dataset")


class Health(BaseModel):
    status: Literal["ok", "degraded", "down"]
    database: Literal["up", "down"]
    broker: Literal["up", "down"]
    workers: int | None = Field(description="workers alive now (null while the database is down)")
    broker_url: str = Field(description="the broker's kind and host, without credentials")
    database_url: str = Field(description="the database's kind and host, without credentials")
    version: str
