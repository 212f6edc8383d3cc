"""Signed candidate links: the growth page and the new hire's goals page (issue 18): reserved in the chain so parallel work keeps one linear history; the
tables come with the change that needs them.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 12:00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
