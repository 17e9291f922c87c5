"""A table's notes and settings under a profile. They are the paper's (data.py) under `full`; under another
profile every setting the profile changes says what its runs train and what the paper's was, and a first
note says what the profile is, so that a budget or smoke page never shows the paper's epochs as its runs'."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from worker.engine.spec import RunSpec

from .data import PaperTable
from .profiles import Profile, table_specs

__all__ = ["table_settings"]


def _model(spec: RunSpec) -> str:
    model = spec.model.model_dump(mode="json")
    return " ".join([model.pop("arch"), *(f"{k} {str(v).lower()}" for k, v in model.items())])


def _dataset(spec: RunSpec) -> str:
    d = spec.dataset
    return f"{d.name}, {d.train_size} training and {d.test_size} test images" if d.name == "synthetic" else d.name


def _schedule(spec: RunSpec) -> str:
    s, epochs = spec.schedule, spec.optim.epochs
    if s.kind != "multistep":
        return s.kind
    at = " and ".join(f"{m * epochs:g}" for m in s.milestones)
    return f"multistep: lr x {s.gamma:g} at epochs {at} of {epochs}"


# The settings a profile may change: the config key they are shown under, and how a spec says it.
SETTINGS: tuple[tuple[str, Callable[[RunSpec], str]], ...] = (
    ("dataset", _dataset),
    ("model", _model),
    ("epochs", lambda spec: str(spec.optim.epochs)),
    ("batch_size", lambda spec: str(spec.optim.batch_size)),
    ("replica_batch", lambda spec: str(spec.optim.replica_batch)),
    ("schedule", _schedule),
)


def _said(specs, say: Callable[[RunSpec], str]) -> str:
    return "; ".join(dict.fromkeys(say(cell.spec) for cell in specs))


def table_settings(table: PaperTable, profile: Profile) -> tuple[dict[str, Any], list[str]]:
    """(config, notes) as the table page and the API show them under `profile`."""
    if profile.name == "full":
        return dict(table.config), list(table.notes)
    paper, ours = table_specs(table.id, "full"), table_specs(table.id, profile.name)
    changed = {}
    for key, say in SETTINGS:
        theirs, mine = _said(paper, say), _said(ours, say)
        if mine != theirs:
            changed[key] = f"{mine} under profile {profile.name} (the paper: {table.config.get(key, theirs)})"
    config = {"profile": profile.label, **{k: v for k, v in changed.items() if k not in table.config}}
    config.update({k: changed.get(k, v) for k, v in table.config.items()})
    notes = [f"Profile {profile.label}. {profile.description} The settings say where its runs differ from the "
             "paper's; the other notes are about the paper's runs.", *table.notes]
    return config, notes
