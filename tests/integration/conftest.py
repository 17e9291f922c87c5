"""The API in this process (FastAPI's TestClient) on each real backend: SQLite with the embedded broker, and
this machine's PostgreSQL with Redis. No database or broker is mocked."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from backend.api import create_app
from backend.db import get_engine
from backend.models import Experiment, Metric, Run
from backend.settings import Settings


@dataclass
class Platform:
    settings: Settings
    client: TestClient
    engine: Engine

    def count(self, model=Run) -> int:
        with self.engine.connect() as connection:
            return connection.scalar(select(func.count()).select_from(model))

    def counts(self) -> tuple[int, int, int]:
        return self.count(Run), self.count(Experiment), self.count(Metric)


def make_settings(kind: str, tmp_path, request, **overrides) -> Settings:
    if kind == "sqlite":
        return Settings(home=tmp_path, **overrides)
    broker, queue = request.getfixturevalue("redis_queue")
    return Settings(home=tmp_path, database_url=request.getfixturevalue("postgres_url"), broker_url=broker,
                    queue=queue, **overrides)


@pytest.fixture(params=["sqlite", "postgres"])
def platform(request, tmp_path):
    settings = make_settings(request.param, tmp_path, request, broker_timeout_seconds=1)
    # The lifespan migrates the database; "localhost" is a Host the app answers to (the Host allow-list).
    with TestClient(create_app(settings, dispatch=False), base_url="http://localhost") as client:
        yield Platform(settings, client, get_engine(settings))
