"""The process owner's studio (issue 19): reserved in the chain so parallel work keeps one linear
history; the tables come with the change that needs them.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 12:10:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
