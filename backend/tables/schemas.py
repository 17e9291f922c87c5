"""Request and response bodies of /api/tables (the contract the table page is built against)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..schemas import PaperVerdict
from .profiles import DEFAULT_PROFILE, ProfileName

CellStatus = Literal["done", "running", "queued", "missing"]
MAX_SEEDS = 20


class ProfileOut(BaseModel):
    name: ProfileName
    label: str = Field(description="shown beside every number of this profile")
    description: str
    comparable: bool = Field(description="false: its numbers are not compared with the paper's (no diff, no "
                                         "within_spread)")


class TableSummary(BaseModel):
    cells: int
    done: int
    running: int
    queued: int
    missing: int


class TableListItem(BaseModel):
    id: str
    title: str
    source: str
    dataset: str = Field(description="the table's dataset; 'cifar10, cifar100' where it has both")
    verification: str = Field(description="its numbers' verification levels, strongest first")
    verification_levels: dict[str, str] = Field(description="those levels, strongest first, with what each means")
    profiles: list[ProfileOut]
    summary: TableSummary = Field(description="cells by status under the listed profile (?profile=, default full)")


class ColumnOut(BaseModel):
    key: str
    label: str


class Counts(BaseModel):
    succeeded: int
    running: int
    queued: int
    failed: int
    cancelled: int


class Reproduced(BaseModel):
    """Statistics of the succeeded runs whose spec matches the cell's (any seed, each seed once: the latest to
    finish): their last epoch's test error."""
    mean: float
    std: float | None = Field(description="sample standard deviation; null with one run")
    sem: float | None = Field(None, description="standard error of the mean; null with one run")
    ci95: tuple[float, float] | None = Field(None, description="95% confidence interval of the mean (Student's "
                                                               "t); null with one run")
    min: float
    max: float
    count: int = Field(description="n: the seeds counted")
    run_ids: list[int]
    diff: float | None = Field(description="mean - reported; null when the paper's number is unknown or the "
                                           "profile is not comparable")
    within_spread: bool | None = Field(
        description="|mean - reported| <= max(std, (max - min) / 2), with at least 2 runs; null when that cannot "
                    "be said (one run, no reported number, or a profile that is not comparable)")
    verdict: PaperVerdict | None = Field(None, description="the paper's number against our 95% interval, with "
                                                           "n >= 2, a reported number and a comparable profile")
    note: str = Field("", description='what can be said plainly: the verdict\'s sentence, "one run: no '
                                      'interval", or why there is no comparison')
    profile: ProfileName
    label: str = Field(description="the profile's label: never mistake a budget or smoke number for the paper's")


class CellOut(BaseModel):
    key: str = Field(description="'<row key>:<column key>', as reproduce's `cells` takes it")
    column: str
    reported: float | None = Field(description="the paper's number; null where it was not retrieved")
    verification: str = Field(description="V-code, V-calc, V-2nd, UNVERIFIED, or missing (no reported number); "
                                          "the table's verification_levels say what each means")
    source: str
    note: str
    spec: dict[str, Any] = Field(description="the resolved run spec under the profile, without its seed")
    spec_key: str
    status: CellStatus
    counts: Counts
    reproduced: Reproduced | None


class RowOut(BaseModel):
    key: str
    label: str
    cells: list[CellOut | None] = Field(description="one per column, in the columns' order; null where the "
                                                    "paper's table has no number ('–')")


class TableOut(BaseModel):
    id: str
    title: str
    source: str
    dataset: str
    verification: str
    verification_levels: dict[str, str] = Field(description="its numbers' verification levels, strongest first, "
                                                            "with what each means")
    notes: list[str] = Field(description="the paper's notes; under a profile other than full, first what the "
                                         "profile changes")
    config: dict[str, Any] = Field(description="the training settings; under a profile other than full, each "
                                               "setting it changes reads '<its value> under profile <name> (the "
                                               "paper: <the paper's>)'")
    profile: ProfileOut
    profiles: list[ProfileOut]
    columns: list[ColumnOut]
    rows: list[RowOut]
    summary: TableSummary


class ReproduceRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seeds: int = Field(3, ge=1, le=MAX_SEEDS, description="each cell gets the seeds 0 .. seeds-1")
    profile: ProfileName = DEFAULT_PROFILE
    dry_run: bool = Field(False, description="only say what would be queued and what it would cost")
    cells: list[str] | None = Field(None, min_length=1, description="cell keys; null: every cell")


class EstimateSource(BaseModel):
    """The H100 estimate of one model at one batch size."""
    model: dict[str, Any]
    batch_size: int
    runs: int = Field(description="planned runs this estimate covers")
    source: Literal["estimate"] = Field(description="always an estimate from FLOPs, never measured")
    images_per_second: float | None
    basis: str = Field(description="how images_per_second was obtained")


class InstallationWorkers(BaseModel):
    alive: list[str] = Field(description="the workers alive now (host[/gpuN]#pid)")
    gpu: list[str] = Field(description="those started with a GPU")
    cpu: list[str] = Field(description="those started without one: they train on CPUs")
    slots: int = Field(description="runs they train at once, all together")


class LocalRate(BaseModel):
    """This installation's rate for one planned model at one batch size."""
    model: dict[str, Any]
    batch_size: int
    runs: int = Field(description="planned runs at this rate")
    images_per_second: float
    method: Literal["same model", "scaled by FLOPs"] = Field(
        description="the median of finished runs of this model at this batch size; or the median training "
                    "FLOP/s of finished runs over this model's FLOPs per image")
    measured_run_ids: list[int] = Field(description="the finished runs it comes from")


class LocalEstimate(BaseModel):
    """The planned runs' time on this installation, from the speed its finished runs measured."""
    hours: float | None = Field(description="training hours of the planned runs that have a rate, one after "
                                            "another; null when no finished run measured a usable speed")
    wall_hours: float | None = Field(description="hours / the alive workers' slots: all of them training at once; "
                                                 "null without a worker")
    workers: InstallationWorkers
    device: Literal["cpu", "gpu", "cpu and gpu", "none"] = Field(description="what the alive workers train on")
    measured_run_ids: list[int] = Field(description="the finished runs behind the rates, newest first")
    measured_on: list[str] = Field(description="their workers, each with 'CPU' or 'GPU <label>'")
    on_workers_alive: bool = Field(description="false: measured on workers that are no longer alive")
    runs_without_rate: int = Field(description="planned runs left out of `hours`: no measurement to scale to "
                                               "their model")
    rates: list[LocalRate]


class CellPlan(BaseModel):
    key: str
    seeds_missing: list[int] = Field(description="seeds without a queued, running or succeeded run of the "
                                                 "cell's spec (before this request)")


class ReproduceOut(BaseModel):
    table_id: str
    profile: ProfileName
    profile_label: str
    seeds: int
    dry_run: bool
    runs: int = Field(description="runs to queue (queued unless dry_run)")
    epochs: int = Field(description="their epochs, summed")
    gpu_hours: float = Field(description="their training time on one H100, summed: an estimate from FLOPs at an "
                                         "assumed share of its peak, not measured (see estimate_sources)")
    estimate_sources: list[EstimateSource]
    local: LocalEstimate = Field(description="their time on this installation's workers, from the speed its "
                                             "finished runs measured")
    datasets: list[str] = Field(default_factory=list, description="the datasets the runs to queue train on")
    created_run_ids: list[int]
    experiment_id: int | None = Field(description="the experiment grouping the created runs")
    cells: list[CellPlan]
