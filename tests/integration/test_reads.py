"""The fast read path (issue 16) on SQLite and PostgreSQL: the runs list, one run, a run's metrics and
/api/compare answer what the previous way answered (bench/previous_reads.py), up to the documented rounding;
the packed series follows the recorded epochs; migration 0009 fills it from the rows already stored."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from sqlalchemy import create_engine, insert, select, text, update
from sqlalchemy.orm import Session

from backend import series
from backend.db import migrate, session_scope
from backend.models import Base, Metric, MetricSeries, Run
from backend.schemas import RunOut
from backend.store import claim_run, create_runs, finish_run, record_epochs, request_cancel, set_archived
from bench.previous_reads import previous_compare, previous_metrics
from tests.live import TINY_SPEC
from tests.migration_files import load_migration
from worker.engine.spec import parse_spec

SPLIT = {**TINY_SPEC, "dataset": {**TINY_SPEC["dataset"], "validation": 16}}


def spec_of(epochs: int, base: dict = TINY_SPEC, seed: int = 0) -> dict:
    return {**base, "seed": seed, "optim": {**base["optim"], "epochs": epochs}}


def noisy_epochs(epochs: int, rng: random.Random, validation: bool = False) -> list[dict]:
    rows = []
    for e in range(1, epochs + 1):
        test = 2.5 + 60 * math.exp(-6 * e / epochs) + abs(rng.gauss(0, 0.6)) + (8.0 if rng.random() < 0.01 else 0)
        row = {"epoch": e, "train_loss": rng.random() / 3, "train_error": rng.uniform(0, 50), "test_loss": test / 30,
               "test_error": test, "lr": 0.05 * (1 + math.cos(math.pi * e / epochs)), "seconds": 30 + rng.random(),
               "images_per_second": 1650 + rng.gauss(0, 20)}
        if validation:
            row |= {"val_loss": rng.random(), "val_error": rng.uniform(1, 40)}
        rows.append(row)
    return rows


def trained(platform, spec: dict, rows: list[dict], *, finish: bool = True, batch: int = 100) -> int:
    run_id = platform.client.post("/api/runs", json={"spec": spec, "tags": ["b", "a"]}).json()["id"]
    token = claim_run(platform.engine, run_id, worker="w", gpu="H100")
    for start in range(0, len(rows), batch):
        assert record_epochs(platform.engine, run_id, token, rows[start:start + batch])
    if finish:
        assert finish_run(platform.engine, run_id, token, "succeeded")
    return run_id


def test_runs_read_as_rows_answer_what_runout_answers(platform):
    rng = random.Random(0)
    done = trained(platform, spec_of(30, TINY_SPEC), noisy_epochs(30, rng))
    running = trained(platform, spec_of(30, TINY_SPEC, seed=1), noisy_epochs(12, rng),
                      finish=False)  # an eta
    queued = platform.client.post("/api/runs", json={"spec": {**TINY_SPEC, "seed": 2}}).json()["id"]
    archived = platform.client.post("/api/runs", json={"spec": {**TINY_SPEC, "seed": 3}}).json()["id"]
    with session_scope(platform.engine) as session:
        request_cancel(session, archived)
        set_archived(session, archived, True)
    with Session(platform.engine) as session:
        expected = {r.id: json.loads(RunOut.of(r).model_dump_json()) for r in session.scalars(select(Run))}
    assert expected[running]["eta_seconds"] and expected[done]["tags"] == ["a", "b"]
    for params in ({}, {"archived": "any"}, {"order": "best", "status": ["succeeded", "running"]},
                   {"archived": "true"}, {"limit": 2, "offset": 1, "order": "-created"}, {"tag": "a"}):
        page = platform.client.get("/api/runs", params=params).json()
        assert page["runs"] and all(run == expected[run["id"]] for run in page["runs"]), params
    page = platform.client.get("/api/runs", params={"archived": "any"}).json()
    assert page["total"] == 4 and [r["id"] for r in page["runs"]] == [archived, queued, running, done]
    for run_id in (done, running, queued, archived):
        assert platform.client.get(f"/api/runs/{run_id}").json() == expected[run_id]
    assert platform.client.get("/api/runs/9999").status_code == 404


def rounded_like_now(name: str, values: list) -> list:
    """The previous answer's values with the rounding the API applies now."""
    if values is None or name in ("epoch",):
        return values
    array = np.array([math.nan if v is None else v for v in values], dtype=float)
    return [None if math.isnan(v) else v for v in series.rounded(name, array).tolist()]


