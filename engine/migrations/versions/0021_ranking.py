"""Recall likelihood (issue 20): candidate_scores (each candidate's score, reasons, the person's pin),
ranking_scorecards (the scorecard's versions) and ranking_models (trained models: coefficients as JSON
and their held-out report): engine/ranking_models.py.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 12:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def UTCDateTime():
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "candidate_scores",
        sa.Column("candidate_id", sa.String(36), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("rank_key", sa.BigInteger(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("role_keys", sa.JSON(), nullable=False),
        sa.Column("computed_at", UTCDateTime(), nullable=False),
        sa.Column("pinned_at", UTCDateTime(), nullable=True),
        sa.Column("pinned_by", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("candidate_id", name="pk_candidate_scores"),
    )
    op.create_index("ix_candidate_scores_rank", "candidate_scores", ["rank_key", "candidate_id"])
    op.create_table(
        "ranking_scorecards",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("intercept", sa.Float(), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("changed_by", sa.String(255), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_ranking_scorecards"),
    )
    op.create_table(
        "ranking_models",
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("intercept", sa.Float(), nullable=False),
        sa.Column("coefficients", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("trained_by", sa.String(255), nullable=False),
        sa.Column("trained_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("version", name="pk_ranking_models"),
    )


def downgrade() -> None:
    op.drop_table("ranking_models")
    op.drop_table("ranking_scorecards")
    op.drop_index("ix_candidate_scores_rank", table_name="candidate_scores")
    op.drop_table("candidate_scores")
