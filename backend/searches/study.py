"""Optuna as the searches' engine, rebuilt from ShakeLab's tables at every decision.

ShakeLab's database is the one source of truth. Each proposal is an Optuna trial whose parameters, state,
objective, intermediate values (the objective at each recorded epoch) and the attributes Optuna's sampler
and pruner keep on a trial (GridSampler's grid point, ASHA's rungs) live in `search_proposals` and
`metrics`. Whenever a search proposes or judges a run, an in-memory study is built from them
(`optuna.trial.create_trial` + `study.add_trial`): there is no second storage to keep in step, migrate or
back up, and any API process can take over from one that died.

Steps: Optuna's pruners compare trials at the same step; a step here is the fraction of the run's schedule
done, in 1/10,000ths, so rungs are fractions of the schedule whatever the epochs.
"""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

import optuna
from optuna.trial import TrialState, create_trial

from ..models import Search
from .space import SpaceEntry, distributions, from_optuna, grid_space, to_optuna

__all__ = ["STEPS", "step_of", "TrialRecord", "propose", "judge", "importances", "Judgement"]

optuna.logging.set_verbosity(optuna.logging.WARNING)
log = logging.getLogger("shakelab.searches")

STEPS = 10_000
STATES = {"running": TrialState.RUNNING, "complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED,
          "failed": TrialState.FAIL, "cancelled": TrialState.FAIL}
ASHA_RUNG = "completed_rung_{}"  # the system attribute SuccessiveHalvingPruner records a rung's value in
MIN_FOR_IMPORTANCE = 3


def step_of(epoch: int, epochs: int) -> int:
    return epoch * STEPS // epochs


@dataclass
class TrialRecord:
    """What the study needs of one proposal."""
    number: int
    params: dict[str, Any]
    state: str
    value: float | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    intermediate: dict[int, float] = field(default_factory=dict)  # step -> objective (seeds' mean)


def space_of(search: Search) -> dict[str, SpaceEntry]:
    return {path: SpaceEntry.model_validate(entry) for path, entry in search.space.items()}


def _seed(search: Search, number: int) -> int:
    # A fresh stream per proposal: a study rebuilt with one seed would draw the same point every time.
    return (search.sampler_seed + 104_729 * number) % (2**31 - 1)


def _sampler(search: Search, space: dict[str, SpaceEntry], number: int) -> optuna.samplers.BaseSampler:
    seed = _seed(search, number)
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if search.sampler == "grid":
        # The seed shuffles the grid's order: one seed for the whole search, so that grid point k is the same
        # point at every rebuild (proposal k takes point k).
        return optuna.samplers.GridSampler(grid_space(space), seed=search.sampler_seed)
    # constant_liar: proposals still training count as bad ones, so that parallel proposals spread out.
    # Random start: Optuna's 10, or a quarter of a smaller search's proposals.
    startup = max(2, min(10, search.max_runs // search.seeds // 4))
    return optuna.samplers.TPESampler(seed=seed, constant_liar=True, n_startup_trials=startup)


def _pruner(search: Search) -> optuna.pruners.BasePruner:
    kind = search.pruner["kind"]
    first = max(1, math.ceil(search.pruner["min_epochs_fraction"] * STEPS))
    if kind == "asha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=first, reduction_factor=search.pruner["reduction"],
                                                      min_early_stopping_rate=0)
    if kind == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=search.pruner["min_finished"], n_warmup_steps=first)
    return optuna.pruners.NopPruner()


def _study(search: Search, records: list[TrialRecord], number: int) -> optuna.Study:
    space = space_of(search)
    dists = distributions(space)
    study = optuna.create_study(direction="minimize", sampler=_sampler(search, space, number),
                                pruner=_pruner(search))
    for record in sorted(records, key=lambda r: r.number):
        state = STATES[record.state]
        study.add_trial(create_trial(
            state=state, value=record.value if state == TrialState.COMPLETE else None,
            params={path: to_optuna(space[path], v) for path, v in record.params.items()}, distributions=dists,
            system_attrs=dict(record.attrs), intermediate_values=dict(record.intermediate)))
    return study


