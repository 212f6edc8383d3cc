"""Signed candidate links: the growth page and the new hire's goals page (issue 18): candidate_links, one row
per link HR issued, with the SHA-256 of its token only (engine/candidate_pages/models.py).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 12:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def UTCDateTime():
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "candidate_links",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("candidate_id", sa.String(36), nullable=False),
        sa.Column("instance_id", sa.String(36), nullable=True),
        sa.Column("role_key", sa.String(64), nullable=True),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_by", sa.String(255), nullable=True),
        sa.Column("revoked_reason", sa.String(32), nullable=True),
        sa.Column("first_viewed_at", UTCDateTime(), nullable=True),
        sa.Column("last_viewed_at", UTCDateTime(), nullable=True),
        sa.Column("view_count", sa.Integer(), nullable=False),
        sa.Column("view_seconds", sa.Integer(), nullable=False),
        sa.Column("signalled_at", UTCDateTime(), nullable=True),
        sa.Column("signal_id", sa.BigInteger(), nullable=True),
        sa.Column("replied_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_candidate_links"),
        sa.UniqueConstraint("token_hash", name="uq_candidate_links_token_hash"),
    )
    op.create_index("ix_candidate_links_candidate", "candidate_links", ["candidate_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_candidate_links_candidate", table_name="candidate_links")
    op.drop_table("candidate_links")
