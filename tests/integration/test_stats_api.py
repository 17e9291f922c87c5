"""Statistics through the API on SQLite and PostgreSQL: the intervals of /api/compare's groups, a table cell's
interval and paper verdict, POST /api/stats/compare (Welch's t-test and the rank test between two groups) and
POST /api/stats/seeds-needed (the planner and its cost), and every 422. Runs finish through the real store."""

from __future__ import annotations

import statistics

import pytest
from scipy import stats as sps

from backend import store
from backend.db import session_scope
from backend.searches.advance import advance_searches
from backend.tables.profiles import table_specs
from tests.integration.test_searches import create, runs_of, search, train
from tests.integration.test_seed_groups import add_run
from tests.live import TINY_SPEC
from worker.engine.spec import parse_spec

T1 = "shake_shake_table1_cifar10"
LR_05 = {**TINY_SPEC, "optim": {**TINY_SPEC["optim"], "lr": 0.05}}


def add_spec_run(platform, spec: dict, last_error: float, seed: int) -> int:
    """A succeeded run of `spec` with two epochs, the last at `last_error`."""
    with session_scope(platform.engine) as session:
        [run] = store.create_runs(session, [parse_spec({**spec, "seed": seed})])
        run_id = run.id
    token = store.claim_run(platform.engine, run_id, worker="test-host/gpu0", gpu="0")
    store.record_epochs(platform.engine, run_id, token, [
        {"epoch": e, "train_loss": 1.0, "train_error": 20.0, "test_loss": 1.0, "test_error": err, "lr": 0.1,
         "seconds": 1.0, "images_per_second": 1000.0} for e, err in ((1, last_error - 0.5), (2, last_error))])
    assert store.finish_run(platform.engine, run_id, token, "succeeded")
    return run_id


def cell_spec(key: str) -> dict:
    [cell] = [c for c in table_specs(T1, "full") if c.key == key]
    return cell.spec.model_dump(mode="json")


def table_cell(platform, key: str) -> dict:
    table = platform.client.get(f"/api/tables/{T1}").json()
    return next(c for row in table["rows"] for c in row["cells"] if c is not None and c["key"] == key)


def post(platform, path: str, body: dict, status: int = 200) -> dict:
    r = platform.client.post(path, json=body)
    assert r.status_code == status, r.text
    return r.json()


# ------------------------------------------------------------------------------------------- compare groups

def test_compare_groups_carry_the_t_interval_of_every_metric(platform):
    errors = [30.0, 30.4, 30.2]
    ids = [add_run(platform, seed=s, errors=[40.0, 25.0 + s, e]) for s, e in enumerate(errors)]
    [group] = platform.client.get("/api/compare", params={"ids": ids}).json()["groups"]
    last = group["last_test_error"]
    mean, sem = statistics.fmean(errors), sps.sem(errors)
    assert last["n"] == 3 and last["sem"] == pytest.approx(sem)
    assert last["ci95"] == pytest.approx(sps.t.interval(0.95, 2, loc=mean, scale=sem))
    test_error = group["metrics"]["test_error"]
    assert test_error["last"] == last
    assert test_error["best"]["mean"] == pytest.approx(26.0)  # each run's lowest epoch: 25, 26, 27
    assert group["metrics"]["lr"]["best"] is None and group["metrics"]["lr"]["last"]["n"] == 3
    assert "val_error" not in group["metrics"]  # no validation split: no such metric


def test_a_group_of_one_run_says_it_has_no_interval(platform):
    run = add_run(platform, seed=0, errors=[30.0])
    [group] = platform.client.get("/api/compare", params={"ids": [run]}).json()["groups"]
    assert group["last_test_error"]["ci95"] is None and group["last_test_error"]["note"] == "one run: no interval"


# ------------------------------------------------------------------------------------------- two groups

def test_two_groups_get_welchs_test_the_rank_test_and_a_verdict(platform):
    a_errors, b_errors = [30.0, 30.2, 30.1], [31.0, 31.4, 31.2, 31.1]
    a = [add_run(platform, seed=s, errors=[e]) for s, e in enumerate(a_errors)]
    b = [add_spec_run(platform, LR_05, e, seed=s) for s, e in enumerate(b_errors)]
    r = post(platform, "/api/stats/compare", {"a": {"run_ids": a, "label": "lr 0.1"}, "b": {"run_ids": b}})
    expected = sps.ttest_ind(a_errors, b_errors, equal_var=False)
    assert r["welch"]["p_value"] == pytest.approx(expected.pvalue) and r["welch"]["df"] == pytest.approx(expected.df)
    assert r["difference"]["estimate"] == pytest.approx(statistics.fmean(a_errors) - statistics.fmean(b_errors))
    assert r["difference"]["ci95"] == pytest.approx(list(expected.confidence_interval(0.95)))
    assert r["rank_test"]["p_value"] == pytest.approx(sps.mannwhitneyu(a_errors, b_errors, method="exact").pvalue)
    assert (r["a"]["n"], r["b"]["n"], r["a_run_ids"], r["b_run_ids"]) == (3, 4, a, b)
    assert r["verdict"].startswith("lr 0.1's mean is 1.08 lower than B's") and "n = 3 and 4" in r["verdict"]


