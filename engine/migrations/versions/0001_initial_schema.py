"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-26 16:45:24.762985
"""
from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The first schema: definitions, instances, derived side tables, audit trail.
    op.create_table('audit_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=255), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('element_id', sa.String(length=255), nullable=True),
    sa.Column('task_id', sa.String(length=36), nullable=True),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_kind'), ['kind'], unique=False)

    op.create_table('buffered_messages',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('correlation_key', sa.String(length=1024), nullable=False),
    sa.Column('correlation', sa.JSON(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_to', sa.String(length=36), nullable=True),
    sa.Column('sent_by', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_buffered_messages'))
    )
    with op.batch_alter_table('buffered_messages', schema=None) as batch_op:
        batch_op.create_index('ix_buffer_lookup', ['status', 'name', 'correlation_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_buffered_messages_expires_at'), ['expires_at'], unique=False)

    op.create_table('process_definitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process_key', sa.String(length=255), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('spec_json', sa.Text(), nullable=False),
    sa.Column('forms_json', sa.Text(), nullable=False),
    sa.Column('files_json', sa.Text(), nullable=False),
    sa.Column('serializer_version', sa.String(length=16), nullable=False),
    sa.Column('deployed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deployed_by', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_process_definitions')),
    sa.UniqueConstraint('process_key', 'version', name='uq_definition_key_version')
    )
    with op.batch_alter_table('process_definitions', schema=None) as batch_op:
        batch_op.create_index('ix_definition_key_hash', ['process_key', 'content_hash'], unique=False)

    op.create_table('timer_firings',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('element_id', sa.String(length=255), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fired_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('worker', sa.String(length=255), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_timer_firings')),
    sa.UniqueConstraint('instance_id', 'task_id', 'due_at', name='uq_firing_once')
    )
    with op.batch_alter_table('timer_firings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_timer_firings_instance_id'), ['instance_id'], unique=False)

    op.create_table('process_instances',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('definition_id', sa.Integer(), nullable=False),
    sa.Column('process_key', sa.String(length=255), nullable=False),
    sa.Column('business_key', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('end_event', sa.String(length=255), nullable=True),
    sa.Column('state', sa.LargeBinary(), nullable=False),
    sa.Column('serializer_version', sa.String(length=16), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('error', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('started_by', sa.String(length=255), nullable=False),
    sa.ForeignKeyConstraint(['definition_id'], ['process_definitions.id'], name=op.f('fk_process_instances_definition_id_process_definitions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_process_instances'))
    )
    with op.batch_alter_table('process_instances', schema=None) as batch_op:
        batch_op.create_index('ix_instance_key_status', ['process_key', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_instances_business_key'), ['business_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_process_instances_status'), ['status'], unique=False)

    op.create_table('human_tasks',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('element_id', sa.String(length=255), nullable=False),
    sa.Column('process_key', sa.String(length=255), nullable=False),
    sa.Column('title', sa.String(length=512), nullable=True),
    sa.Column('lane', sa.String(length=255), nullable=True),
    sa.Column('candidate_group', sa.String(length=255), nullable=True),
    sa.Column('assignee', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('form_schema', sa.String(length=255), nullable=True),
    sa.Column('form_ui_schema', sa.String(length=255), nullable=True),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_by', sa.String(length=255), nullable=True),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], name=op.f('fk_human_tasks_instance_id_process_instances')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_human_tasks'))
    )
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_human_tasks_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_human_tasks_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_task_status_assignee', ['status', 'assignee'], unique=False)
        batch_op.create_index('ix_task_status_group', ['status', 'candidate_group'], unique=False)

    op.create_table('message_subscriptions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('element_id', sa.String(length=255), nullable=False),
    sa.Column('message_name', sa.String(length=255), nullable=False),
    sa.Column('correlation_key', sa.String(length=1024), nullable=False),
    sa.Column('correlation', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], name=op.f('fk_message_subscriptions_instance_id_process_instances')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_subscriptions'))
    )
    with op.batch_alter_table('message_subscriptions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_subscriptions_instance_id'), ['instance_id'], unique=False)
        batch_op.create_index('ix_subscription_lookup', ['message_name', 'correlation_key'], unique=False)

    op.create_table('waiting_timers',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('instance_id', sa.String(length=36), nullable=False),
    sa.Column('task_id', sa.String(length=36), nullable=False),
    sa.Column('element_id', sa.String(length=255), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['instance_id'], ['process_instances.id'], name=op.f('fk_waiting_timers_instance_id_process_instances')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_waiting_timers')),
    sa.UniqueConstraint('instance_id', 'task_id', name='uq_timer_instance_task')
    )
    with op.batch_alter_table('waiting_timers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_waiting_timers_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_waiting_timers_instance_id'), ['instance_id'], unique=False)



def downgrade() -> None:
    # The first schema: definitions, instances, derived side tables, audit trail.
    with op.batch_alter_table('waiting_timers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_waiting_timers_instance_id'))
        batch_op.drop_index(batch_op.f('ix_waiting_timers_due_at'))

    op.drop_table('waiting_timers')
    with op.batch_alter_table('message_subscriptions', schema=None) as batch_op:
        batch_op.drop_index('ix_subscription_lookup')
        batch_op.drop_index(batch_op.f('ix_message_subscriptions_instance_id'))

    op.drop_table('message_subscriptions')
    with op.batch_alter_table('human_tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_task_status_group')
        batch_op.drop_index('ix_task_status_assignee')
        batch_op.drop_index(batch_op.f('ix_human_tasks_instance_id'))
        batch_op.drop_index(batch_op.f('ix_human_tasks_due_at'))

    op.drop_table('human_tasks')
    with op.batch_alter_table('process_instances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_process_instances_status'))
        batch_op.drop_index(batch_op.f('ix_process_instances_business_key'))
        batch_op.drop_index('ix_instance_key_status')

    op.drop_table('process_instances')
    with op.batch_alter_table('timer_firings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_timer_firings_instance_id'))

    op.drop_table('timer_firings')
    with op.batch_alter_table('process_definitions', schema=None) as batch_op:
        batch_op.drop_index('ix_definition_key_hash')

    op.drop_table('process_definitions')
    with op.batch_alter_table('buffered_messages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_buffered_messages_expires_at'))
        batch_op.drop_index('ix_buffer_lookup')

    op.drop_table('buffered_messages')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_kind'))
        batch_op.drop_index(batch_op.f('ix_audit_events_instance_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))

    op.drop_table('audit_events')
