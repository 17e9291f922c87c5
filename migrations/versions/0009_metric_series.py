"""metric_series: each run's metrics packed in one row for the reads, filled from the metrics already stored

The metrics table stays the record; a series row holds the same epochs as float64 columns in one blob, so that
the compare page reads a run in one row instead of 1800 (backend/series.py).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import math

import numpy as np
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The blob's columns as backend/series.py packs them when this migration was written, kept here so that the
# migration does not change when the store does.
COLUMNS = ("epoch", "train_loss", "train_error", "test_loss", "test_error", "lr", "seconds", "images_per_second",
           "val_loss", "val_error")


def pack(rows: list) -> bytes:
    """Rows (epoch, train_loss, ... val_error) in epoch order -> float64 columns one after the other."""
    data = np.array([[math.nan if v is None else v for v in row] for row in rows], dtype="<f8")
    return data.T.copy().tobytes()


def fill(connection) -> int:
    """A series row for every run that has metric rows; the runs filled."""
    metrics = sa.table("metrics", sa.column("run_id", sa.Integer), *(sa.column(c, sa.Float) for c in COLUMNS))
    series = sa.table("metric_series", sa.column("run_id", sa.Integer), sa.column("rows", sa.Integer),
                      sa.column("last_epoch", sa.Integer), sa.column("data", sa.LargeBinary))
    run_ids = connection.execute(sa.select(metrics.c.run_id).distinct().order_by(metrics.c.run_id)).scalars().all()
    for run_id in run_ids:  # one run at a time: memory stays one run's rows
        rows = connection.execute(sa.select(*(metrics.c[c] for c in COLUMNS)).where(metrics.c.run_id == run_id)
                                  .order_by(metrics.c.epoch)).all()
        connection.execute(sa.insert(series).values(run_id=run_id, rows=len(rows), last_epoch=int(rows[-1][0]),
                                                    data=pack(rows)))
    return len(run_ids)


def upgrade() -> None:
    op.create_table(
        "metric_series",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("last_epoch", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id"),
    )
    fill(op.get_bind())


def downgrade() -> None:
    op.drop_table("metric_series")