def test_a_group_by_spec_key_counts_each_seed_once(platform):
    a = [add_run(platform, seed=s, errors=[e]) for s, e in enumerate([30.0, 30.3])]
    again = add_run(platform, seed=0, errors=[50.0])  # seed 0 again, later: it replaces the first
    add_run(platform, seed=2, errors=[60.0], status="cancelled")
    b = [add_spec_run(platform, LR_05, e, seed=s) for s, e in enumerate([30.1, 30.2])]
    key = platform.client.get(f"/api/runs/{a[0]}").json()["spec_key"]
    r = post(platform, "/api/stats/compare", {"a": {"spec_key": key}, "b": {"run_ids": b}})
    assert r["a"]["n"] == 2 and r["a"]["mean"] == pytest.approx(40.15)
    assert sorted(r["a_run_ids"]) == [a[1], again]


def test_the_best_epoch_is_compared_when_asked(platform):
    a = [add_run(platform, seed=s, errors=[20.0 + s, 30.0]) for s in range(2)]
    b = [add_spec_run(platform, LR_05, e, seed=s) for s, e in enumerate([31.0, 32.0])]
    r = post(platform, "/api/stats/compare", {"a": {"run_ids": a}, "b": {"run_ids": b}, "epoch": "best"})
    assert r["a"]["mean"] == pytest.approx(20.5) and r["epoch"] == "best"


@pytest.mark.parametrize(("body", "field"), [
    ({"b": "one run"}, "b"),
    ({"a": {"run_ids": [1], "spec_key": "0" * 64}}, "a"),
    ({"alpha": 1.0}, "alpha"),
    ({"metric": "accuracy"}, "metric"),
    ({"metric": "lr", "epoch": "best"}, "epoch"),
])
def test_a_bad_two_group_request_is_422_naming_the_field(platform, body, field):
    a = [add_run(platform, seed=s, errors=[30.0 + s]) for s in range(2)]
    b = [add_spec_run(platform, LR_05, 31.0, seed=0)]
    request = {"a": {"run_ids": a}, "b": {"run_ids": b if body.get("b") == "one run" else a}}
    request.update({k: v for k, v in body.items() if k != "b"})
    before = platform.counts()
    detail = post(platform, "/api/stats/compare", request, status=422)["detail"]
    assert [d["field"] for d in detail] == [field], detail
    assert platform.counts() == before


def test_an_unknown_run_is_404(platform):
    a = [add_run(platform, seed=s, errors=[30.0 + s]) for s in range(2)]
    post(platform, "/api/stats/compare", {"a": {"run_ids": a}, "b": {"run_ids": [99999, a[0]]}}, status=404)


# ------------------------------------------------------------------------------------------- seeds needed

def test_the_planner_needs_17_seeds_for_sigma_and_delta_0_1(platform):
    r = post(platform, "/api/stats/seeds-needed", {"delta": 0.1, "sigma": 0.1})
    assert r["needed"]["per_group"] == 17 and r["sigma_source"] == "entered" and r["cost"] is None
    assert r["sentence"].startswith("to tell 0.1 apart at σ 0.1 you need 17 seeds a group")


def test_the_planner_pools_sigma_over_the_runs_and_costs_the_missing_seeds(platform):
    a_errors, b_errors = [30.0, 30.2, 30.1], [31.0, 31.4]
    ids = [add_run(platform, seed=s, errors=[e]) for s, e in enumerate(a_errors)]
    ids += [add_spec_run(platform, LR_05, e, seed=s) for s, e in enumerate(b_errors)]
    r = post(platform, "/api/stats/seeds-needed", {"delta": 0.5, "run_ids": ids})
    pooled = ((2 * statistics.variance(a_errors) + statistics.variance(b_errors)) / 3) ** 0.5
    assert r["needed"]["sigma"] == pytest.approx(pooled) and "3 degrees of freedom" in r["sigma_source"]
    n = r["needed"]["per_group"]
    assert n == post(platform, "/api/stats/seeds-needed", {"delta": 0.5, "sigma": pooled})["needed"]["per_group"]
    assert r["cost"]["runs"] == (n - 3) + (n - 2)
    assert r["cost"]["local_hours"] > 0  # these runs measured their speed


