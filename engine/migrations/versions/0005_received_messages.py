"""Received messages: a sender's `message_id` per message name, with the first answer.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 22:30:00
"""
from alembic import op
import sqlalchemy as sa

# Frozen column types (migrations never import the models they migrate).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def UTCDateTime():
    return sa.DateTime(timezone=True)


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "received_messages",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("answer", sa.JSON(), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("sent_by", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_received_messages"),
        sa.UniqueConstraint("name", "message_id", name="uq_received_messages_name_message_id"),
    )
    op.create_index("ix_received_messages_received_at", "received_messages", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_received_messages_received_at", table_name="received_messages")
    op.drop_table("received_messages")
