"""The validation split through the platform: a bad `dataset.validation` is a 422 that stores nothing; a run
with a split gets `val_loss` and `val_error` per epoch in the database, the metrics answer and its summary;
a run without one answers null there. The epochs come from the real engine, stored by the worker's store
functions, on SQLite and PostgreSQL; one run goes through a real worker end to end."""

from __future__ import annotations

import pytest

from backend.models import Metric
from backend.store import claim_run, finish_run, record_epochs
from tests.live import TINY_SPEC, LiveSystem

SPLIT = {**TINY_SPEC, "dataset": {"name": "synthetic", "train_size": 96, "test_size": 32, "validation": 32},
         "optim": {"epochs": 3, "batch_size": 32}}
NO_SPLIT = {**SPLIT, "dataset": {"name": "synthetic", "train_size": 96, "test_size": 32}}


@pytest.mark.parametrize("dataset, optim, words", [
    ({"name": "digits", "validation": -5}, {}, "greater than or equal to 0"),
    ({"name": "digits", "validation": 3}, {}, "at least 10"),
    ({"name": "digits", "validation": 2000}, {}, "1437 training images"),
    ({"name": "synthetic", "train_size": 64, "validation": 60}, {}, "64 training images"),
    ({"name": "digits", "validation": 1400}, {"batch_size": 64}, "fewer than one batch"),
    ({"name": "cifar10", "validation": "many"}, {}, "valid integer"),
])
def test_a_bad_validation_size_gets_422_naming_it_and_stores_nothing(platform, dataset, optim, words):
    before = platform.counts()
    spec = {**TINY_SPEC, "dataset": dataset, "optim": optim}
    for path, body in (("/api/runs", {"spec": spec}), ("/api/specs/resolve", {"spec": spec})):
        r = platform.client.post(path, json=body)
        assert r.status_code == 422, r.text
        assert any(d["field"] == "spec.dataset.validation" and words in d["msg"] for d in r.json()["detail"]), r.json()
    assert platform.counts() == before


def test_an_experiment_over_validation_sizes_with_one_too_large_stores_nothing(platform):
    before = platform.counts()
    r = platform.client.post("/api/experiments", json={
        "name": "splits", "spec": {**TINY_SPEC, "dataset": {"name": "digits"}},
        "grid": {"dataset.validation": [100, 1420]}})
    assert r.status_code == 422
    [detail] = r.json()["detail"]
    assert detail["field"] == "spec.dataset.validation" and "dataset.validation=1420" in detail["msg"]
    assert platform.counts() == before


@pytest.fixture(scope="module")
def engine_epochs(tmp_path_factory):
    """The real engine's events for a short run with a split and one without."""
    from worker.engine.spec import parse_spec
    from worker.engine.training import train

    out = tmp_path_factory.mktemp("engine")
    return {name: train(parse_spec(spec), out / name) for name, spec in (("split", SPLIT), ("none", NO_SPLIT))}


def trained(platform, spec, events) -> dict:
    """A run of `spec` whose epochs are `events`, stored the way a worker stores them."""
    run = platform.client.post("/api/runs", json={"spec": spec}).json()
    token = claim_run(platform.engine, run["id"], worker="test", gpu=None)
    assert record_epochs(platform.engine, run["id"], token, events)
    assert finish_run(platform.engine, run["id"], token, "succeeded")
    return run


def test_a_run_with_a_split_answers_its_validation_figures(platform, engine_epochs):
    events = engine_epochs["split"]
    run = trained(platform, SPLIT, events)
    m = platform.client.get(f"/api/runs/{run['id']}/metrics").json()
    assert m["epoch"] == [1, 2, 3]
    # Losses are sent to 5 significant digits, errors (percent, at most 3 decimals from the engine) as they are.
    assert m["val_loss"] == [float(f"{e['val_loss']:.5g}") for e in events]
    assert m["val_error"] == [e["val_error"] for e in events]
    assert m["test_error"] == [e["test_error"] for e in events]
    got = platform.client.get(f"/api/runs/{run['id']}").json()
    assert got["last_val_error"] == events[-1]["val_error"]
    assert got["best_val_error"] == min(e["val_error"] for e in events)
    newer = platform.client.get(f"/api/runs/{run['id']}/metrics", params={"after_epoch": 2}).json()
    assert newer["val_error"] == [events[-1]["val_error"]]
    with platform.engine.connect() as c:
        stored = c.execute(Metric.__table__.select().with_only_columns(Metric.val_error)
                           .where(Metric.run_id == run["id"]).order_by(Metric.epoch)).scalars().all()
    assert stored == [e["val_error"] for e in events]


def test_a_run_without_a_split_answers_null_validation_figures(platform, engine_epochs):
    run = trained(platform, NO_SPLIT, engine_epochs["none"])
    m = platform.client.get(f"/api/runs/{run['id']}/metrics").json()
    assert m["epoch"] == [1, 2, 3] and m["val_loss"] is None and m["val_error"] is None
    got = platform.client.get(f"/api/runs/{run['id']}").json()
    assert got["last_val_error"] is None and got["best_val_error"] is None
    with platform.engine.connect() as c:
        stored = c.execute(Metric.__table__.select().with_only_columns(Metric.val_loss, Metric.val_error)
                           .where(Metric.run_id == run["id"])).all()
    assert [tuple(row) for row in stored] == [(None, None)] * 3
    compared = platform.client.get("/api/compare", params={"ids": [run["id"]]}).json()
    assert compared["metrics"][0]["val_error"] is None


def test_thinning_keeps_the_best_validation_epoch(platform):
    spec = {**SPLIT, "optim": {"epochs": 400, "batch_size": 32}}
    run = platform.client.post("/api/runs", json={"spec": spec}).json()
    token = claim_run(platform.engine, run["id"], worker="test", gpu=None)
    rows = [{"epoch": e, "train_loss": 1.0, "train_error": 30.0, "test_loss": 1.0, "test_error": 40.0,
             "val_loss": 1.0, "val_error": 5.0 if e == 301 else 50.0, "lr": 0.1, "seconds": 1.0,
             "images_per_second": 10.0} for e in range(1, 401)]
    assert record_epochs(platform.engine, run["id"], token, rows)
    thin = platform.client.get(f"/api/runs/{run['id']}/metrics", params={"max_points": 60}).json()
    assert thin["downsampled"] and len(thin["epoch"]) <= 60 and 301 in thin["epoch"]
    assert thin["val_error"][thin["epoch"].index(301)] == 5.0 and len(thin["val_loss"]) == len(thin["epoch"])


@pytest.mark.slow
def test_a_worker_trains_a_split_and_the_api_answers_its_validation_curve(tmp_path):
    with LiveSystem(tmp_path) as system:
        system.start_worker()
        run = system.post("/api/runs", json={"spec": SPLIT}).json()
        run = system.wait_for_status(run["id"], "succeeded", "failed", timeout=180)
        assert run["status"] == "succeeded", run["error"]
        m = system.get(f"/api/runs/{run['id']}/metrics").json()
        assert m["epoch"] == [1, 2, 3] and len(m["val_error"]) == 3 and all(v is not None for v in m["val_loss"])
        assert run["last_val_error"] == m["val_error"][-1]
