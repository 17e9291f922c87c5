"""The NASNet search on the platform, over the REST API on SQLite and PostgreSQL: the controller process's
step (`advance_nas_searches`) proposes nasnet runs with their cells, settles their rewards into the PPO
controller, and survives a process killed mid-step without learning from a child twice. Workers are played
by the run store's own worker functions (claim, record epochs, finish), as tasks.py calls them."""

from __future__ import annotations

import threading

import pytest

from backend import store
from backend.db import make_engine, session_scope
from backend.models import NASChild, NASSearch, Run
from worker.engine.genotype import OPERATIONS
from worker.nas import driver
from worker.nas.driver import advance_nas_searches, load_searcher
from worker.nas.space import DECISIONS

SQLITE_ONLY = pytest.mark.parametrize("platform", ["sqlite"], indirect=True)
SPEC = {"dataset": {"name": "synthetic", "train_size": 64, "test_size": 32, "validation": 16},
        "model": {"arch": "nasnet", "cells": 1, "filters": 4}, "optim": {"epochs": 2, "batch_size": 16}}
OPS = [t for t, d in enumerate(DECISIONS) if d.kind == "op"]


def create(platform, **changes) -> dict:
    r = platform.client.post("/api/nas", json={"name": "cells", "spec": SPEC, "max_children": 25,
                                               "max_concurrent": 25, **changes})
    assert r.status_code == 201, r.text
    return r.json()


def nas(platform, search_id: int) -> dict:
    return platform.client.get(f"/api/nas/{search_id}").json()


def train(platform, run_id: int, val_error: float | None, end: str = "succeeded", seconds: float = 3.0) -> None:
    token = store.claim_run(platform.engine, run_id, worker="test-worker", gpu=None)
    assert token
    if val_error is not None:
        rows = [{"epoch": e, "train_loss": 1.0, "train_error": 50.0, "test_loss": 1.0, "test_error": 50.0,
                 "val_loss": 1.0, "val_error": val_error, "lr": 0.1, "seconds": seconds / 2,
                 "images_per_second": 100.0} for e in (1, 2)]
        assert store.record_epochs(platform.engine, run_id, token, rows)
    assert store.finish_run(platform.engine, run_id, token, end, None if end == "succeeded" else "TrainingDiverged")


def planted_error(decisions: list[int]) -> float:
    """Children with more conv_3x3 score higher."""
    share = sum(decisions[t] == OPERATIONS.index("conv_3x3") for t in OPS) / len(OPS)
    return 100 * (0.9 - 0.5 * share)


def test_a_nas_search_proposes_nasnet_runs_with_their_cells_and_learns_each_reward_once(platform, monkeypatch):
    search = create(platform)
    assert search["status"] == "running" and not search["started"]
    advance_nas_searches(platform.engine)
    search = nas(platform, search["id"])
    children = search["child_list"]
    assert search["started"] and len(children) == 25 and search["children_made"] == 25
    runs = {r["id"]: r for r in platform.client.get("/api/runs", params={"limit": 100}).json()["runs"]}
    for child in children:
        spec = runs[child["run_id"]]["spec"]
        assert spec["model"]["genotype"] == child["genotype"] and spec["model"]["arch"] == "nasnet"
        assert spec["dataset"]["validation"] == 16 and child["state"] == "running" and child["log_prob"] < 0
    with session_scope(platform.engine) as session:
        decisions = {c.number: c.decisions for c in session.query(NASChild)}
    # 20 children end: 19 with a reward, one diverges.
    for child in children[:19]:
        train(platform, child["run_id"], planted_error(decisions[child["number"]]))
    train(platform, children[19]["run_id"], None, end="failed")

    # The controller process is killed in the middle of its step, after telling the rewards and updating:
    # nothing of the step is kept, the state included.
    def killed(searcher):
        assert searcher.updates == 1
        raise KeyboardInterrupt

    monkeypatch.setattr(driver, "_state_bytes", killed)
    with pytest.raises(KeyboardInterrupt):
        advance_nas_searches(platform.engine)
    after_kill = nas(platform, search["id"])
    assert after_kill["updates"] == 0 and after_kill["children"] == {"running": 25}
    monkeypatch.undo()

    # Started again: every reward told once, one PPO update of 20 children.
    advance_nas_searches(platform.engine)
    advance_nas_searches(platform.engine)
    search = nas(platform, search["id"])
    assert search["updates"] == 1 and search["children"] == {"complete": 19, "failed": 1, "running": 5}
    failed = search["child_list"][19]
    assert failed["reward"] == 0 and "TrainingDiverged" in failed["error"] and "lowest reward" in failed["error"]
    with session_scope(platform.engine) as session:
        row = session.get(NASSearch, search["id"])
        searcher = load_searcher(row)
        learned = {c.number for c in session.query(NASChild).filter(NASChild.learned)}
    assert searcher.learned == learned == set(range(20)) and searcher.updates == 1
    best = search["best"]
    assert best["reward"] == max(c["reward"] for c in search["child_list"] if c["reward"] is not None)
    assert search["child_seconds"] == pytest.approx(3.0)
    assert search["paper_search_hours"] == pytest.approx(3.0 * 20_000 / 3600)

    # max_children reached: the search stops, and finishes when its last children end.
    assert search["status"] == "stopping" and "max_children" in search["stop_reason"]
    for child in search["child_list"][20:]:
        train(platform, child["run_id"], 50.0)
    advance_nas_searches(platform.engine)
    search = nas(platform, search["id"])
    assert search["status"] == "finished" and search["children"] == {"complete": 24, "failed": 1}


