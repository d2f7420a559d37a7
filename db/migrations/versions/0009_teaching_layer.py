"""The teaching layer and comparable evidence (issue 18): a node's takeaway, level and the
several recipes that run it; a reported result's dataset, window, perplexity level and what
its baseline is.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 03:30:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('techniques') as batch:
        batch.add_column(sa.Column('takeaway', sa.Text(), nullable=True))
        batch.add_column(sa.Column('level', sa.String(length=20), nullable=True))
        batch.add_column(sa.Column('recipe_links', sa.JSON(), nullable=True))
    with op.batch_alter_table('reported_results') as batch:
        batch.add_column(sa.Column('dataset', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('context_tokens', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('perplexity_level', sa.String(length=10), nullable=True))
        batch.add_column(sa.Column('baseline_is', sa.String(length=200), nullable=False,
                                   server_default='the unmodified model'))
    # Seeded rows carry the old content hash: the next seed rewrites every node with its new
    # fields, so nothing here needs backfilling.


def downgrade() -> None:
    with op.batch_alter_table('reported_results') as batch:
        for column in ('baseline_is', 'perplexity_level', 'context_tokens', 'dataset'):
            batch.drop_column(column)
    with op.batch_alter_table('techniques') as batch:
        for column in ('recipe_links', 'level', 'takeaway'):
            batch.drop_column(column)
