"""What a search costs, in GPU-hours: a run's recorded training time on one worker slot.

Spent: the seconds the search's runs recorded (pruned and failed runs included). In flight: each queued or
running run's remaining epochs at its own pace, or at the pace of the search's runs of the same model and
batch size, or, before any was measured, at the FLOPs estimate for one H100 (backend/tables/cost.py), which
is optimistic on anything slower. The budget holds a proposal back while spent + in flight + its own
estimate would pass it.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable
from typing import Any

from worker.engine.spec import RunSpec, parse_spec

from ..models import Run
from ..tables.cost import estimated_throughput
from .space import SpaceEntry, apply_params, cost_corners

__all__ = ["SearchCosts", "largest_cost"]


def _key(spec: dict[str, Any]) -> str:
    return json.dumps([spec["model"], spec["optim"]["batch_size"], spec["dataset"]], sort_keys=True)


def _estimated_epoch_seconds(spec: RunSpec) -> float | None:
    rate = estimated_throughput(spec).images_per_second
    return spec.dataset.train_images / rate if rate else None


class SearchCosts:
    """Paces (seconds per epoch) measured by a search's runs, and the costs they imply."""

    def __init__(self, runs: Iterable[Run]):
        self.runs = list(runs)
        paces: dict[str, list[float]] = {}
        for run in self.runs:
            if run.epochs_done:
                paces.setdefault(_key(run.spec), []).append(run.train_seconds / run.epochs_done)
        self.paces = {key: statistics.median(values) for key, values in paces.items()}

    def epoch_seconds(self, spec: dict[str, Any]) -> float | None:
        measured = self.paces.get(_key(spec))
        return measured if measured is not None else _estimated_epoch_seconds(parse_spec(spec))

    def run_seconds(self, spec: dict[str, Any]) -> float:
        pace = self.epoch_seconds(spec)
        return pace * spec["optim"]["epochs"] if pace else 0.0

    def remaining_seconds(self, run: Run) -> float:
        pace = run.train_seconds / run.epochs_done if run.epochs_done else self.epoch_seconds(run.spec)
        return (pace or 0.0) * (run.epochs - run.epochs_done)

    @property
    def spent_hours(self) -> float:
        return sum(run.train_seconds for run in self.runs) / 3600

    @property
    def in_flight_hours(self) -> float:
        return sum(self.remaining_seconds(r) for r in self.runs if r.status in ("queued", "running")) / 3600


def largest_cost(spec: RunSpec, space: dict[str, SpaceEntry],
                 costs: SearchCosts | None = None) -> tuple[float | None, str]:
    """The costliest run the space allows (hours), over the ends of every range and every choice of the
    fields that change a run's cost; None when no estimate exists."""
    base = spec.model_dump(mode="json")
    costs = costs or SearchCosts([])
    worst, unknown = 0.0, 0
    for point in cost_corners(space):
        try:
            candidate = parse_spec(apply_params(base, point)).model_dump(mode="json")
        except ValueError:
            continue  # a corner that does not validate is never trained
        seconds = costs.run_seconds(candidate)
        unknown += not seconds
        worst = max(worst, seconds / 3600)
    if not worst:
        return None, "no estimate: neither a measured run of this model nor a FLOPs figure for it"
    basis = ("measured by the search's runs" if costs.paces else
             "estimate for one H100 from the model's FLOPs, not measured (slower devices take longer)")
    if unknown:
        basis += f"; {unknown} corner(s) of the space have no estimate and are not counted"
    return worst, basis
