"""metric_series.data stored uncompressed on PostgreSQL

A run's packed series (a run of 1800 epochs: 144 kB of float64) was compressed by PostgreSQL's TOAST (pglz),
which shrinks it to two thirds (the epoch column is regular) and costs a decompression on every read: 40 of
the 90 ms of reading a table's 200 series. The copy exists to be read fast, so it is kept as it is
(STORAGE EXTERNAL: out of line, never compressed); the rows already stored are rewritten that way. SQLite
never compresses and has nothing to change.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE metric_series ALTER COLUMN data SET STORAGE EXTERNAL")
    # A new value (the same bytes) is stored under the column's new storage; an unchanged one keeps its old form.
    op.execute("UPDATE metric_series SET data = data || ''::bytea")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE metric_series ALTER COLUMN data SET STORAGE EXTENDED")
