"""workers report the datasets they hold; epochs and runs record validation figures

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("datasets", sa.JSON(), nullable=True))
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.add_column(sa.Column("val_loss", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("val_error", sa.Float(), nullable=True))
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("best_val_error", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("last_val_error", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_column("last_val_error")
        batch_op.drop_column("best_val_error")
    with op.batch_alter_table("metrics", schema=None) as batch_op:
        batch_op.drop_column("val_error")
        batch_op.drop_column("val_loss")
    with op.batch_alter_table("workers", schema=None) as batch_op:
        batch_op.drop_column("datasets")
