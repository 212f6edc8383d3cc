"""Recall likelihood: scorecards, trained models and their reports (issue 20): reserved in the chain so parallel work keeps one linear history; the
tables come with the change that needs them.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 12:00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
