"""A search space over run spec fields: its entries, their checks against the base spec, and what Optuna
needs of them (distributions, grid points).

A space maps dotted spec paths, the run spec's own names, to a range or a list of choices:

    {"optim.lr": {"float": [0.05, 0.8], "log": true}, "model.depth": {"int": [8, 26], "step": 6},
     "regularization.level": {"choice": ["batch", "image"]}}
"""

from __future__ import annotations

import copy
import json
import math
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from worker.engine.spec import RunSpec, SpecError, parse_spec

__all__ = ["SpaceEntry", "SpacePath", "check_space", "apply_params", "distributions", "grid_space",
           "grid_size", "check_grid", "cost_corners", "to_optuna", "from_optuna", "MAX_GRID"]

SpacePath = Annotated[str, StringConstraints(pattern=r"^[a-z_]+(\.[a-z_]+)*$", max_length=80)]
Choice = str | bool | int | float | None | list[float]
MAX_GRID = 10_000
# The objective is measured on the dataset's validation split: every proposal must be judged on the same
# images, so the dataset is not searched; the seed is set by `seeds`.
NOT_SEARCHABLE = {
    "seed": "the seed is not searched: `seeds` says how many runs (seeds 0, 1, ...) each proposal trains",
    "dataset": "the dataset is not searched: every proposal is judged on the same validation images",
}


class SpaceEntry(BaseModel):
    """One dimension: `float` or `int` [low, high] (with `log` or `step`), or `choice` [values]."""
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    float_: tuple[float, float] | None = Field(None, alias="float", description="[low, high], both included")
    int_: tuple[int, int] | None = Field(None, alias="int", description="[low, high], both included")
    choice: list[Choice] | None = Field(None, min_length=1, max_length=100, description="the values to try")
    log: bool = Field(False, description="sample the range uniformly in log space (low > 0)")
    step: float | None = Field(None, gt=0, description="the range's values are low, low + step, ...")

    @model_validator(mode="after")
    def _consistent(self):
        kinds = [k for k, v in (("float", self.float_), ("int", self.int_), ("choice", self.choice)) if v is not None]
        if len(kinds) != 1:
            raise ValueError('give exactly one of "float": [low, high], "int": [low, high] or "choice": [values]')
        if self.choice is not None:
            if self.log or self.step is not None:
                raise ValueError("log and step apply to ranges, not to a list of choices")
            encoded = [json.dumps(c) for c in self.choice]
            if len(set(encoded)) < len(encoded):
                raise ValueError("a choice is listed twice")
            return self
        low, high = self.bounds
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError("the range's ends must be finite numbers")
        if low > high:
            raise ValueError(f"the range is reversed: low {low:g} > high {high:g}")
        if self.log and low <= 0:
            raise ValueError(f"a log range needs low > 0, got {low:g}")
        if self.log and self.step is not None:
            raise ValueError("a range is either log or stepped, not both")
        if self.int_ is not None and self.step is not None and self.step != int(self.step):
            raise ValueError(f"an int range's step is a whole number, got {self.step:g}")
        return self

    @property
    def kind(self) -> Literal["float", "int", "choice"]:
        return "float" if self.float_ is not None else "int" if self.int_ is not None else "choice"

    @property
    def bounds(self) -> tuple[float, float]:
        return self.float_ if self.float_ is not None else self.int_

    def as_json(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, exclude_defaults=True)


# ------------------------------------------------------------------------------------------ the spec