@pytest.mark.parametrize("max_points", [None, 40, 1000])
def test_compare_answers_the_previous_content_up_to_rounding(platform, max_points):
    rng = random.Random(1)
    ids = [trained(platform, spec_of(300, SPLIT, seed=seed), noisy_epochs(300, rng, True))
           for seed in range(3)]
    ids.append(trained(platform, spec_of(300, TINY_SPEC), noisy_epochs(200, rng), finish=False))
    params = {"ids": ids} | ({} if max_points is None else {"max_points": max_points})
    new = platform.client.get("/api/compare", params=params).json()
    with Session(platform.engine) as session:
        old = json.loads(previous_compare(session, ids, 1000 if max_points is None else max_points))
    assert new["runs"] == old["runs"] and new["groups"] == old["groups"]  # statistics from the unrounded epochs
    assert new["groups"][0]["metrics"]["val_loss"]["best"]["n"] == 3
    for got, was in zip(new["metrics"], old["metrics"], strict=True):
        assert got.keys() == was.keys()
        for name, value in was.items():
            assert got[name] == (rounded_like_now(name, value) if isinstance(value, list) else value), name
    thinned = [m for m in new["metrics"] if m["downsampled"]]
    assert len(thinned) == (4 if max_points == 40 else 0)


def test_thinning_keeps_each_runs_extrema_and_last_epoch(platform):
    rng = random.Random(2)
    rows = noisy_epochs(1800, rng, True)
    rows[1500]["test_error"] = 0.5  # the best epoch late in the run
    rows[900]["train_error"] = 99.0
    run_id = trained(platform, spec_of(1800, SPLIT), rows, batch=600)
    for answer in (platform.client.get("/api/compare", params={"ids": [run_id], "max_points": 60}).json()
                   ["metrics"][0],
                   platform.client.get(f"/api/runs/{run_id}/metrics", params={"max_points": 60}).json()):
        assert answer["downsampled"] and answer["total_epochs"] == 1800 and len(answer["epoch"]) <= 60
        kept = set(answer["epoch"])
        assert {1, 1800, 1501, 901} <= kept
        for name in ("test_error", "train_error", "val_error"):
            values = [r[name] for r in rows]
            best, worst = values.index(min(values)) + 1, values.index(max(values)) + 1
            assert {best, worst} <= kept, name
            assert answer[name][answer["epoch"].index(best)] == round(min(values), 4)


def test_metrics_and_the_live_poll_answer_the_previous_content_up_to_rounding(platform):
    rows = noisy_epochs(500, random.Random(3))
    run_id = trained(platform, spec_of(600, TINY_SPEC), rows, finish=False)
    for params in ({}, {"max_points": 100}, {"after_epoch": 495}, {"after_epoch": 500}, {"after_epoch": 100,
                                                                                        "max_points": 50}):
        new = platform.client.get(f"/api/runs/{run_id}/metrics", params=params).json()
        with Session(platform.engine) as session:
            old = json.loads(previous_metrics(session, run_id, params.get("after_epoch", 0),
                                              params.get("max_points")))
        for name, value in old.items():
            assert new[name] == (rounded_like_now(name, value) if isinstance(value, list) else value), (params, name)
    live = platform.client.get(f"/api/runs/{run_id}/metrics", params={"after_epoch": 498}).json()
    assert live["epoch"] == [499, 500] and live["wall_seconds"][-1] == round(sum(r["seconds"] for r in rows), 3)
    assert platform.client.get("/api/runs/9999/metrics").status_code == 404


