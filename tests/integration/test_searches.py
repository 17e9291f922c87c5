"""Searches over the REST API with real Optuna on SQLite and PostgreSQL: what a search proposes, settles,
prunes and refuses, decided by the dispatcher's step (`advance_searches`). Workers are played by the run
store's own worker functions (claim, record epochs, finish), as tasks.py calls them; nothing is mocked.
The live searches, with Celery workers training on digits, are in test_searches_live.py."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from backend import store
from backend.db import make_engine
from backend.models import Metric, Run, Search, SearchProposal
from backend.searches.advance import advance_searches

# The database's own behaviour (locks, conditional updates, JSON) is exercised on both in the tests without
# this mark and in the live tests; the rest of the logic runs once, on SQLite, to keep the suite short.
SQLITE_ONLY = pytest.mark.parametrize("platform", ["sqlite"], indirect=True)

SPEC = {"dataset": {"name": "digits", "validation": 300},
        "model": {"arch": "shake_resnet", "depth": 8, "width": 4}, "regularization": {"method": "shake_shake"},
        "optim": {"epochs": 4, "batch_size": 64}}


def body(**changes) -> dict:
    return {"name": "lr search", "spec": SPEC, "space": {"optim.lr": {"float": [0.01, 1.0], "log": True}},
            "sampler": "random", "sampler_seed": 7, "max_runs": 4, "max_concurrent": 2, **changes}


def create(platform, **changes) -> dict:
    r = platform.client.post("/api/searches", json=body(**changes))
    assert r.status_code == 201, r.text
    return r.json()


def search(platform, search_id: int) -> dict:
    return platform.client.get(f"/api/searches/{search_id}").json()


def runs_of(platform, search_id: int) -> list[dict]:
    return sorted(platform.client.get("/api/runs", params={"search": search_id}).json()["runs"], key=lambda r: r["id"])


def record(platform, run_id: int, token: str, values: list[float], *, first_epoch: int = 1,
           seconds: float = 1.0) -> None:
    """Store one epoch per objective value, as the run's worker does."""
    rows = [{"epoch": first_epoch + i, "train_loss": 1.0, "train_error": v, "test_loss": 1.0, "test_error": v,
             "val_loss": 1.0, "val_error": v, "lr": 0.1, "seconds": seconds, "images_per_second": 100.0}
            for i, v in enumerate(values)]
    assert store.record_epochs(platform.engine, run_id, token, rows)


def train(platform, run_id: int, values: list[float], *, seconds: float = 1.0, end: str | None = "succeeded") -> str:
    """Claim the run and record its epochs, as a worker does; end it unless end=None. Returns the claim."""
    token = store.claim_run(platform.engine, run_id, worker="test-worker", gpu=None)
    assert token, f"run {run_id} was not queued"
    record(platform, run_id, token, values, seconds=seconds)
    if end:
        assert store.finish_run(platform.engine, run_id, token, end, None if end == "succeeded" else "boom")
    return token


def stored(platform) -> tuple[int, int, int]:
    return platform.count(Search), platform.count(SearchProposal), platform.count(Run)


# ------------------------------------------------------------------------------------------ bad input

