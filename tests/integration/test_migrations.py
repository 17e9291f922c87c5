"""Alembic: upgrade an empty database to head and back down to nothing, on SQLite and PostgreSQL; and the
migrations describe exactly the models (no change left for autogenerate to find)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from backend.db import downgrade, migrate
from backend.models import Base

TABLES = {"experiments", "runs", "run_tags", "metrics", "workers", "searches", "search_proposals", "nas_searches",
          "nas_children", "metric_series", "run_version_counter"}


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("postgres_url")


def tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_from_empty_then_downgrade_to_nothing(empty_database):
    assert tables(empty_database) == set()
    migrate(empty_database)
    assert tables(empty_database) == TABLES
    migrate(empty_database)  # idempotent: already at head
    downgrade(empty_database, "base")
    assert tables(empty_database) == set()
    migrate(empty_database)
    assert tables(empty_database) == TABLES


def test_migrations_match_the_models(empty_database):
    migrate(empty_database)
    engine = create_engine(empty_database)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == []
