"""How a started API process runs its requests: a bounded thread pool, and the start-up heap frozen out of
the garbage collector's full passes (backend/api/__init__.py; measured in bench/api_load.py)."""

from __future__ import annotations

import gc

import anyio.to_thread
from fastapi.testclient import TestClient

from backend.api import create_app
from backend.settings import Settings


def test_requests_run_in_as_many_threads_as_the_setting_says(tmp_path):
    with TestClient(create_app(Settings(home=tmp_path, api_threads=3), dispatch=False),
                    base_url="http://localhost") as client:
        assert client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens) == 3
        assert client.get("/api/runs").status_code == 200


def test_the_start_up_heap_is_frozen_while_the_app_serves_and_released_after(tmp_path):
    assert gc.get_freeze_count() == 0
    with TestClient(create_app(Settings(home=tmp_path), dispatch=False), base_url="http://localhost") as client:
        assert gc.get_freeze_count() > 10_000  # modules, the app, SQLAlchemy's mappers
        assert client.get("/api/runs").status_code == 200
    assert gc.get_freeze_count() == 0
