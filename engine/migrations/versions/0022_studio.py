"""The process owner's studio (issue 19): studio_drafts (each person's drafts of the bundle),
studio_migration_runs (moves of running cases between versions; engine/studio/models.py) and the
change note of a deployed version (process_definitions.note).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 12:10:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def UTCDateTime():
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("process_definitions") as batch_op:
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=True))
    op.create_table(
        "studio_drafts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("based_on", sa.JSON(), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("forms", sa.JSON(), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("deployed_at", UTCDateTime(), nullable=True),
        sa.Column("deployed_versions", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_studio_drafts"),
    )
    op.create_index("ix_studio_drafts_owner", "studio_drafts", ["owner", "updated_at"])
    op.create_table(
        "studio_migration_runs",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("process_key", sa.String(255), nullable=False),
        sa.Column("from_version", sa.Integer(), nullable=False),
        sa.Column("to_version", sa.Integer(), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("timers", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("moved", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("results", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_studio_migration_runs"),
    )
    op.create_index("ix_studio_migration_runs_key", "studio_migration_runs", ["process_key", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_studio_migration_runs_key", table_name="studio_migration_runs")
    op.drop_table("studio_migration_runs")
    op.drop_index("ix_studio_drafts_owner", table_name="studio_drafts")
    op.drop_table("studio_drafts")
    with op.batch_alter_table("process_definitions") as batch_op:
        batch_op.drop_column("note")
