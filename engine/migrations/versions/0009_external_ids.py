"""The source systems' own ids of candidates and declines (candidate_external_ids): an ATS keeps
the archive in step by its ids (engine/archive/sync.py).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 05:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def UTCDateTime():
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "candidate_external_ids",
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=False),
        sa.Column("candidate_id", sa.String(36), nullable=False),
        sa.Column("decline_id", sa.String(36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"],
                                name="fk_candidate_external_ids_candidate_id_candidates"),
        sa.PrimaryKeyConstraint("source", "kind", "external_id", name="pk_candidate_external_ids"),
    )
    op.create_index("ix_candidate_external_ids_candidate_id", "candidate_external_ids", ["candidate_id"])


def downgrade() -> None:
    op.drop_index("ix_candidate_external_ids_candidate_id", table_name="candidate_external_ids")
    op.drop_table("candidate_external_ids")
