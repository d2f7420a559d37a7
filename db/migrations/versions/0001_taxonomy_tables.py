"""Create the taxonomy tables: techniques, references, citations, implementations, results, tags.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-26 11:54:27.860096
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('references',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=80), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('authors', sa.JSON(), nullable=False),
    sa.Column('et_al', sa.Boolean(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('venue', sa.String(length=200), nullable=False),
    sa.Column('arxiv', sa.String(length=20), nullable=True),
    sa.Column('doi', sa.String(length=200), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('arxiv'),
    sa.UniqueConstraint('key')
    )
    op.create_table('tags',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('value', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('kind', 'value')
    )
    op.create_table('taxonomy_sources',
    sa.Column('file_name', sa.String(length=200), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('file_name')
    )
    op.create_table('techniques',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('family', sa.String(length=80), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('summary', sa.Text(), nullable=False),
    sa.Column('mechanism', sa.Text(), nullable=True),
    sa.Column('saves', sa.JSON(), nullable=True),
    sa.Column('costs', sa.JSON(), nullable=True),
    sa.Column('practical', sa.JSON(), nullable=True),
    sa.Column('challenges', sa.JSON(), nullable=False),
    sa.Column('runnable_recipe', sa.String(length=80), nullable=True),
    sa.Column('not_runnable_reason', sa.Text(), nullable=True),
    sa.Column('needs_calibration', sa.Boolean(), nullable=True),
    sa.Column('needs_training', sa.Boolean(), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['techniques.id'], ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('slug')
    )
    with op.batch_alter_table('techniques', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_techniques_family'), ['family'], unique=False)
        batch_op.create_index(batch_op.f('ix_techniques_parent_id'), ['parent_id'], unique=False)

    op.create_table('citations',
    sa.Column('technique_id', sa.Integer(), nullable=False),
    sa.Column('reference_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['reference_id'], ['references.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['technique_id'], ['techniques.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('technique_id', 'reference_id')
    )
    op.create_table('implementations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('technique_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['technique_id'], ['techniques.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('implementations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_implementations_technique_id'), ['technique_id'], unique=False)

    op.create_table('reported_results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('technique_id', sa.Integer(), nullable=False),
    sa.Column('reference_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('model', sa.String(length=200), nullable=False),
    sa.Column('metric', sa.String(length=200), nullable=False),
    sa.Column('baseline', sa.Float(), nullable=True),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('unit', sa.String(length=40), nullable=False),
    sa.Column('lower_is_better', sa.Boolean(), nullable=False),
    sa.Column('setting', sa.Text(), nullable=False),
    sa.Column('protocol', sa.Text(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['reference_id'], ['references.id'], ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['technique_id'], ['techniques.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('reported_results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reported_results_technique_id'), ['technique_id'], unique=False)

    op.create_table('technique_tags',
    sa.Column('technique_id', sa.Integer(), nullable=False),
    sa.Column('tag_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['tag_id'], ['tags.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['technique_id'], ['techniques.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('technique_id', 'tag_id')
    )


def downgrade() -> None:
    op.drop_table('technique_tags')
    with op.batch_alter_table('reported_results', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reported_results_technique_id'))

    op.drop_table('reported_results')
    with op.batch_alter_table('implementations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_implementations_technique_id'))

    op.drop_table('implementations')
    op.drop_table('citations')
    with op.batch_alter_table('techniques', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_techniques_parent_id'))
        batch_op.drop_index(batch_op.f('ix_techniques_family'))

    op.drop_table('techniques')
    op.drop_table('taxonomy_sources')
    op.drop_table('tags')
    op.drop_table('references')
