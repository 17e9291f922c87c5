"""Profiles: the setting a table is reproduced at. `full` is the paper's own; the others change the cells'
specs in one documented way, and every number they produce carries their label.

A profile maps a cell's resolved spec to the spec that is queued and matched, so matching stays by spec:
a budget run never counts as a full one (its epochs differ), nor a smoke run as either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from worker.engine.spec import RunSpec, parse_spec

from ..store import spec_key
from .data import PAPER_TABLES

__all__ = ["Profile", "PROFILES", "ProfileName", "DEFAULT_PROFILE", "BUDGET_FRACTION", "profile_spec",
           "table_specs", "CellSpec"]

ProfileName = Literal["full", "budget", "smoke"]
DEFAULT_PROFILE = "full"

# The budget profile trains 1/6 of the paper's epochs (1800 -> 300, 600 -> 100, 300 -> 50). The schedule's
# milestones are fractions of the run, so the learning-rate curve keeps its shape.
BUDGET_FRACTION = 6

SMOKE_EPOCHS = 2
SMOKE_DATASET = {"name": "synthetic", "train_size": 64, "test_size": 32}
SMOKE_MAX_BATCH = 32


@dataclass(frozen=True)
class Profile:
    name: str
    label: str  # shown beside every number the profile produces
    description: str
    comparable: bool  # whether its numbers may be compared with the paper's (diff, within spread)
    transform: Callable[[dict[str, Any]], dict[str, Any]]  # resolved spec (JSON) -> this profile's spec


def _full(spec: dict[str, Any]) -> dict[str, Any]:
    return spec


def _budget(spec: dict[str, Any]) -> dict[str, Any]:
    epochs = spec["optim"]["epochs"]
    short = max(1, round(epochs / BUDGET_FRACTION))
    warmup = spec["schedule"]["warmup_epochs"] * short / epochs
    return {**spec, "optim": {**spec["optim"], "epochs": short},
            "schedule": {**spec["schedule"], "warmup_epochs": warmup}}


def _even(n: int) -> int:
    return max(2, n - n % 2)


# The smallest net of each family that still has its structure, widths scaled down by 8 (16 for the
# ResNeXt group width), so that cells that differ by width stay distinct.
_SMOKE_MODELS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "resnet": lambda m: {**m, "depth": 11 if m["bottleneck"] else 8},
    "wrn": lambda m: {**m, "depth": 10, "widen": max(1, m["widen"] // 8)},
    "resnext": lambda m: {**m, "depth": 11, "base_width": max(1, m["base_width"] // 16)},
    "shake_resnet": lambda m: {**m, "depth": 8, "width": _even(m["width"] // 8)},
    "shake_resnext": lambda m: {**m, "depth": 11, "base_width": max(1, m["base_width"] // 16)},
    "pyramidnet": lambda m: {**m, "depth": 11 if m["bottleneck"] else 8, "alpha": max(1, m["alpha"] // 10)},
    "nasnet": lambda m: {**m, "cells": 1, "filters": max(4, m["filters"] // 8)},
}


def _smoke_optim(optim: dict[str, Any]) -> dict[str, Any]:
    """A smaller batch split into as many replica groups as the paper's (one group where it cannot be)."""
    batch = min(optim["batch_size"], SMOKE_MAX_BATCH)
    groups = optim["batch_size"] // optim["replica_batch"]
    replica = batch // groups if batch % groups == 0 else batch
    return {**optim, "epochs": SMOKE_EPOCHS, "batch_size": batch, "replica_batch": replica}


def _smoke(spec: dict[str, Any]) -> dict[str, Any]:
    return {**spec, "dataset": dict(SMOKE_DATASET), "model": _SMOKE_MODELS[spec["model"]["arch"]](spec["model"]),
            "optim": _smoke_optim(spec["optim"]), "schedule": {**spec["schedule"], "warmup_epochs": 0}}


PROFILES: dict[str, Profile] = {p.name: p for p in (
    Profile("full", "full: the paper's settings",
            "Every cell with the paper's own settings (epochs, optimizer, schedule, augmentation).",
            comparable=True, transform=_full),
    Profile("budget", f"budget: 1/{BUDGET_FRACTION} of the paper's epochs, not the paper's setting",
            f"The paper's settings with 1/{BUDGET_FRACTION} of its epochs (e.g. 1800 -> 300, 300 -> 50; at least "
            "1); the schedule keeps its shape (milestones are fractions of the run). Expect higher errors than "
            "the paper's.",
            comparable=True, transform=_budget),
    Profile("smoke", "smoke test: tiny models, 2 epochs on synthetic data, not a reproduction",
            f"Checks the pipeline in seconds: the smallest depth of each family with widths scaled down, "
            f"{SMOKE_EPOCHS} epochs on {SMOKE_DATASET['train_size']} synthetic images, batch at most "
            f"{SMOKE_MAX_BATCH} split into the paper's number of replica groups; the regularizer as in the paper. "
            "Its numbers say nothing about the paper's. "
            "Cells that differ only by dataset share their smoke runs (the synthetic data replaces both).",
            comparable=False, transform=_smoke),
)}
assert set(PROFILES) == set(ProfileName.__args__)


def profile_spec(spec: dict[str, Any], profile: Profile) -> RunSpec:
    """The run spec a cell queues and matches under `profile` (seed 0; reproduce sets the seeds)."""
    resolved = parse_spec(spec).model_dump(mode="json")
    return parse_spec(profile.transform(resolved))


@dataclass(frozen=True)
class CellSpec:
    key: str
    spec: RunSpec
    spec_key: str


@lru_cache
def table_specs(table_id: str, profile_name: str) -> tuple[CellSpec, ...]:
    """Every cell's spec and spec key under a profile, in the table's order (specs are fixed data)."""
    profile = PROFILES[profile_name]
    out = []
    for key, _, cell in PAPER_TABLES[table_id].cells():
        spec = profile_spec(cell.spec, profile)
        out.append(CellSpec(key, spec, spec_key(spec)))
    return tuple(out)
