"""The user directory (display name, active flag, WeCom user id, email, password) and sign-in:
server-side sessions, one-time sign-in links and the failed-sign-in counters (engine/signin.py).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 03:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def UTCDateTime():
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("display_name", sa.String(255), nullable=True))
        batch_op.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column("email", sa.String(320), nullable=True))
        batch_op.add_column(sa.Column("wecom_user_id", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("password_hash", sa.String(255), nullable=True))
    op.create_table(
        "user_sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name="pk_user_sessions"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_user_sessions_user_id_users",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_user_sessions_user_id", "user_sessions", ["user_id"])
    op.create_table(
        "signin_links",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name="pk_signin_links"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_signin_links_user_id_users",
                                ondelete="CASCADE"),
    )
    op.create_table(
        "signin_failures",
        sa.Column("key", sa.String(320), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_at", UTCDateTime(), nullable=False),
        sa.Column("locked_until", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("key", name="pk_signin_failures"),
    )


def downgrade() -> None:
    op.drop_table("signin_failures")
    op.drop_table("signin_links")
    op.drop_index("ix_user_sessions_user_id", table_name="user_sessions")
    op.drop_table("user_sessions")
    with op.batch_alter_table("users") as batch_op:
        for column in ("password_hash", "wecom_user_id", "email", "active", "display_name"):
            batch_op.drop_column(column)
