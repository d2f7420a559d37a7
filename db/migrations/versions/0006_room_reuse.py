"""Identical runs computed once, and a room's own state: a job's reuse key and the job that
answered it (reused_from), when a room reset archived it, and the room's banner and pause.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 14:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs') as batch:
        batch.add_column(sa.Column('reuse_key', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('reused_from', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('archived_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_index('ix_jobs_reuse_key', ['reuse_key'])
        batch.create_index('ix_jobs_reused_from', ['reused_from'])
    op.create_table(
        'room_state',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('launching_paused', sa.Boolean(), nullable=False),
        sa.Column('banner', sa.Text(), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )


def downgrade() -> None:
    op.drop_table('room_state')
    with op.batch_alter_table('jobs') as batch:
        batch.drop_index('ix_jobs_reused_from')
        batch.drop_index('ix_jobs_reuse_key')
        batch.drop_column('archived_at')
        batch.drop_column('reused_from')
        batch.drop_column('reuse_key')
