"""experiments, runs, tags and metrics

Revision ID: 0001
Revises:
Create Date: 2026-11-23 11:09:08.558063
"""

import sqlalchemy as sa
from alembic import op

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('experiments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('experiment_id', sa.Integer(), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('spec', sa.JSON(), nullable=False),
    sa.Column('spec_key', sa.String(length=64), nullable=False),
    sa.Column('arch', sa.String(length=40), nullable=False),
    sa.Column('method', sa.String(length=40), nullable=False),
    sa.Column('dataset', sa.String(length=40), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=False),
    sa.Column('epochs', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('worker', sa.String(length=200), nullable=True),
    sa.Column('gpu', sa.String(length=40), nullable=True),
    sa.Column('claim_token', sa.String(length=36), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('epochs_done', sa.Integer(), nullable=False),
    sa.Column('best_test_error', sa.Float(), nullable=True),
    sa.Column('last_test_error', sa.Float(), nullable=True),
    sa.Column('last_train_error', sa.Float(), nullable=True),
    sa.Column('images_per_second', sa.Float(), nullable=True),
    sa.Column('train_seconds', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['experiment_id'], ['experiments.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_runs_arch'), ['arch'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_method'), ['method'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_spec_key'), ['spec_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_runs_status'), ['status'], unique=False)
        batch_op.create_index('ix_runs_status_dispatched', ['status', 'dispatched_at'], unique=False)

    op.create_table('metrics',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('epoch', sa.Integer(), nullable=False),
    sa.Column('train_loss', sa.Float(), nullable=False),
    sa.Column('train_error', sa.Float(), nullable=False),
    sa.Column('test_loss', sa.Float(), nullable=False),
    sa.Column('test_error', sa.Float(), nullable=False),
    sa.Column('lr', sa.Float(), nullable=False),
    sa.Column('seconds', sa.Float(), nullable=False),
    sa.Column('images_per_second', sa.Float(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'epoch')
    )
    op.create_table('run_tags',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('tag', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'tag')
    )
    with op.batch_alter_table('run_tags', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_run_tags_tag'), ['tag'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('run_tags', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_run_tags_tag'))

    op.drop_table('run_tags')
    op.drop_table('metrics')
    with op.batch_alter_table('runs', schema=None) as batch_op:
        batch_op.drop_index('ix_runs_status_dispatched')
        batch_op.drop_index(batch_op.f('ix_runs_status'))
        batch_op.drop_index(batch_op.f('ix_runs_spec_key'))
        batch_op.drop_index(batch_op.f('ix_runs_method'))
        batch_op.drop_index(batch_op.f('ix_runs_created_at'))
        batch_op.drop_index(batch_op.f('ix_runs_arch'))

    op.drop_table('runs')
    op.drop_table('experiments')
