"""runs can be archived; finished runs and searches remember that their alert was sent

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_runs_archived_at", ["archived_at"])
    with op.batch_alter_table("searches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alerted_at", sa.DateTime(timezone=True), nullable=True))
    # Runs and searches that ended before alerts existed are not announced when a webhook is first set.
    op.execute("UPDATE runs SET alerted_at = finished_at WHERE finished_at IS NOT NULL")
    op.execute("UPDATE searches SET alerted_at = finished_at WHERE finished_at IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("searches", schema=None) as batch_op:
        batch_op.drop_column("alerted_at")
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index("ix_runs_archived_at")
        batch_op.drop_column("alerted_at")
        batch_op.drop_column("archived_at")
