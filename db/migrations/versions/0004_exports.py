"""Exports: a job can be an export of another job's model to a serving format, and an
artifact keeps what its read-back measured (reader, perplexity against the job's).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 10:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('export', sa.JSON(), nullable=True))
    with op.batch_alter_table('artifacts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('details', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('artifacts', schema=None) as batch_op:
        batch_op.drop_column('details')
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.drop_column('export')
