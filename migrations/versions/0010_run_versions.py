"""runs.version: a number the database changes with every change of what a run's answers show

Every INSERT or UPDATE of a run, and every change of its tags or its packed series, gives the run a new version,
drawn from one counter that only grows: the API's read caches (backend/read_cache.py) key an answer on the
(id, version) of the runs it shows. Triggers set it, so every write path counts, whichever process (API,
dispatcher, worker) or layer (ORM, Core, raw SQL) it comes from. PostgreSQL draws from the sequence
run_version_seq; SQLite, which has no sequences, from the one row of run_version_counter (its writers take
turns anyway).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# Tables whose rows belong to a run (run_id) and are part of its answers: a change there is a change of the run.
CHILDREN = ("run_tags", "metric_series")

POSTGRES_UP = [
    "CREATE SEQUENCE run_version_seq AS bigint",
    "ALTER TABLE runs ADD COLUMN version bigint NOT NULL DEFAULT nextval('run_version_seq')",
    """CREATE FUNCTION runs_new_version() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN NEW.version := nextval('run_version_seq'); RETURN NEW; END $$""",
    """CREATE TRIGGER runs_version BEFORE UPDATE ON runs FOR EACH ROW EXECUTE FUNCTION runs_new_version()""",
    # A child's change updates its run, which the trigger above gives a new version (a run being deleted
    # with its children is already gone: nothing to update).
    """CREATE FUNCTION runs_child_changed() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF TG_OP <> 'INSERT' THEN UPDATE runs SET version = 0 WHERE id = OLD.run_id; END IF;
         IF TG_OP <> 'DELETE' THEN UPDATE runs SET version = 0 WHERE id = NEW.run_id; END IF;
         RETURN NULL;
       END $$""",
    *(f"CREATE TRIGGER {table}_run_version AFTER INSERT OR UPDATE OR DELETE ON {table} FOR EACH ROW "
      f"EXECUTE FUNCTION runs_child_changed()" for table in CHILDREN),
]

POSTGRES_DOWN = [
    *(f"DROP TRIGGER {table}_run_version ON {table}" for table in CHILDREN),
    "DROP FUNCTION runs_child_changed()",
    "DROP TRIGGER runs_version ON runs",
    "DROP FUNCTION runs_new_version()",
    "ALTER TABLE runs DROP COLUMN version",
    "DROP SEQUENCE run_version_seq",
]


def _sqlite_bump(run_id: str) -> str:
    return ("UPDATE run_version_counter SET value = value + 1; "
            f"UPDATE runs SET version = (SELECT value FROM run_version_counter) WHERE id = {run_id};")


# SQLite's triggers do not fire themselves again (recursive_triggers is off), so the trigger's own UPDATE of
# runs stops there.
SQLITE_UP = [
    "ALTER TABLE runs ADD COLUMN version BIGINT NOT NULL DEFAULT 0",
    f"CREATE TRIGGER runs_version_insert AFTER INSERT ON runs BEGIN {_sqlite_bump('NEW.id')} END",
    f"CREATE TRIGGER runs_version_update AFTER UPDATE ON runs BEGIN {_sqlite_bump('NEW.id')} END",
    *(f"CREATE TRIGGER {table}_run_version_{event.lower()} AFTER {event} ON {table} "
      f"BEGIN {_sqlite_bump(f'{row}.run_id')} END"
      for table in CHILDREN for event, row in (("INSERT", "NEW"), ("DELETE", "OLD"), ("UPDATE", "NEW"))),
    "UPDATE runs SET version = 0",  # the runs already stored: each a version of its own
]

SQLITE_DOWN = [
    *(f"DROP TRIGGER {table}_run_version_{event}" for table in CHILDREN for event in ("insert", "delete", "update")),
    "DROP TRIGGER runs_version_update",
    "DROP TRIGGER runs_version_insert",
    "ALTER TABLE runs DROP COLUMN version",
]


def upgrade() -> None:
    op.create_table("run_version_counter", sa.Column("value", sa.BigInteger(), nullable=False),
                    sa.PrimaryKeyConstraint("value"))
    op.execute("INSERT INTO run_version_counter (value) VALUES (0)")
    for statement in POSTGRES_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    for statement in POSTGRES_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN:
        op.execute(statement)
    op.drop_table("run_version_counter")
