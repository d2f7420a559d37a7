"""Create the job queue, its workers and what jobs produce: jobs, workers, results,
result_metrics, artifacts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 21:40:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recipe', sa.JSON(), nullable=False),
    sa.Column('measure', sa.JSON(), nullable=False),
    sa.Column('model_ref', sa.String(length=300), nullable=False),
    sa.Column('device', sa.String(length=40), nullable=False),
    sa.Column('dtype', sa.String(length=20), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('technique_slug', sa.String(length=80), nullable=True),
    sa.Column('save_model', sa.Boolean(), nullable=False),
    sa.Column('time_limit_s', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('lease_owner', sa.String(length=120), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('cancel_requested', sa.Boolean(), nullable=False),
    sa.Column('cancel_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('progress_stage', sa.String(length=80), nullable=False),
    sa.Column('progress_fraction', sa.Float(), nullable=False),
    sa.Column('progress_message', sa.Text(), nullable=False),
    sa.Column('log_tail', sa.Text(), nullable=False),
    sa.Column('error_kind', sa.String(length=40), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('owner_session', sa.String(length=80), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index('ix_jobs_status_device', ['status', 'device'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_status'), ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_owner_session'), ['owner_session'], unique=False)

    op.create_table('workers',
    sa.Column('id', sa.String(length=120), nullable=False),
    sa.Column('host', sa.String(length=200), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('device', sa.String(length=40), nullable=False),
    sa.Column('device_name', sa.String(length=200), nullable=False),
    sa.Column('memory_bytes', sa.BigInteger(), nullable=True),
    sa.Column('capability', sa.String(length=20), nullable=True),
    sa.Column('current_job_id', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )

    op.create_table('results',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=True),
    sa.Column('baseline_key', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('model_ref', sa.String(length=300), nullable=False),
    sa.Column('model_key', sa.String(length=200), nullable=False),
    sa.Column('recipe', sa.JSON(), nullable=False),
    sa.Column('execution', sa.String(length=20), nullable=False),
    sa.Column('device', sa.String(length=40), nullable=False),
    sa.Column('device_name', sa.String(length=200), nullable=False),
    sa.Column('dtype', sa.String(length=20), nullable=False),
    sa.Column('protocol', sa.JSON(), nullable=False),
    sa.Column('protocol_hash', sa.String(length=64), nullable=False),
    sa.Column('environment', sa.JSON(), nullable=False),
    sa.Column('notes', sa.JSON(), nullable=False),
    sa.Column('diagnostics', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('baseline_key', name='uq_results_baseline_key'),
    sa.UniqueConstraint('job_id', name='uq_results_job')
    )
    with op.batch_alter_table('results', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_results_model_ref'), ['model_ref'], unique=False)
        batch_op.create_index(batch_op.f('ix_results_model_key'), ['model_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_results_protocol_hash'), ['protocol_hash'], unique=False)

    op.create_table('result_metrics',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('result_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=60), nullable=False),
    sa.Column('value', sa.Float(), nullable=True),
    sa.Column('unit', sa.String(length=20), nullable=False),
    sa.Column('spread', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['result_id'], ['results.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('result_id', 'name')
    )
    with op.batch_alter_table('result_metrics', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_result_metrics_result_id'), ['result_id'], unique=False)

    op.create_table('artifacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('job_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.Text(), nullable=False),
    sa.Column('bytes', sa.BigInteger(), nullable=False),
    sa.Column('format', sa.String(length=40), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['job_id'], ['jobs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('artifacts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_artifacts_job_id'), ['job_id'], unique=False)


def downgrade() -> None:
    op.drop_table('artifacts')
    op.drop_table('result_metrics')
    op.drop_table('results')
    op.drop_table('workers')
    op.drop_table('jobs')
