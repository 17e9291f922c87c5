"""Seed groups as the API reports them (/api/compare, /api/runs/{id}/seeds): each seed counted once, from a
finished run; unfinished runs and repeated seeds shown but not counted. Re-runs with the same or a new seed;
default run names that say what was trained."""

from __future__ import annotations

import math

import pytest

from backend.store import claim_run, finish_run, record_epochs
from tests.live import TINY_SPEC

T_975_1 = 12.7062  # Student's t, 97.5th percentile, 1 degree of freedom (any statistics table)


def add_run(platform, *, seed: int, errors: list[float], status: str | None = "succeeded") -> int:
    """A run of TINY_SPEC that recorded one epoch per test error, then ended with `status` (None: running)."""
    run_id = platform.client.post("/api/runs", json={"spec": {**TINY_SPEC, "seed": seed}}).json()["id"]
    token = claim_run(platform.engine, run_id, worker="w", gpu=None)
    record_epochs(platform.engine, run_id, token, [
        {"epoch": e, "train_loss": 1.0, "train_error": err, "test_loss": 1.0, "test_error": err, "lr": 0.1,
         "seconds": 1.0, "images_per_second": 10.0} for e, err in enumerate(errors, 1)])
    if status:
        assert finish_run(platform.engine, run_id, token, status)
    return run_id


def compare_groups(platform, ids: list[int]) -> list[dict]:
    r = platform.client.get("/api/compare", params={"ids": ids})
    assert r.status_code == 200, r.text
    return r.json()["groups"]


def test_unfinished_runs_are_shown_but_not_counted(platform):
    done = add_run(platform, seed=0, errors=[50.0, 30.0, 20.0])
    cancelled_7 = add_run(platform, seed=0, errors=[60.0] * 7, status="cancelled")
    cancelled_0 = add_run(platform, seed=0, errors=[], status="cancelled")
    [group] = compare_groups(platform, [done, cancelled_7, cancelled_0])
    assert group["run_ids"] == [done, cancelled_7, cancelled_0]
    assert group["counted_run_ids"] == [done] and group["seeds"] == [0]
    assert group["summary"] == "3 runs, 1 counted: 2 not finished"
    assert [(n["run_id"], n["reason"]) for n in group["not_counted"]] == [
        (cancelled_7, "not finished"), (cancelled_0, "not finished")]
    assert "cancelled at epoch 7" in group["not_counted"][0]["detail"]
    last = group["last_test_error"]
    assert (last["n"], last["mean"], last["std"], last["ci95"]) == (1, 20.0, None, None)


def test_a_running_run_is_not_counted_until_it_succeeds(platform):
    done = add_run(platform, seed=0, errors=[40.0])
    running = add_run(platform, seed=1, errors=[70.0, 65.0], status=None)
    [group] = compare_groups(platform, [done, running])
    assert group["counted_run_ids"] == [done]
    assert group["not_counted"][0]["detail"].startswith("running, epoch 2 of")


def test_a_repeated_seed_counts_once_from_the_latest_to_finish(platform):
    first = add_run(platform, seed=0, errors=[30.0])
    other = add_run(platform, seed=1, errors=[34.0])
    again = add_run(platform, seed=0, errors=[32.0])  # a re-run that kept seed 0
    [group] = compare_groups(platform, [first, other, again])
    assert sorted(group["counted_run_ids"]) == [other, again] and group["seeds"] == [0, 1]
    assert group["summary"] == "3 runs, 2 counted: 1 duplicate seed"
    [skipped] = group["not_counted"]
    assert (skipped["run_id"], skipped["reason"]) == (first, "duplicate seed")
    assert f"from run #{again}" in skipped["detail"]
    last = group["last_test_error"]
    assert last["n"] == 2 and last["mean"] == pytest.approx(33.0) and last["std"] == pytest.approx(math.sqrt(2))
    half = T_975_1 * math.sqrt(2) / math.sqrt(2)
    assert last["ci95"] == pytest.approx([33.0 - half, 33.0 + half], rel=1e-4)


def test_every_distinct_finished_seed_counts(platform):
    ids = [add_run(platform, seed=s, errors=[40.0, 30.0 + s]) for s in (0, 1, 2)]
    [group] = compare_groups(platform, ids)
    assert group["summary"] == "3 seeds" and group["not_counted"] == []
    assert group["best_test_error"]["mean"] == pytest.approx(31.0)