BAD = {
    "an unknown path": ({"space": {"optim.lrr": {"float": [0.1, 1]}}}, "space.optim.lrr"),
    "a method's field the spec's method lacks": ({"space": {"regularization.p_last": {"float": [0.3, 0.8]}}},
                                                 "space.regularization.p_last"),
    "a float range on a non-numeric field": ({"space": {"regularization.level": {"float": [0, 1]}}},
                                             "space.regularization.level"),
    "a float range on an integer field": ({"space": {"model.depth": {"float": [8, 26]}}}, "space.model.depth"),
    "low above high": ({"space": {"optim.lr": {"float": [1.0, 0.1]}}}, "space.optim.lr"),
    "an end the field refuses": ({"space": {"optim.lr": {"float": [0.1, 50]}}}, "space.optim.lr"),
    "an empty choice": ({"space": {"regularization.level": {"choice": []}}}, "space.regularization.level.choice"),
    "a space that names the seed": ({"space": {"seed": {"int": [0, 5]}}}, "space.seed"),
    "a space that names a dataset field": ({"space": {"dataset.validation": {"int": [100, 300]}}},
                                           "space.dataset.validation"),
    "an empty space": ({"space": {}}, "space"),
    "max_concurrent below 1": ({"max_concurrent": 0}, "max_concurrent"),
    "fewer concurrent runs than seeds": ({"seeds": 3, "max_concurrent": 2}, "max_concurrent"),
    "an objective not recorded (no validation split)": (
        {"spec": {**SPEC, "dataset": {"name": "digits"}}}, "objective"),
    "an objective on the test set": ({"objective": "test_error"}, "objective"),
    "a bad base spec": ({"spec": {**SPEC, "model": {"arch": "shake_resnet", "depth": 10, "width": 4}}},
                        "spec.model.depth"),
    "a grid over a float range without step": ({"sampler": "grid"}, "space.optim.lr"),
    "an unknown sampler": ({"sampler": "cmaes"}, "sampler"),
    "an unknown pruner": ({"pruner": {"kind": "hyperband"}}, "pruner.kind"),
}


def test_every_bad_input_is_a_422_naming_the_field_and_stores_nothing(platform):
    for case, (changes, field) in BAD.items():
        for path in ("/api/searches", "/api/searches/dry-run"):
            r = platform.client.post(path, json=body(**changes))
            assert r.status_code == 422, (case, r.text)
            fields = [d["field"] for d in r.json()["detail"]]
            assert field in fields, (case, fields)
    assert stored(platform) == (0, 0, 0)


# ------------------------------------------------------------------------------------------ proposing

def test_a_search_proposes_ordinary_runs_up_to_max_concurrent_and_learns_each_result(platform):
    created = create(platform, sampler="tpe")  # two random proposals, then TPE with the constant liar
    assert created["status"] == "running" and created["proposal_list"] == []
    advance_searches(platform.engine)
    first = runs_of(platform, created["id"])
    assert len(first) == 2 and {r["status"] for r in first} == {"queued"}  # max_concurrent 2
    detail = search(platform, created["id"])
    for proposal, run in zip(detail["proposal_list"], first, strict=True):
        assert run["spec"]["optim"]["lr"] == proposal["params"]["optim.lr"]  # the proposed value, in the spec
        assert 0.01 <= run["spec"]["optim"]["lr"] <= 1.0 and run["search_id"] == created["id"]
    advance_searches(platform.engine)
    assert len(runs_of(platform, created["id"])) == 2  # both slots still taken

    train(platform, first[0]["id"], [60.0, 40.0, 30.0, 20.0])
    advance_searches(platform.engine)
    detail = search(platform, created["id"])
    assert detail["proposal_list"][0]["state"] == "complete"
    assert detail["proposal_list"][0]["value"] == 20.0  # the last epoch's, not the best epoch's
    assert detail["best"]["number"] == 0 and len(detail["proposal_list"]) == 3

    train(platform, first[1]["id"], [50.0, 30.0, 20.0, 25.0])
    for run in runs_of(platform, created["id"])[2:]:
        train(platform, run["id"], [40.0, 20.0, 10.0, 12.0])
    advance_searches(platform.engine)
    for run in runs_of(platform, created["id"])[3:]:
        train(platform, run["id"], [40.0, 20.0, 10.0, 11.0])
    advance_searches(platform.engine)
    detail = search(platform, created["id"])
    assert [p["number"] for p in detail["proposal_list"]] == [0, 1, 2, 3]  # max_runs 4
    assert detail["status"] == "finished" and detail["stop_reason"].startswith("max_runs reached")
    assert detail["best"]["number"] == 3 and detail["best"]["value"] == 11.0
    assert detail["runs"] == {"succeeded": 4, "total": 4}
    assert detail["gpu_hours_spent"] == pytest.approx(16 / 3600)
    assert detail["importances"] is not None and set(detail["importances"]) == {"optim.lr"}
    listed = platform.client.get("/api/searches").json()
    assert [s["id"] for s in listed] == [created["id"]] and listed[0]["best"]["value"] == 11.0


