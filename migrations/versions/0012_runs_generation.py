"""run_version_counter counts the committed changes of runs, in commit order: the runs list's cheap key

A runs list's answer depends on every run its filters match: finding out whether any changed took a query over
them all (1-4 ms of PostgreSQL's time per read, with 1000 runs). One number that every change of a run moves,
read in a fraction of that, says "nothing changed since" for all of them at once. It must grow in commit order:
a reader that sees it at N must see every change counted up to N. PostgreSQL's sequence (runs.version) cannot
say that (a transaction that drew 10 can commit after one that drew 11), so the count is the one row of
run_version_counter, bumped once per transaction by a trigger deferred to its commit: writers take their turn
on that row at the very end, holding no other lock they could wait on meanwhile, and a turn is a few
microseconds. SQLite's writers already take turns, and its triggers of migration 0010 bump that row at
every insert and update of a run and of its tags and series; a deleted run now bumps it too.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

POSTGRES_UP = [
    # Once per transaction (the deferred triggers of its other rows find the flag set): a bulk change of 1000
    # runs moves the count once.
    """CREATE FUNCTION runs_generation_bump() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN
         IF current_setting('shakelab.runs_generation_bumped', true) IS DISTINCT FROM 'on' THEN
           UPDATE run_version_counter SET value = value + 1;
           PERFORM set_config('shakelab.runs_generation_bumped', 'on', true);
         END IF;
         RETURN NULL;
       END $$""",
    # The changes of a run's tags and series update the run (migration 0010), so they fire this too.
    """CREATE CONSTRAINT TRIGGER runs_generation AFTER INSERT OR UPDATE OR DELETE ON runs
       DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION runs_generation_bump()""",
]

POSTGRES_DOWN = [
    "DROP TRIGGER runs_generation ON runs",
    "DROP FUNCTION runs_generation_bump()",
]

SQLITE_UP = ["CREATE TRIGGER runs_generation_delete AFTER DELETE ON runs "
             "BEGIN UPDATE run_version_counter SET value = value + 1; END"]
SQLITE_DOWN = ["DROP TRIGGER runs_generation_delete"]


def upgrade() -> None:
    for statement in POSTGRES_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    for statement in POSTGRES_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN:
        op.execute(statement)
