"""Migration 0007: runs stored before optim.replica_batch keep their meaning (their whole batch was one batch-norm
group), get the key of that spec, and so stop matching a paper's cell that splits the batch per GPU.

The rewrite is run on its own, on a database that has the models' tables, so that it is tested apart from the
revisions before it; on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, update
from sqlalchemy.orm import Session

from backend.models import Base, Run, Search
from backend.store import create_runs, spec_key
from backend.tables.profiles import table_specs
from tests.migration_files import load_migration
from worker.engine.spec import parse_spec


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'm.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    yield engine
    engine.dispose()


def as_stored_before(migration, session: Session, run: Run) -> dict:
    """Make `run` a row written before replica_batch: no such field, the key of that spec."""
    old = migration.without_replica_batch(run.spec)
    session.execute(update(Run).where(Run.id == run.id).values(spec=old, spec_key=migration.spec_key(old)))
    return old


def test_old_runs_get_one_group_per_batch_and_the_key_of_that_spec(engine):
    migration = load_migration()
    cell = next(c for c in table_specs("shake_shake_table1_cifar10", "full") if c.key == "s-s-i:2x96d")
    assert cell.spec.optim.replica_batch == 64
    with Session(engine) as session:
        [paper_run, own_run] = create_runs(session, [cell.spec, parse_spec(
            {"model": {"arch": "pyramidnet", "depth": 20, "alpha": 24, "bottleneck": False},
             "dataset": {"name": "digits", "validation": 100}, "optim": {"batch_size": 64, "epochs": 3}})])
        old_paper = as_stored_before(migration, session, paper_run)
        as_stored_before(migration, session, own_run)
        # Before the change a run of the paper's cell carried the key of the spec without the field, which is
        # the key the store computed then (validation 0 left out as today).
        assert "replica_batch" not in old_paper["optim"]
        paper_id = paper_run.id
        session.commit()

    with engine.begin() as connection:
        assert migration.rewrite_specs(connection, migration.with_whole_batch_groups) == 2

    with Session(engine) as session:
        for run in session.scalars(select(Run)):
            resolved = parse_spec(run.spec)
            assert resolved.optim.replica_batch == resolved.optim.batch_size
            assert run.spec == resolved.model_dump(mode="json")
            assert run.spec_key == spec_key(resolved)  # the store's own key of the migrated spec
        paper = session.get(Run, paper_id)
        assert paper.spec_key != cell.spec_key  # normalised over 128, it does not reproduce the 2 x 64 cell

    with engine.begin() as connection:  # a second pass changes nothing
        assert migration.rewrite_specs(connection, migration.with_whole_batch_groups) == 0


def test_a_search_base_spec_gets_the_field_unless_the_search_varies_the_batch(engine):
    migration = load_migration()
    base = migration.without_replica_batch(parse_spec({"model": {"arch": "shake_resnet", "depth": 8, "width": 8},
                                                       "optim": {"batch_size": 32}}).model_dump(mode="json"))
    common = {"notes": "", "objective": "val_error", "sampler": "tpe", "sampler_seed": 0, "pruner": {},
              "seeds": 1, "max_runs": 4, "max_concurrent": 1, "status": "running"}
    with Session(engine) as session:
        fixed = Search(name="lr only", spec=base, space={"optim.lr": {"float": [0.01, 0.1]}}, **common)
        varied = Search(name="batch too", spec=base, space={"optim.batch_size": {"choice": [16, 32]}}, **common)
        session.add_all([fixed, varied])
        session.commit()
        ids = fixed.id, varied.id
    with engine.begin() as connection:
        migration.rewrite_specs(connection, migration.with_whole_batch_groups)
    with Session(engine) as session:
        assert session.get(Search, ids[0]).spec["optim"]["replica_batch"] == 32
        assert "replica_batch" not in session.get(Search, ids[1]).spec["optim"]


def test_the_upgrade_and_downgrade_through_alembic(request, tmp_path):
    """The revision itself, from the one before it: a run row written then (no replica_batch, its old key)."""
    from datetime import UTC, datetime

    import sqlalchemy as sa

    from backend.db import downgrade, migrate

    url = request.getfixturevalue("postgres_url")
    migration = load_migration()
    migrate(url, migration.down_revision)
    spec = parse_spec({"model": {"arch": "shake_resnet", "depth": 26, "width": 32}}).model_dump(mode="json")
    old = migration.without_replica_batch(spec)
    runs = sa.table("runs", *(sa.column(c) for c in (
        "name", "notes", "spec_key", "arch", "method", "dataset", "seed", "epochs", "status", "created_at",
        "cancel_requested", "attempts", "epochs_done", "train_seconds")), sa.column("spec", sa.JSON))
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(runs).values(
                name="old", notes="", spec=old, spec_key=migration.spec_key(old), arch="shake_resnet", method="none",
                dataset="cifar10", seed=0, epochs=1800, status="succeeded", created_at=datetime.now(UTC),
                cancel_requested=False, attempts=1, epochs_done=1800, train_seconds=1.0))
        migrate(url)
        with engine.connect() as connection:
            row = connection.execute(sa.select(runs.c.spec, runs.c.spec_key)).one()
        assert row.spec["optim"]["replica_batch"] == 128 and row.spec_key == spec_key(parse_spec(row.spec))
        downgrade(url, migration.down_revision)
        with engine.connect() as connection:
            row = connection.execute(sa.select(runs.c.spec, runs.c.spec_key)).one()
        assert row.spec == old and row.spec_key == migration.spec_key(old)
    finally:
        engine.dispose()