@SQLITE_ONLY
def test_with_several_seeds_a_proposal_is_a_run_per_seed_and_its_value_their_mean(platform):
    created = create(platform, seeds=2, max_runs=2)
    advance_searches(platform.engine)
    runs = runs_of(platform, created["id"])
    assert [r["seed"] for r in runs] == [0, 1]
    assert runs[0]["spec"]["optim"]["lr"] == runs[1]["spec"]["optim"]["lr"]
    train(platform, runs[0]["id"], [30.0, 20.0, 15.0, 10.0])
    advance_searches(platform.engine)
    assert search(platform, created["id"])["proposal_list"][0]["state"] == "running"  # one seed still to go
    train(platform, runs[1]["id"], [30.0, 20.0, 25.0, 20.0])
    advance_searches(platform.engine)
    proposal = search(platform, created["id"])["proposal_list"][0]
    assert proposal["state"] == "complete" and proposal["value"] == 15.0


@SQLITE_ONLY
def test_a_proposal_whose_spec_does_not_validate_is_recorded_failed_and_never_dispatched(platform):
    # Shake-Shake depths are 6n+2: of 8..14 only 8 and 14 build; the grid proposes all seven.
    created = create(platform, space={"model.depth": {"int": [8, 14]}}, sampler="grid", max_runs=10,
                     max_concurrent=10)
    advance_searches(platform.engine)
    detail = search(platform, created["id"])
    by_depth = {p["params"]["model.depth"]: p for p in detail["proposal_list"]}
    assert sorted(by_depth) == list(range(8, 15))
    for depth, proposal in by_depth.items():
        if depth in (8, 14):
            assert proposal["state"] == "running" and len(proposal["runs"]) == 1
        else:
            assert proposal["state"] == "failed" and proposal["runs"] == []
            assert "6n+2" in proposal["error"]
    assert sorted(r["spec"]["model"]["depth"] for r in runs_of(platform, created["id"])) == [8, 14]
    assert detail["stop_reason"] == "the grid is exhausted (7 points)"


@SQLITE_ONLY
def test_a_failed_run_fails_its_proposal_with_the_runs_reason(platform):
    created = create(platform, max_runs=1)
    advance_searches(platform.engine)
    [run] = runs_of(platform, created["id"])
    train(platform, run["id"], [50.0], end="failed")
    advance_searches(platform.engine)
    proposal = search(platform, created["id"])["proposal_list"][0]
    assert proposal["state"] == "failed" and proposal["error"] == f"run #{run['id']} (seed 0) failed: boom"
    assert search(platform, created["id"])["status"] == "finished"


# ------------------------------------------------------------------------------------------ pruning

@SQLITE_ONLY
def test_asha_prunes_the_worse_proposal_through_the_cancel_path_and_its_run_ends_pruned(platform):
    created = create(platform, pruner={"kind": "asha", "min_epochs_fraction": 0.5, "reduction": 2})
    advance_searches(platform.engine)
    good, bad = runs_of(platform, created["id"])
    train(platform, good["id"], [30.0, 20.0], end=None)
    advance_searches(platform.engine)  # first at the rung: promoted
    token = train(platform, bad["id"], [70.0, 60.0], end=None)
    advance_searches(platform.engine)
    detail = search(platform, created["id"])
    pruned = detail["proposal_list"][1]
    assert detail["proposal_list"][0]["state"] == "running"
    assert pruned["state"] == "pruned" and pruned["value"] == 60.0
    assert pruned["error"] == ("pruned at epoch 2 of 4 (50% of the schedule): val_error 60 is worse than 20, the "
                               "cut of ASHA's rung 0 (at 50% of the schedule, keeping the best 1/2 of 2 proposals)")
    # The worker learns of it at its next heartbeat, as of any cancel, and ends the run as asked.
    assert store.heartbeat(platform.engine, bad["id"], token) == "cancel"
    assert store.finish_cancelled(platform.engine, bad["id"], token)
    run = platform.client.get(f"/api/runs/{bad['id']}").json()
    assert run["status"] == "pruned" and run["error"] == pruned["error"]
    assert run["epochs_done"] == 2 < run["epochs"]  # its epochs stay recorded
    assert platform.client.get(f"/api/runs/{bad['id']}/metrics").json()["epoch"] == [1, 2]
    assert platform.client.get("/api/runs", params={"status": "pruned"}).json()["total"] == 1
    advance_searches(platform.engine)
    assert search(platform, created["id"])["proposal_list"][1]["state"] == "pruned"  # settled as it was


@SQLITE_ONLY
def test_the_median_pruner_waits_for_its_warm_up_and_compares_with_finished_proposals(platform):
    created = create(platform, max_runs=3, max_concurrent=1,
                     pruner={"kind": "median", "min_epochs_fraction": 0.5, "min_finished": 1})
    advance_searches(platform.engine)
    [first] = runs_of(platform, created["id"])
    train(platform, first["id"], [40.0, 30.0, 20.0, 10.0])
    advance_searches(platform.engine)
    second = runs_of(platform, created["id"])[1]
    token = train(platform, second["id"], [45.0], end=None)
    advance_searches(platform.engine)  # epoch 1 of 4 is before the warm-up's end (half the schedule)
    assert search(platform, created["id"])["proposal_list"][1]["state"] == "running"
    record(platform, second["id"], token, [50.0], first_epoch=2)
    advance_searches(platform.engine)
    proposal = search(platform, created["id"])["proposal_list"][1]
    assert proposal["state"] == "pruned"
    assert proposal["error"] == ("pruned at epoch 2 of 4 (50% of the schedule): its best val_error so far, 45, is "
                                 "worse than 30, the median of 1 finished proposals at the same point")


# ------------------------------------------------------------------------------------------ limits

@SQLITE_ONLY
def test_the_budget_holds_proposals_back_and_then_ends_the_search(platform):
    # Each epoch records 10 s, so a run of 4 epochs costs 40 s; the budget is 100 s. The first run goes out
    # on the FLOPs estimate; once it is measured and done, a second fits (40 spent + 40), a third would
    # pass the budget (80 + 40).
    created = create(platform, max_runs=10, max_concurrent=1, budget_gpu_hours=100 / 3600)
    advance_searches(platform.engine)
    [first] = runs_of(platform, created["id"])
    token = train(platform, first["id"], [50.0], seconds=10.0, end=None)
    advance_searches(platform.engine)
    assert len(runs_of(platform, created["id"])) == 1  # max_concurrent 1
    record(platform, first["id"], token, [40.0, 40.0, 40.0], first_epoch=2, seconds=10.0)
    store.finish_run(platform.engine, first["id"], token, "succeeded")
    advance_searches(platform.engine)
    runs = runs_of(platform, created["id"])
    assert len(runs) == 2
    train(platform, runs[1]["id"], [30.0, 30.0, 30.0, 30.0], seconds=10.0)
    advance_searches(platform.engine)
    detail = search(platform, created["id"])
    assert len(runs_of(platform, created["id"])) == 2
    assert detail["status"] == "finished" and detail["stop_reason"].startswith("budget: 0.0222 of 0.0278")
    assert detail["gpu_hours_spent"] * 3600 == pytest.approx(80) and detail["gpu_hours_spent"] <= 100 / 3600


@SQLITE_ONLY
def test_stop_cancels_the_runs_in_flight_when_asked_and_the_search_finishes(platform):
    created = create(platform)
    advance_searches(platform.engine)
    first, second = runs_of(platform, created["id"])
    token = train(platform, first["id"], [50.0], end=None)
    r = platform.client.post(f"/api/searches/{created['id']}/stop", json={"running": "cancel"})
    assert r.status_code == 202 and r.json()["status"] == "stopping"
    assert platform.client.get(f"/api/runs/{second['id']}").json()["status"] == "cancelled"  # it was queued
    assert store.heartbeat(platform.engine, first["id"], token) == "cancel"
    store.finish_cancelled(platform.engine, first["id"], token)
    advance_searches(platform.engine)
    detail = search(platform, created["id"])
    assert detail["status"] == "finished" and detail["stop_reason"] == "stopped by request"
    assert [p["state"] for p in detail["proposal_list"]] == ["cancelled", "cancelled"]
    assert platform.client.post("/api/searches/999/stop").status_code == 404