def apply_params(spec: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The spec with each dotted path set to its value. A proposed batch size without a proposed
    replica_batch is one replica group, as a spec that sets its own batch size is (the base spec's split
    need not divide it)."""
    out = copy.deepcopy(spec)
    if "optim.batch_size" in params and "optim.replica_batch" not in params:
        out.get("optim", {}).pop("replica_batch", None)
    for path, value in params.items():
        *parents, leaf = path.split(".")
        node = out
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    return out


def _field_kind(annotation) -> str:
    """boolean, integer, number, choice (a Literal) or other, for a field's annotation (None left out)."""
    if get_origin(annotation) in (Union, types.UnionType):
        kinds = [a for a in get_args(annotation) if a is not type(None)]
        annotation = kinds[0] if len(kinds) == 1 else annotation
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "integer"
    if annotation is float:
        return "number"
    if get_origin(annotation) is Literal:
        return "choice"
    return "other"


def _field_of(spec: RunSpec, path: str):
    """The pydantic field at a dotted path of the resolved spec, or an error message."""
    *sections, name = path.split(".")
    node: Any = spec
    for section in sections:
        node = getattr(node, section, None)
        if not isinstance(node, BaseModel):
            return None, f"the run spec has no section {section!r}"
    fields = type(node).model_fields
    if name in fields and isinstance(section := getattr(node, name), BaseModel):
        example = next(iter(type(section).model_fields))
        return None, f"{path} is a section: search one of its fields, e.g. {path}.{example}"
    if name not in fields:
        where = ".".join(sections) or "the run spec"
        which = {"model": f" (arch {spec.model.arch})", "regularization": f" (method {spec.regularization.method})"}
        return None, (f"unknown field: {where}{which.get(sections[0], '') if sections else ''} has no {name!r}; "
                      f"its fields: {', '.join(sorted(fields))}")
    return fields[name], None


def _bad_value(base: dict[str, Any], path: str, value: Any) -> str | None:
    """The spec's own message when `value` at `path` makes the base spec invalid at that field."""
    try:
        parse_spec(apply_params(base, {path: value}))
    except SpecError as exc:
        mine = [e["message"] for e in exc.errors if e["field"] == path or e["field"].startswith(f"{path}.")]
        return mine[0] if mine else None
    return None


def check_space(space: dict[str, SpaceEntry], spec: RunSpec) -> list[dict[str, str]]:
    """Problems with the space against the resolved base spec, as [{field: "space.<path>", message}]."""
    base = spec.model_dump(mode="json")
    errors = []
    for path, entry in space.items():
        field = f"space.{path}"
        top = path.split(".")[0]
        if path in NOT_SEARCHABLE or top in NOT_SEARCHABLE:
            errors.append({"field": field, "message": NOT_SEARCHABLE.get(path) or NOT_SEARCHABLE[top]})
            continue
        info, problem = _field_of(spec, path)
        if problem:
            errors.append({"field": field, "message": problem})
            continue
        kind = _field_kind(info.annotation)
        if entry.kind == "float" and kind != "number":
            errors.append({"field": field, "message": (
                f"{path} holds whole numbers: give it an \"int\" range" if kind == "integer" else
                f"{path} is not numeric: give it a \"choice\" list")})
            continue
        if entry.kind == "int" and kind not in ("integer", "number"):
            errors.append({"field": field, "message": f"{path} is not numeric: give it a \"choice\" list"})
            continue
        values = entry.choice if entry.kind == "choice" else list(entry.bounds)
        names = ["choice"] * len(values) if entry.kind == "choice" else ["low end", "high end"]
        for name, value in zip(names, values, strict=True):
            if (message := _bad_value(base, path, value)) is not None:
                errors.append({"field": field, "message": f"the {name} {json.dumps(value)} does not fit: {message}"})
                break
    return errors


# ------------------------------------------------------------------------------------------ Optuna

def to_optuna(entry: SpaceEntry, value: Any) -> Any:
    """Optuna's choices are scalars: a list choice (a range such as alpha_range) travels as its JSON."""
    return json.dumps(value) if entry.kind == "choice" and isinstance(value, list) else value


def from_optuna(entry: SpaceEntry, value: Any) -> Any:
    if entry.kind == "choice":
        return next((c for c in entry.choice if to_optuna(entry, c) == value), value)
    return value


def distributions(space: dict[str, SpaceEntry]) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out = {}
    for path, entry in space.items():
        if entry.kind == "float":
            out[path] = FloatDistribution(*entry.float_, log=entry.log, step=entry.step)
        elif entry.kind == "int":
            out[path] = IntDistribution(*entry.int_, log=entry.log, step=int(entry.step or 1))
        else:
            out[path] = CategoricalDistribution([to_optuna(entry, c) for c in entry.choice])
    return out


def _grid_count(entry: SpaceEntry) -> int | None:
    """How many grid points a dimension has; None for a float range without a step (no grid)."""
    if entry.kind == "choice":
        return len(entry.choice)
    low, high = entry.bounds
    if entry.kind == "float" and entry.step is None:
        return None
    return math.floor((high - low) / (entry.step or 1) + 1e-9) + 1


def _grid_values(entry: SpaceEntry) -> list[Any]:
    if entry.kind == "choice":
        return [to_optuna(entry, c) for c in entry.choice]
    low, step = entry.bounds[0], entry.step or 1
    if entry.kind == "int":
        return [int(low) + i * int(step) for i in range(_grid_count(entry))]
    return [float(f"{low + i * step:.12g}") for i in range(_grid_count(entry))]


def grid_space(space: dict[str, SpaceEntry]) -> dict[str, list[Any]]:
    """Every dimension's points; only for a space that check_grid accepts."""
    return {path: _grid_values(entry) for path, entry in space.items()}


def grid_size(space: dict[str, SpaceEntry]) -> int:
    return math.prod(_grid_count(entry) or 0 for entry in space.values())


def check_grid(space: dict[str, SpaceEntry]) -> list[dict[str, str]]:
    errors = [{"field": f"space.{path}", "message": "the grid sampler needs a \"step\" on a float range (or give "
               "a \"choice\" list)"} for path, entry in space.items() if _grid_count(entry) is None]
    if not errors and grid_size(space) > MAX_GRID:
        errors.append({"field": "sampler", "message": f"the grid has {grid_size(space):,} points; at most "
                       f"{MAX_GRID:,} (use tpe or random for larger spaces)"})
    return errors


# Only these sections change what a run costs (its epochs, images per epoch and images per second).
COST_SECTIONS = ("model", "optim")


def cost_corners(space: dict[str, SpaceEntry], limit: int = 256) -> list[dict[str, Any]]:
    """The points where a run's cost is largest: each end of the ranges and every choice, of the fields
    that change the cost; at most `limit` points."""
    axes = {path: (entry.choice[:10] if entry.kind == "choice" else list(entry.bounds))
            for path, entry in space.items() if path.split(".")[0] in COST_SECTIONS}
    points: list[dict[str, Any]] = [{}]
    for path, values in axes.items():
        points = [{**p, path: v} for p in points for v in values][:limit]
    return points
