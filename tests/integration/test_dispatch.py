"""Dispatch and run state, driven by the database: publishing, duplicates, stale workers, broker outages."""

from __future__ import annotations

import time

import redis
from fastapi.testclient import TestClient

from backend.api import create_app
from backend.db import get_engine
from backend.dispatch import Dispatcher
from backend.store import claim_run, finish_run, heartbeat, record_epochs, release_run
from tests.integration.conftest import make_settings
from tests.live import TINY_SPEC, free_port


def queued_messages(settings) -> int:
    if settings.embedded_broker:
        return len(list((settings.broker_dir / "queue").glob("*.msg")))
    return redis.Redis.from_url(settings.resolved_broker_url).llen(settings.queue)


def epoch(n: int, test_error: float = 50.0) -> dict:
    return {"epoch": n, "train_loss": 1.0, "train_error": 60.0, "test_loss": 1.1, "test_error": test_error,
            "lr": 0.1, "seconds": 1.5, "images_per_second": 42.0}


def test_the_dispatcher_publishes_each_queued_run_once(platform):
    ids = [platform.client.post("/api/runs", json={"spec": TINY_SPEC}).json()["id"] for _ in range(3)]
    dispatcher = Dispatcher(platform.settings)
    assert dispatcher.run_once()["published"] == ids
    assert queued_messages(platform.settings) == 3
    assert dispatcher.run_once()["published"] == []  # already published: not again
    assert queued_messages(platform.settings) == 3
    assert all(platform.client.get(f"/api/runs/{i}").json()["status"] == "queued" for i in ids)


def test_a_run_is_claimed_by_exactly_one_worker(platform):
    run_id = platform.client.post("/api/runs", json={"spec": TINY_SPEC}).json()["id"]
    token = claim_run(platform.engine, run_id, worker="w1", gpu="0")
    assert token and claim_run(platform.engine, run_id, worker="w2", gpu="1") is None  # a duplicate message
    run = platform.client.get(f"/api/runs/{run_id}").json()
    assert (run["status"], run["worker"], run["gpu"], run["attempts"]) == ("running", "w1", "0", 1)
    assert heartbeat(platform.engine, run_id, token) == "ok"
    assert heartbeat(platform.engine, run_id, "someone-else") == "lost"


def test_replayed_epochs_are_stored_once(platform):
    run_id = platform.client.post("/api/runs", json={"spec": TINY_SPEC}).json()["id"]
    token = claim_run(platform.engine, run_id, worker="w", gpu=None)
    assert record_epochs(platform.engine, run_id, token, [epoch(1, 60.0), epoch(2, 40.0)])
    # a resumed engine replays what its checkpoint holds before the new epochs
    assert record_epochs(platform.engine, run_id, token, [epoch(1, 60.0), epoch(2, 40.0), epoch(3, 45.0)])
    m = platform.client.get(f"/api/runs/{run_id}/metrics").json()
    assert m["epoch"] == [1, 2, 3] and m["test_error"] == [60.0, 40.0, 45.0]
    run = platform.client.get(f"/api/runs/{run_id}").json()
    assert (run["epochs_done"], run["best_test_error"], run["last_test_error"], run["train_seconds"]) == \
        (3, 40.0, 45.0, 4.5)
    assert finish_run(platform.engine, run_id, token, "succeeded")
    assert not record_epochs(platform.engine, run_id, token, [epoch(4)])  # the claim ended with the run


def test_cancel_of_a_running_run_reaches_its_worker_through_the_heartbeat(platform):
    run_id = platform.client.post("/api/runs", json={"spec": TINY_SPEC}).json()["id"]
    token = claim_run(platform.engine, run_id, worker="w", gpu=None)
    r = platform.client.post(f"/api/runs/{run_id}/cancel").json()
    assert r["status"] == "running" and r["cancel_requested"]
    assert heartbeat(platform.engine, run_id, token) == "cancel"


