"""Internal notifications (issue 17): notification_preferences (per person: channel, immediate or a
daily digest at an hour, language, whether their groups' tasks count), notifications (one row per
event and person: dedupe and the digest's queue) and notification_cursor (the producer's place in the
event feed): engine/notification_models.py.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 09:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def UTCDateTime():
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("digest_hour", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("group_tasks", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE",
                                name="fk_notification_preferences_user_id_users"),
        sa.PrimaryKeyConstraint("user_id", name="pk_notification_preferences"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("dedupe_key", sa.String(255), nullable=False),
        sa.Column("user_name", sa.String(255), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("instance_id", sa.String(36), nullable=True),
        sa.Column("task_id", sa.String(36), nullable=True),
        sa.Column("element_id", sa.String(255), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("link", sa.String(1024), nullable=True),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("outbox_id", sa.String(36), nullable=True),
        sa.Column("digest_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notifications"),
        sa.UniqueConstraint("dedupe_key", name="uq_notifications_dedupe_key"),
    )
    op.create_index("ix_notifications_digest", "notifications", ["status", "digest_at"])
    op.create_index("ix_notifications_user", "notifications", ["user_name", "created_at"])
    op.create_table(
        "notification_cursor",
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("cursor_txid", sa.BigInteger(), nullable=False),
        sa.Column("cursor_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_notification_cursor"),
    )


def downgrade() -> None:
    op.drop_table("notification_cursor")
    op.drop_index("ix_notifications_user", table_name="notifications")
    op.drop_index("ix_notifications_digest", table_name="notifications")
    op.drop_table("notifications")
    op.drop_table("notification_preferences")
