"""Channels (issue 17): channel_settings (the company's settings per channel, secrets sealed) and the
outbox (sends written with the change that asks for them, sent by the worker): engine/channels/.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 08:40:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def UTCDateTime():
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "channel_settings",
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("channel", name="pk_channel_settings"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("candidate_id", sa.String(36), nullable=True),
        sa.Column("task_id", sa.String(36), nullable=True),
        sa.Column("instance_id", sa.String(36), nullable=True),
        sa.Column("recipient", sa.JSON(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("provider_id", sa.String(255), nullable=True),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UTCDateTime(), nullable=True),
        sa.Column("lease_token", sa.String(36), nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
        sa.Column("dedupe_key", sa.String(255), nullable=True),
        sa.Column("created_by", sa.String(255), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("dedupe_key", name="uq_outbox_dedupe_key"),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
    op.create_index("ix_outbox_candidate", "outbox", ["candidate_id", "channel", "created_at"])
    op.create_index("ix_outbox_task", "outbox", ["task_id", "created_at"])


def downgrade() -> None:
    op.drop_table("outbox")
    op.drop_table("channel_settings")