@SQLITE_ONLY
def test_a_stopped_search_lets_its_runs_finish_by_default(platform):
    created = create(platform)
    advance_searches(platform.engine)
    assert platform.client.post(f"/api/searches/{created['id']}/stop").status_code == 202
    for run in runs_of(platform, created["id"]):
        train(platform, run["id"], [40.0, 30.0, 20.0, 10.0])
    advance_searches(platform.engine)
    detail = search(platform, created["id"])
    assert detail["status"] == "finished" and len(detail["proposal_list"]) == 2
    assert [p["state"] for p in detail["proposal_list"]] == ["complete", "complete"]


def test_two_dispatchers_side_by_side_never_propose_twice_nor_pass_max_concurrent(platform):
    created = create(platform, max_runs=6, max_concurrent=3)
    url = platform.settings.resolved_database_url
    engines = [make_engine(url), make_engine(url)]  # two API processes' own connection pools
    start = threading.Barrier(2)

    def dispatch(engine):
        start.wait()
        for _ in range(5):
            advance_searches(engine)

    threads = [threading.Thread(target=dispatch, args=(e,)) for e in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for e in engines:
        e.dispose()
    with platform.engine.connect() as connection:
        numbers = connection.scalars(select(SearchProposal.number)
                                     .where(SearchProposal.search_id == created["id"])).all()
        runs = connection.scalars(select(Run.proposal_id).where(Run.search_id == created["id"])).all()
    assert sorted(numbers) == [0, 1, 2] and len(runs) == len(set(runs)) == 3
    assert search(platform, created["id"])["runs"] == {"queued": 3, "total": 3}


@SQLITE_ONLY
def test_the_dry_run_shows_the_largest_cost_it_can_reach_and_stores_nothing(platform):
    r = platform.client.post("/api/searches/dry-run", json=body(
        space={"optim.lr": {"float": [0.01, 1.0], "log": True}, "optim.epochs": {"int": [2, 8]}},
        max_runs=10, budget_gpu_hours=None))
    assert r.status_code == 200, r.text
    cost = r.json()
    assert cost["max_proposals"] == 10 and cost["max_runs"] == 10
    # The costliest run is the 8-epoch one: 8 epochs x 1137 images at the FLOPs estimate's rate.
    short = platform.client.post("/api/searches/dry-run", json=body(
        space={"optim.lr": {"float": [0.01, 1.0], "log": True}}, spec={**SPEC, "optim": {"epochs": 8,
                                                                                          "batch_size": 64}}))
    assert cost["gpu_hours_per_run_max"] == pytest.approx(short.json()["gpu_hours_per_run_max"])
    assert cost["largest_gpu_hours"] == pytest.approx(10 * cost["gpu_hours_per_run_max"])
    capped = platform.client.post("/api/searches/dry-run", json=body(max_runs=10, budget_gpu_hours=1e-6)).json()
    assert capped["largest_gpu_hours"] == 1e-6 and capped["gpu_hours_max"] > 1e-6
    assert "estimate" in cost["basis"]
    assert stored(platform) == (0, 0, 0)


@SQLITE_ONLY
def test_runs_of_other_searches_and_plain_runs_are_not_listed_under_a_search(platform):
    one, two = create(platform), create(platform)
    platform.client.post("/api/runs", json={"spec": SPEC})
    advance_searches(platform.engine)
    assert {r["search_id"] for r in runs_of(platform, one["id"])} == {one["id"]}
    assert len(runs_of(platform, two["id"])) == 2
    assert platform.client.get("/api/searches/12345").status_code == 404
    with platform.engine.connect() as connection:
        assert connection.scalar(select(Metric.run_id).limit(1)) is None
