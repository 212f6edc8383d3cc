"""The WeCom channel (issue 17): channel_tokens (the access token shared by every process, sealed),
wecom_message_tasks (the customer message task asked for each outbox row), candidate_wecom_contacts
(external contacts linked to candidates, or waiting for HR) and candidate_wecom_states (the opaque
state of a candidate's "contact me" QR code): engine/channels/wecom_models.py.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 08:50:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def UTCDateTime():
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "channel_tokens",
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("token_sealed", sa.Text(), nullable=True),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("fetched_at", UTCDateTime(), nullable=True),
        sa.Column("refresh_until", UTCDateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("channel", name="pk_channel_tokens"),
    )
    op.create_table(
        "wecom_message_tasks",
        sa.Column("outbox_id", sa.String(36), nullable=False),
        sa.Column("msgid", sa.String(128), nullable=True),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("outbox_id", name="pk_wecom_message_tasks"),
    )
    op.create_table(
        "candidate_wecom_contacts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("external_userid", sa.String(128), nullable=False),
        sa.Column("follow_userid", sa.String(64), nullable=False),
        sa.Column("candidate_id", sa.String(36), nullable=True),
        sa.Column("matched_by", sa.String(16), nullable=True),
        sa.Column("state", sa.String(64), nullable=True),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("linked_at", UTCDateTime(), nullable=True),
        sa.Column("signalled_at", UTCDateTime(), nullable=True),
        sa.Column("removed_at", UTCDateTime(), nullable=True),
        sa.Column("removed_by", sa.String(32), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_candidate_wecom_contacts"),
        sa.UniqueConstraint("external_userid", name="uq_candidate_wecom_contacts_external_userid"),
    )
    op.create_index("ix_wecom_contact_candidate", "candidate_wecom_contacts", ["candidate_id", "removed_at"])
    op.create_table(
        "candidate_wecom_states",
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("candidate_id", sa.String(36), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("state", name="pk_candidate_wecom_states"),
        sa.UniqueConstraint("candidate_id", name="uq_candidate_wecom_states_candidate_id"),
    )


def downgrade() -> None:
    op.drop_table("candidate_wecom_states")
    op.drop_index("ix_wecom_contact_candidate", table_name="candidate_wecom_contacts")
    op.drop_table("candidate_wecom_contacts")
    op.drop_table("wecom_message_tasks")
    op.drop_table("channel_tokens")