def test_the_series_follows_the_recorded_epochs(platform):
    rows = noisy_epochs(20, random.Random(4))
    run_id = platform.client.post("/api/runs", json={"spec": TINY_SPEC}).json()["id"]
    token = claim_run(platform.engine, run_id, worker="w", gpu=None)
    assert record_epochs(platform.engine, run_id, token, rows[:10])
    assert record_epochs(platform.engine, run_id, token, rows[8:])  # two replayed epochs: ignored
    with Session(platform.engine) as session:
        stored = session.get(MetricSeries, run_id)
        assert (stored.rows, stored.last_epoch) == (20, 20)
        assert series.unpack(stored.data, stored.rows)["test_error"].tolist() == [r["test_error"] for r in rows]
    # Rows written some other way than record_epochs: the series no longer covers the run, so the rows are read.
    with platform.engine.begin() as c:
        c.execute(insert(Metric).values(run_id=run_id, epoch=21, **{k: 1.5 for k in rows[0] if k != "epoch"}))
        c.execute(update(Run).where(Run.id == run_id).values(epochs_done=21))
    answer = platform.client.get(f"/api/runs/{run_id}/metrics").json()
    assert answer["epoch"] == list(range(1, 22)) and answer["test_error"][-1] == 1.5
    assert finish_run(platform.engine, run_id, token, "succeeded")
    assert platform.client.delete(f"/api/runs/{run_id}").status_code == 204
    assert platform.count(MetricSeries) == 0  # deleted with its run


def test_the_series_is_stored_uncompressed_on_postgresql(postgres_url):
    """Migration 0011: reading 200 pglz-compressed series spent 40 of its 90 ms decompressing them. (SQLite
    never compresses.)"""
    migrate(postgres_url)
    engine = create_engine(postgres_url)
    try:
        with Session(engine) as session:
            [run] = create_runs(session, [parse_spec(spec_of(300))])
            run_id = run.id
            session.commit()
        token = claim_run(engine, run_id, worker="w", gpu=None)
        assert record_epochs(engine, run_id, token, noisy_epochs(300, random.Random(6)))  # 24 kB: out of line
        with engine.connect() as c:
            storage = c.scalar(text("SELECT attstorage FROM pg_attribute WHERE attrelid = 'metric_series'::regclass"
                                    " AND attname = 'data'"))
            compression, size = c.execute(text("SELECT pg_column_compression(data), pg_column_size(data) "
                                               "FROM metric_series WHERE run_id = :id"), {"id": run_id}).one()
    finally:
        engine.dispose()
    assert storage == "e" and compression is None and size == 300 * len(series.SERIES_COLUMNS) * 8


@pytest.fixture(params=["sqlite", "postgres"])
def bare_engine(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def test_migration_0009_fills_a_series_for_every_run_with_metrics(bare_engine):
    migration = load_migration("0009_metric_series.py")
    assert migration.COLUMNS == series.SERIES_COLUMNS
    with Session(bare_engine) as session:
        with_rows, without = create_runs(session, [parse_spec(TINY_SPEC), parse_spec({**TINY_SPEC, "seed": 1})])
        rows = noisy_epochs(30, random.Random(5))
        session.execute(insert(Metric), [{"run_id": with_rows.id, **r, "val_loss": None, "val_error": None}
                                         for r in rows])
        with_rows_id, without_id = with_rows.id, without.id
        session.commit()
    with bare_engine.begin() as connection:
        assert migration.fill(connection) == 1
    with Session(bare_engine) as session:
        stored = session.get(MetricSeries, with_rows_id)
        assert session.get(MetricSeries, without_id) is None
        assert (stored.rows, stored.last_epoch) == (30, 30)
        columns = series.unpack(stored.data, stored.rows)
        assert columns["train_loss"].tolist() == [r["train_loss"] for r in rows]
        assert np.isnan(columns["val_error"]).all()