def propose(search: Search, records: list[TrialRecord], number: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The next point (params by dotted path) and the attributes the sampler set on its trial."""
    space = space_of(search)
    study = _study(search, records, number)
    trial = study.ask(distributions(space))
    frozen = study.get_trials(deepcopy=False)[-1]
    params = {path: from_optuna(space[path], trial.params[path]) for path in space}
    return params, dict(frozen.system_attrs)


@dataclass(frozen=True)
class Judgement:
    prune: bool
    attrs: dict[str, Any]
    reason: str | None = None


def judge(search: Search, records: list[TrialRecord], number: int, *, epoch: int, epochs: int) -> Judgement:
    """Optuna's pruner on a running proposal at its latest step; the reason says at which epoch, what value,
    against what rung."""
    study = _study(search, records, number)
    trial = next(t for t in study.get_trials(deepcopy=False) if t.number == _index(records, number))
    prune = study.pruner.prune(study, trial)
    attrs = dict(study.get_trials(deepcopy=False)[trial.number].system_attrs)
    if not prune:
        return Judgement(False, attrs)
    return Judgement(True, attrs, _reason(search, study, trial, attrs, epoch=epoch, epochs=epochs))


def _index(records: list[TrialRecord], number: int) -> int:
    """Trials are added in the proposals' order: the trial number of proposal `number`."""
    return sorted(r.number for r in records).index(number)


def _reason(search: Search, study: optuna.Study, trial, attrs: dict[str, Any], *, epoch: int, epochs: int) -> str:
    objective = search.objective if search.seeds == 1 else f"mean {search.objective} of {search.seeds} seeds"
    value = trial.intermediate_values[trial.last_step]
    where = f"pruned at epoch {epoch} of {epochs} ({trial.last_step / STEPS:.0%} of the schedule)"
    if math.isnan(value):
        return f"{where}: {objective} is not a number"
    if search.pruner["kind"] == "asha":
        rungs = [int(key.rsplit("_", 1)[1]) for key in attrs if key.startswith(ASHA_RUNG.format(""))]
        rung = max(rungs)
        key = ASHA_RUNG.format(rung)
        competing = sorted(t.system_attrs[key] for t in study.get_trials(deepcopy=False)
                           if key in t.system_attrs and t.number != trial.number) + [value]
        competing.sort()
        reduction = search.pruner["reduction"]
        cut = competing[max(len(competing) // reduction - 1, 0)]
        rung_at = search.pruner["min_epochs_fraction"] * reduction ** rung
        return (f"{where}: {objective} {value:.4g} is worse than {cut:.4g}, the cut of ASHA's rung {rung} "
                f"(at {rung_at:.0%} of the schedule, keeping the best 1/{reduction} of {len(competing)} proposals)")
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    at_step = [t.intermediate_values[trial.last_step] for t in finished if trial.last_step in t.intermediate_values]
    median = statistics.median(at_step) if at_step else float("nan")
    best = min(trial.intermediate_values.values())
    return (f"{where}: its best {objective} so far, {best:.4g}, is worse than {median:.4g}, the median of "
            f"{len(at_step)} finished proposals at the same point")


def importances(search: Search, records: list[TrialRecord]) -> tuple[dict[str, float] | None, str | None]:
    """Optuna's parameter importances (its default evaluator) over the complete proposals, once enough exist."""
    complete = [r for r in records if r.state == "complete"]
    if len(complete) < MIN_FOR_IMPORTANCE:
        return None, (f"importances need at least {MIN_FOR_IMPORTANCE} complete proposals; "
                      f"{len(complete)} so far")
    varied = [p for p in search.space if len({repr(r.params.get(p)) for r in complete}) > 1]
    if not varied:
        return None, "the complete proposals all share the same parameters"
    try:
        study = _study(search, complete, len(records))
        values = optuna.importance.get_param_importances(study)
    except (ValueError, RuntimeError, ZeroDivisionError) as exc:
        log.info("search %s: no importances (%s)", search.id, exc)
        return None, f"Optuna could not rank the parameters yet: {exc}"
    note = "with one parameter, it carries all the importance" if len(search.space) == 1 else None
    return {path: float(v) for path, v in values.items()}, note
