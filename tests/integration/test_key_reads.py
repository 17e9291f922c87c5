"""The hot reads' keys on PostgreSQL's async pool (backend/api/key_reads.py): a repeat read needs no worker
thread; a connection the server closed costs no failed read, and the pool serves the keys again afterwards."""

from __future__ import annotations

import random
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from backend.api import create_app
from backend.api import key_reads as key_reads_module
from tests.integration.conftest import make_settings
from tests.integration.test_reads import noisy_epochs, spec_of, trained


@pytest.fixture
def postgres_api(request, tmp_path):
    settings = make_settings("postgres", tmp_path, request)
    with TestClient(create_app(settings, dispatch=False), base_url="http://localhost") as client:
        yield client


def hot_reads(client, run: int) -> list[tuple[str, dict]]:
    return [(f"/api/runs/{run}", {}), (f"/api/runs/{run}/metrics", {"max_points": 8}),
            (f"/api/runs/{run}/metrics", {"after_epoch": 5}), ("/api/compare", {"ids": [run]}),
            ("/api/runs", {"order": "best"})]


def pool_ready(client) -> None:
    pool = client.app.state.key_reads.pool
    deadline = time.monotonic() + 10
    while not pool.get_stats().get("pool_available") and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_repeat_read_on_postgresql_needs_no_worker_thread(postgres_api, monkeypatch):
    client = postgres_api
    run = trained(client_platform(client), spec_of(10), noisy_epochs(10, random.Random(5)))
    pool_ready(client)
    reads = hot_reads(client, run)
    first = [client.get(path, params=params) for path, params in reads]  # built, in worker threads
    assert all(r.status_code == 200 for r in first)

    def no_thread(*_args, **_kwargs):
        raise AssertionError("a repeat read went to the thread pool")

    monkeypatch.setattr(key_reads_module, "run_in_threadpool", no_thread)  # every route's thread work
    requested = client.app.state.key_reads.pool.get_stats()["requests_num"]
    again = [client.get(path, params=params) for path, params in reads]
    assert [r.json() for r in again] == [r.json() for r in first]
    assert [r.headers["etag"] for r in again] == [r.headers["etag"] for r in first]
    assert client.app.state.key_reads.pool.get_stats()["requests_num"] == requested + len(reads)


def test_a_connection_closed_by_the_server_costs_no_failed_read(postgres_api):
    client = postgres_api
    run = trained(client_platform(client), spec_of(10), noisy_epochs(10, random.Random(6)))
    pool_ready(client)
    before = client.get(f"/api/runs/{run}").json()
    admin = create_engine(str(client.app.state.engine.url.render_as_string(hide_password=False)))
    try:
        with admin.connect() as connection:  # the async pool's connections, as a database restart would
            closed = connection.scalar(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = 'shakelab-keys'"))
        assert closed >= 1
        with admin.begin() as connection:  # a change the next read must show
            connection.execute(text("UPDATE runs SET notes = 'after the restart' WHERE id = :id"), {"id": run})
    finally:
        admin.dispose()
    after = client.get(f"/api/runs/{run}")  # the key read fails on the pool, then succeeds the threaded way
    assert after.status_code == 200 and after.json() == {**before, "notes": "after the restart"}
    pool_ready(client)
    requested = client.app.state.key_reads.pool.get_stats()["requests_num"]
    assert client.get(f"/api/runs/{run}").json()["notes"] == "after the restart"
    assert client.app.state.key_reads.pool.get_stats()["requests_num"] > requested  # the pool serves again


def client_platform(client):
    """What tests.integration.test_reads.trained needs of a platform: the client and the engine."""
    from tests.integration.conftest import Platform
    return Platform(client.app.state.settings, client, client.app.state.engine)