def test_the_planner_costs_a_table_cell_from_the_reproduce_estimate(platform):
    spec = cell_spec("s-s-i:2x96d")
    for seed, error in enumerate([2.80, 2.90]):
        add_spec_run(platform, spec, error, seed=seed)
    r = post(platform, "/api/stats/seeds-needed", {"delta": 0.1, "sigma": 0.09, "table_id": T1,
                                                   "cells": ["s-s-i:2x96d"]})
    assert r["needed"]["per_group"] == 14 and r["cost"]["runs"] == 12  # seeds 0 and 1 are there
    dry = post(platform, f"/api/tables/{T1}/reproduce", {"seeds": 14, "cells": ["s-s-i:2x96d"], "dry_run": True})
    assert r["cost"]["gpu_hours_h100_estimate"] == pytest.approx(dry["gpu_hours"])
    assert r["sentence"].startswith("to tell 0.1 apart at σ 0.09 you need 14 seeds a cell")
    assert "GPU-hours" in r["sentence"]
    pooled = post(platform, "/api/stats/seeds-needed", {"delta": 0.1, "table_id": T1})
    assert pooled["needed"]["sigma"] == pytest.approx(statistics.stdev([2.80, 2.90]))


@pytest.mark.parametrize(("body", "field"), [
    ({"delta": 0, "sigma": 0.1}, "delta"),
    ({"delta": -0.1, "sigma": 0.1}, "delta"),
    ({"delta": 0.1, "sigma": 0.1, "power": 1.0}, "power"),
    ({"delta": 0.1, "sigma": 0.1, "power": 0}, "power"),
    ({"delta": 0.1, "sigma": 0.1, "alpha": 0}, "alpha"),
    ({"delta": 0.1, "sigma": 0}, "sigma"),
    ({"delta": 0.1}, "sigma"),  # nothing to pool sigma from
    ({"delta": 0.1, "sigma": 0.1, "table_id": T1, "cells": ["nope:2x96d"]}, "cells"),
])
def test_a_bad_plan_is_422_naming_the_field(platform, body, field):
    before = platform.counts()
    detail = post(platform, "/api/stats/seeds-needed", body, status=422)["detail"]
    assert [d["field"] for d in detail] == [field], detail
    assert platform.counts() == before


# ------------------------------------------------------------------------------------------- table cells

def test_a_cell_with_several_seeds_has_its_interval_and_paper_verdict(platform):
    spec = cell_spec("s-s-i:2x96d")  # the paper: 2.86
    errors = [2.80, 2.90, 2.95]
    for seed, error in enumerate(errors):
        add_spec_run(platform, spec, error, seed=seed)
    r = table_cell(platform, "s-s-i:2x96d")["reproduced"]
    mean, sem = statistics.fmean(errors), sps.sem(errors)
    assert r["count"] == 3 and r["sem"] == pytest.approx(sem)
    assert r["ci95"] == pytest.approx(sps.t.interval(0.95, 2, loc=mean, scale=sem))
    verdict = r["verdict"]
    assert verdict["inside_ci95"] is True and verdict["p_value"] == pytest.approx(sps.ttest_1samp(errors, 2.86).pvalue)
    assert r["note"] == verdict["sentence"] and verdict["sentence"].startswith("consistent with the paper: 2.86")


def test_a_cell_far_from_the_paper_says_where_the_paper_lies(platform):
    spec = cell_spec("s-s-i:2x32d")  # the paper: 3.55
    for seed, error in enumerate([3.10, 3.12, 3.08, 3.11]):
        add_spec_run(platform, spec, error, seed=seed)
    r = table_cell(platform, "s-s-i:2x32d")["reproduced"]
    assert r["verdict"]["inside_ci95"] is False
    assert "3.55 lies outside our 95% interval" in r["note"] and "above our mean" in r["note"]


def test_a_cell_with_one_run_says_there_is_no_interval_and_a_repeated_seed_counts_once(platform):
    spec = cell_spec("s-s-i:2x64d")
    add_spec_run(platform, spec, 3.5, seed=0)
    latest = add_spec_run(platform, spec, 3.0, seed=0)
    r = table_cell(platform, "s-s-i:2x64d")["reproduced"]
    assert (r["count"], r["run_ids"], r["mean"]) == (1, [latest], 3.0)
    assert r["ci95"] is None and r["verdict"] is None and r["note"] == "one run: no interval"


# ------------------------------------------------------------------------------------------- searches

def test_a_search_proposal_has_its_seeds_interval(platform):
    created = create(platform, seeds=2, max_runs=2)
    advance_searches(platform.engine)
    for run, values in zip(runs_of(platform, created["id"]), ([30.0, 10.0], [30.0, 20.0]), strict=True):
        train(platform, run["id"], [*values, *values])
    advance_searches(platform.engine)
    [proposal] = search(platform, created["id"])["proposal_list"]
    stats = proposal["stats"]
    assert proposal["state"] == "complete" and (stats["n"], stats["mean"]) == (2, proposal["value"]) == (2, 15.0)
    assert stats["ci95"] == pytest.approx(sps.t.interval(0.95, 1, loc=15.0, scale=sps.sem([10.0, 20.0])))
