"""The NASNet search's request and response bodies (POST /api/nas and the answers about it)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from worker.engine.spec import RunSpec, SpecError, parse_spec

__all__ = ["CHILD_SPEC", "NASCreate", "NASChildOut", "NASOut", "NASSummary", "child_spec", "validate_nas"]

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]

# The paper's children (appendix A): N = 2, 20 epochs, a single-period cosine schedule, momentum 0.9, weight
# decay, judged on 5,000 images held out of CIFAR-10's training set. The filters, batch and learning rate
# are open: NASNet's CIFAR defaults (F = 32, batch 32, lr 0.025, Cutout 16), no drop path.
CHILD_SPEC: dict[str, Any] = {"dataset": {"name": "cifar10", "validation": 5000},
                              "model": {"arch": "nasnet", "cells": 2, "filters": 32},
                              "regularization": {"method": "none"}, "optim": {"epochs": 20}}


class NASCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    notes: str = Field("", max_length=10_000)
    searcher: Literal["controller", "random"] = Field(
        "controller", description="controller: the paper's LSTM trained with PPO; random: every decision uniform")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="the searcher's weights and samples")
    spec: dict[str, Any] = Field(default_factory=lambda: copy.deepcopy(CHILD_SPEC), description=(
        "the children's run spec: arch nasnet with dataset.validation > 0 (the reward is the validation "
        "accuracy at the last epoch); each child gets its own model.genotype. Default: the paper's search "
        "setting (N = 2, 20 epochs, cosine, 5,000 validation images of CIFAR-10)"))
    max_children: int = Field(100, ge=1, le=100_000, description="children in all (the paper: 20,000)")
    max_concurrent: int = Field(4, ge=1, le=1000, description="children queued or training at once")


def validate_nas(body: NASCreate) -> RunSpec:
    """The children's spec, resolved; a SpecError names each bad field (`spec.*`)."""
    try:
        spec = parse_spec(body.spec)
    except SpecError as exc:
        raise SpecError([{"field": f"spec.{e['field']}" if e["field"] else "spec", "message": e["message"]}
                         for e in exc.errors]) from None
    problems = []
    if spec.model.arch != "nasnet":
        problems.append({"field": "spec.model.arch", "message": f"a NASNet search's children are nasnet runs, "
                                                                 f"not {spec.model.arch}"})
    if not spec.dataset.validation:
        problems.append({"field": "spec.dataset.validation", "message": "the reward is measured on a validation "
                         "split: hold some training images out (the paper: 5000 of CIFAR-10)"})
    if problems:
        raise SpecError(problems)
    return spec


def child_spec(spec: dict[str, Any], genotype: dict[str, Any]) -> RunSpec:
    """A child's run spec: the search's spec with the child's cells."""
    return parse_spec({**spec, "model": {**spec["model"], "genotype": genotype}})


NASStatus = Literal["running", "stopping", "finished"]


class NASChildOut(BaseModel):
    number: int
    run_id: int | None
    run_status: str | None
    state: Literal["running", "complete", "failed", "cancelled"]
    reward: float | None = Field(description="validation accuracy (0-1) at the child's last epoch")
    error: str | None
    learned: bool = Field(description="told to the searcher (never twice)")
    log_prob: float = Field(description="its log-probability under the policy that sampled it")
    genotype: dict[str, Any]
    train_seconds: float | None
    created_at: datetime
    finished_at: datetime | None


class NASSummary(BaseModel):
    id: int
    name: str
    notes: str
    searcher: str
    seed: int
    status: NASStatus
    stop_reason: str | None
    children_made: int
    max_children: int
    max_concurrent: int
    updates: int = Field(description="the controller's PPO updates so far (one per 20 rewards)")
    started: bool = Field(description="the controller process has taken the search up")
    children: dict[str, int] = Field(description="children per state")
    best: NASChildOut | None
    created_at: datetime
    finished_at: datetime | None


class NASOut(NASSummary):
    spec: dict[str, Any]
    child_list: list[NASChildOut]
    child_seconds: float | None = Field(description="mean training time of a finished child (its run's "
                                        "train_seconds), on this platform's devices")
    paper_search_hours: float | None = Field(description="what the paper's 20,000 children would cost here, "
                                             "in device-hours, at the measured child_seconds")
