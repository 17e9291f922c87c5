"""searches and their proposals; runs link to them and may end pruned

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "searches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("space", sa.JSON(), nullable=False),
        sa.Column("objective", sa.String(length=40), nullable=False),
        sa.Column("sampler", sa.String(length=16), nullable=False),
        sa.Column("sampler_seed", sa.Integer(), nullable=False),
        sa.Column("pruner", sa.JSON(), nullable=False),
        sa.Column("seeds", sa.Integer(), nullable=False),
        sa.Column("max_runs", sa.Integer(), nullable=False),
        sa.Column("max_concurrent", sa.Integer(), nullable=False),
        sa.Column("budget_gpu_hours", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stop_reason", sa.Text(), nullable=True),
        sa.Column("proposals_made", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("searches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_searches_status"), ["status"], unique=False)
    op.create_table(
        "search_proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("optuna_attrs", sa.JSON(), nullable=False),
        sa.Column("checked_step", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["search_id"], ["searches.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("search_id", "number", name="uq_search_proposals_number"),
    )
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("proposal_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cancel_status", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("cancel_reason", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_runs_search_id"), ["search_id"], unique=False)
        batch_op.create_foreign_key("fk_runs_search_id", "searches", ["search_id"], ["id"], ondelete="SET NULL")
        batch_op.create_foreign_key("fk_runs_proposal_id", "search_proposals", ["proposal_id"], ["id"],
                                    ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_constraint("fk_runs_proposal_id", type_="foreignkey")
        batch_op.drop_constraint("fk_runs_search_id", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_runs_search_id"))
        batch_op.drop_column("cancel_reason")
        batch_op.drop_column("cancel_status")
        batch_op.drop_column("proposal_id")
        batch_op.drop_column("search_id")
    op.drop_table("search_proposals")
    with op.batch_alter_table("searches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_searches_status"))
    op.drop_table("searches")