def test_groups_follow_spec_keys_in_order_of_their_first_run(platform):
    a = add_run(platform, seed=0, errors=[40.0])
    other_spec = {**TINY_SPEC, "optim": {**TINY_SPEC["optim"], "lr": 0.05}}
    b = platform.client.post("/api/runs", json={"spec": other_spec}).json()["id"]
    groups = compare_groups(platform, [b, a])
    assert [g["run_ids"] for g in groups] == [[b], [a]]
    assert groups[0]["summary"] == "1 run, 0 counted: 1 not finished" and groups[0]["last_test_error"] is None


def test_a_runs_seed_group_counts_as_compare_does(platform):
    done = add_run(platform, seed=0, errors=[25.0])
    dup = add_run(platform, seed=0, errors=[27.0])
    cancelled = add_run(platform, seed=1, errors=[50.0], status="cancelled")
    r = platform.client.get(f"/api/runs/{cancelled}/seeds")
    assert r.status_code == 200
    group = r.json()
    assert group == compare_groups(platform, [done, dup, cancelled])[0]
    assert group["counted_run_ids"] == [dup]
    assert platform.client.get("/api/runs/99999/seeds").status_code == 404


def test_rerun_with_a_new_seed_takes_the_lowest_unused_one(platform):
    seed0 = add_run(platform, seed=0, errors=[30.0])
    add_run(platform, seed=2, errors=[31.0], status="failed")  # a failed run still used seed 2
    r = platform.client.post(f"/api/runs/{seed0}/rerun", json={"new_seed": True})
    assert r.status_code == 201, r.text
    assert r.json()["seed"] == 1 and r.json()["status"] == "queued"
    again = platform.client.post(f"/api/runs/{seed0}/rerun", json={"new_seed": True}).json()
    assert again["seed"] == 3 and again["spec_key"] == r.json()["spec_key"]


def test_rerun_keeps_the_seed_by_default(platform):
    run = add_run(platform, seed=4, errors=[30.0])
    r = platform.client.post(f"/api/runs/{run}/rerun")
    assert r.status_code == 201 and r.json()["seed"] == 4
    assert r.json()["name"].endswith(f"re-run of #{run}")
    assert platform.client.post("/api/runs/99999/rerun").status_code == 404
    assert platform.client.post(f"/api/runs/{run}/rerun", json={"seed": 3}).status_code == 422


def test_default_names_say_dataset_model_size_method_and_seed(platform):
    pn272 = {"model": {"arch": "pyramidnet", "depth": 272, "alpha": 200}, "regularization": {"method": "shakedrop"}}
    big = platform.client.post("/api/runs", json={"spec": pn272}).json()
    demo = platform.client.post("/api/runs", json={"spec": {**pn272, "dataset": {"name": "digits"},
                                                             "model": {"arch": "pyramidnet", "depth": 20,
                                                                       "alpha": 24, "bottleneck": False}}}).json()
    assert big["name"] == "cifar10 pyramidnet-272 shakedrop · seed 0"
    assert demo["name"] == "digits pyramidnet-20 shakedrop · seed 0"
    renamed = platform.client.post(f"/api/runs/{big['id']}/rerun", json={"new_seed": True}).json()
    assert renamed["name"] == "cifar10 pyramidnet-272 shakedrop · seed 1"  # a default name follows the seed


def test_experiment_runs_are_named_by_setting_and_seed(platform):
    r = platform.client.post("/api/experiments", json={
        "name": "p sweep", "spec": TINY_SPEC, "seeds": [0, 1], "grid": {"regularization.p_last": [0.5, 0.8]}})
    assert r.status_code == 201, r.text
    names = [run["name"] for run in r.json()["runs"]]
    assert names == ["p sweep · setting 1 · seed 0", "p sweep · setting 1 · seed 1",
                     "p sweep · setting 2 · seed 0", "p sweep · setting 2 · seed 1"]
    seeds_only = platform.client.post("/api/experiments", json={"name": "s", "spec": TINY_SPEC, "seeds": [0, 1]})
    assert [run["name"] for run in seeds_only.json()["runs"]] == ["s · seed 0", "s · seed 1"]
