"""The email channel (issue 17): email_mailbox_state (how far the IMAP poll has read each folder, per
UIDVALIDITY), email_inbound (every mail received; the unmatched ones are HR's queue) and
email_failing_addresses (refused or bounced addresses): engine/channels/email_models.py.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 09:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def UTCDateTime():
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "email_mailbox_state",
        sa.Column("mailbox", sa.String(512), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("last_uid", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("mailbox", name="pk_email_mailbox_state"),
    )
    op.create_table(
        "email_inbound",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("message_id", sa.String(512), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("from_address", sa.String(320), nullable=True),
        sa.Column("from_name", sa.String(255), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("candidate_id", sa.String(36), nullable=True),
        sa.Column("outbox_id", sa.String(36), nullable=True),
        sa.Column("matched_by", sa.String(16), nullable=True),
        sa.Column("delivered_to", sa.JSON(), nullable=False),
        sa.Column("assigned_by", sa.String(255), nullable=True),
        sa.Column("assigned_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_email_inbound"),
        sa.UniqueConstraint("message_id", name="uq_email_inbound_message_id"),
    )
    op.create_index("ix_email_inbound_status", "email_inbound", ["status", "received_at"])
    op.create_index("ix_email_inbound_candidate", "email_inbound", ["candidate_id"])
    op.create_index("ix_email_inbound_from", "email_inbound", ["from_address"])
    op.create_table(
        "email_failing_addresses",
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("candidate_id", sa.String(36), nullable=True),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("failed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("address", name="pk_email_failing_addresses"),
    )
    op.create_index("ix_email_failing_candidate", "email_failing_addresses", ["candidate_id"])


def downgrade() -> None:
    op.drop_index("ix_email_failing_candidate", table_name="email_failing_addresses")
    op.drop_table("email_failing_addresses")
    for name in ("ix_email_inbound_from", "ix_email_inbound_candidate", "ix_email_inbound_status"):
        op.drop_index(name, table_name="email_inbound")
    op.drop_table("email_inbound")
    op.drop_table("email_mailbox_state")
