"""Results' model key as wide as the model references it is made of: a key is the reference
(at most 300 characters, core.engine.model_refs) with a kind prefix and a revision, and
PostgreSQL refuses a key longer than the column where SQLite stored it.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 22:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('results') as batch:
        batch.alter_column('model_key', existing_type=sa.String(length=200),
                           type_=sa.String(length=320), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('results') as batch:
        batch.alter_column('model_key', existing_type=sa.String(length=320),
                           type_=sa.String(length=200), existing_nullable=False)
