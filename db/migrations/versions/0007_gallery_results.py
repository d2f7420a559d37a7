"""Gallery results: a result seeded from the shipped gallery file names its run, so that
seeding again replaces it rather than adding a second.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 18:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('results') as batch:
        batch.add_column(sa.Column('gallery_run', sa.String(length=80), nullable=True))
        batch.create_unique_constraint('uq_results_gallery_run', ['gallery_run'])


def downgrade() -> None:
    with op.batch_alter_table('results') as batch:
        batch.drop_constraint('uq_results_gallery_run', type_='unique')
        batch.drop_column('gallery_run')