@SQLITE_ONLY
def test_random_search_proposes_up_to_max_concurrent_and_stop_cancels_its_children(platform):
    search = create(platform, searcher="random", max_children=10, max_concurrent=3, seed=5)
    advance_nas_searches(platform.engine)
    advance_nas_searches(platform.engine)
    assert nas(platform, search["id"])["children_made"] == 3
    first = nas(platform, search["id"])["child_list"][0]
    train(platform, first["run_id"], 40.0)
    advance_nas_searches(platform.engine)
    search = nas(platform, search["id"])
    assert search["children_made"] == 4 and search["child_list"][0]["reward"] == pytest.approx(0.6)
    r = platform.client.post(f"/api/nas/{search['id']}/stop", json={"running": "cancel"})
    assert r.status_code == 202 and r.json()["status"] == "stopping"
    with session_scope(platform.engine) as session:
        runs = [session.get(Run, c["run_id"]) for c in search["child_list"][1:]]
        assert all(run.cancel_requested or run.status == "cancelled" for run in runs)


@SQLITE_ONLY
@pytest.mark.parametrize("spec, field, words", [
    ({**SPEC, "model": {"arch": "resnet", "depth": 8}}, "spec.model.arch", "nasnet runs"),
    ({**SPEC, "dataset": {"name": "synthetic"}}, "spec.dataset.validation", "validation split"),
    ({**SPEC, "model": {"arch": "nasnet", "genotype": {"normal": {"blocks": []}, "reduction": {"blocks": []}}}},
     "spec.model.genotype.normal.blocks", "a cell has 5 blocks, got 0"),
])
def test_a_bad_nas_search_is_a_422_naming_the_field_and_stores_nothing(platform, spec, field, words):
    r = platform.client.post("/api/nas", json={"name": "x", "spec": spec})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["field"] == field and words in detail["msg"]
    assert platform.count(NASSearch) == 0


@SQLITE_ONLY
def test_the_default_children_are_the_papers_search_setting(platform):
    search = platform.client.post("/api/nas", json={"name": "paper"}).json()
    spec = search["spec"]
    assert spec["dataset"] == {"name": "cifar10", "train_size": None, "test_size": None, "validation": 5000}
    assert (spec["model"]["cells"], spec["optim"]["epochs"], spec["schedule"]["kind"]) == (2, 20, "cosine")
    assert search["searcher"] == "controller" and search["max_children"] == 100


def test_two_controller_processes_side_by_side_never_sample_a_child_twice_nor_learn_twice(platform):
    created = create(platform, max_children=8, max_concurrent=4)
    url = platform.settings.resolved_database_url
    engines = [make_engine(url), make_engine(url)]  # two processes' own connection pools
    start = threading.Barrier(2)

    def step(engine):
        start.wait()
        for _ in range(4):
            advance_nas_searches(engine)

    def both():
        threads = [threading.Thread(target=step, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    both()
    search = nas(platform, created["id"])
    assert [c["number"] for c in search["child_list"]] == [0, 1, 2, 3] and platform.count(Run) == 4
    for child in search["child_list"]:
        train(platform, child["run_id"], 30.0)
    both()
    for e in engines:
        e.dispose()
    search = nas(platform, created["id"])
    assert [c["number"] for c in search["child_list"]] == list(range(8)) and platform.count(Run) == 8
    with session_scope(platform.engine) as session:
        searcher = load_searcher(session.get(NASSearch, created["id"]))
    assert sorted(r.child.number for r in searcher.memory.rewarded) == [0, 1, 2, 3]
    assert sorted(searcher.memory.sampled) == [4, 5, 6, 7]


def test_a_child_run_is_deleted_only_once_its_controller_has_learned_from_it(platform):
    search = create(platform, searcher="random", max_children=2, max_concurrent=1, seed=3)
    advance_nas_searches(platform.engine)
    [child] = nas(platform, search["id"])["child_list"]
    train(platform, child["run_id"], 40.0)  # finished, its reward not yet taken
    r = platform.client.delete(f"/api/runs/{child['run_id']}")
    assert r.status_code == 409 and "has not learned from it" in r.json()["detail"]
    advance_nas_searches(platform.engine)  # the controller process takes the reward
    assert nas(platform, search["id"])["child_list"][0]["reward"] == pytest.approx(0.6)
    assert platform.client.delete(f"/api/runs/{child['run_id']}").status_code == 204