def test_a_silent_worker_s_run_is_requeued_then_failed_after_max_attempts(request, tmp_path):
    settings = make_settings("sqlite", tmp_path, request, stale_after_seconds=0.2, max_attempts=2)
    with TestClient(create_app(settings, dispatch=False), base_url="http://localhost") as client:
        engine = get_engine(settings)
        run_id = client.post("/api/runs", json={"spec": TINY_SPEC}).json()["id"]
        dispatcher = Dispatcher(settings)
        dispatcher.run_once()
        token = claim_run(engine, run_id, worker="lost-worker", gpu=None)
        record_epochs(engine, run_id, token, [epoch(1)])
        time.sleep(0.3)
        outcome = dispatcher.run_once()
        assert outcome["requeued"] == [run_id] and outcome["published"] == [run_id]
        run = client.get(f"/api/runs/{run_id}").json()
        assert run["status"] == "queued" and "lost-worker stopped answering" in run["error"]
        assert run["epochs_done"] == 1  # nothing recorded is lost
        assert heartbeat(engine, run_id, token) == "lost"  # the old worker, should it wake up, stops
        claim_run(engine, run_id, worker="w2", gpu=None)
        time.sleep(0.3)
        assert dispatcher.run_once()["failed"] == [run_id]
        run = client.get(f"/api/runs/{run_id}").json()
        assert run["status"] == "failed" and "gave up after 2 attempts" in run["error"]


def test_a_stopping_worker_gives_its_run_back(platform):
    run_id = platform.client.post("/api/runs", json={"spec": TINY_SPEC}).json()["id"]
    Dispatcher(platform.settings).run_once()
    token = claim_run(platform.engine, run_id, worker="w", gpu=None)
    assert release_run(platform.engine, run_id, token, "its worker stopped")
    assert platform.client.get(f"/api/runs/{run_id}").json()["status"] == "queued"
    assert Dispatcher(platform.settings).run_once()["published"] == [run_id]  # published again


def test_with_the_broker_down_runs_are_stored_and_health_says_so(request, tmp_path):
    dead_broker = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    settings = make_settings("sqlite", tmp_path, request, broker_url=dead_broker, broker_timeout_seconds=0.5)
    with TestClient(create_app(settings, dispatch=False), base_url="http://localhost") as client:
        started = time.monotonic()
        r = client.post("/api/runs", json={"spec": TINY_SPEC})
        assert r.status_code == 201 and r.json()["status"] == "queued"
        health = client.get("/api/health")
        assert health.status_code == 200
        assert (health.json()["status"], health.json()["broker"], health.json()["database"]) == \
            ("degraded", "down", "up")
        dispatcher = Dispatcher(settings)
        assert dispatcher.run_once()["published"] == [] and dispatcher.broker_up is False
        assert client.get("/api/runs", params={"status": "queued"}).json()["total"] == 1
        assert time.monotonic() - started < 15  # a down broker costs a timeout, not a hang


def test_with_the_database_down_the_api_answers_503_plainly(request, tmp_path):
    dead_db = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/shakelab"
    settings = make_settings("sqlite", tmp_path, request, database_url=dead_db)
    app = create_app(settings, dispatch=False)
    with TestClient(app, base_url="http://localhost", raise_server_exceptions=False) as client:
        for method, path, body in (("get", "/api/runs", None), ("post", "/api/runs", {"spec": TINY_SPEC}),
                                   ("get", "/api/runs/1", None), ("post", "/api/runs/1/cancel", None)):
            r = client.request(method.upper(), path, json=body)
            assert r.status_code == 503, (path, r.text)
            assert "database is unavailable" in r.json()["detail"] and "Traceback" not in r.text
        health = client.get("/api/health")
        assert health.status_code == 503 and health.json()["database"] == "down"


def test_runs_whose_messages_the_broker_lost_are_published_again(request, tmp_path):
    settings = make_settings("postgres", tmp_path, request, stale_after_seconds=0.3)
    with TestClient(create_app(settings, dispatch=False), base_url="http://localhost") as client:
        run_id = client.post("/api/runs", json={"spec": TINY_SPEC}).json()["id"]
        dispatcher = Dispatcher(settings)
        assert dispatcher.run_once()["published"] == [run_id]
        assert dispatcher.run_once()["published"] == []  # its message waits in the queue: nothing to do
        time.sleep(0.4)
        assert dispatcher.run_once().get("republished", []) == []  # still waiting: not lost
        server = redis.Redis.from_url(settings.resolved_broker_url)
        # Redis restarted without persistence: the message and kombu's binding of the queue are gone
        server.delete(settings.queue, *server.keys(f"_kombu.binding.{settings.queue}*"))
        outcome = dispatcher.run_once()
        assert outcome["republished"] == [run_id] and outcome["published"] == [run_id]
        assert queued_messages(settings) == 1
