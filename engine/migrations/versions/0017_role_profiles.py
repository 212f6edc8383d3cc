"""Role profiles: the facts behind the messages (issue 18): reserved in the chain so parallel work keeps one linear history; the
tables come with the change that needs them.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 12:00:00
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
