"""ATS import (issue 20): import_mappings (a source's column mapping and choices, for next time),
import_runs (one file: its status and progress) and import_rows (each row as the dry run read it,
its errors per column, and what writing it did): engine/archive/import_models.py.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 12:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def UTCDateTime():
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "import_mappings",
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", name="pk_import_mappings"),
    )
    op.create_table(
        "import_runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("total_rows", sa.Integer(), nullable=False),
        sa.Column("valid_rows", sa.Integer(), nullable=False),
        sa.Column("rows_done", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("confirmed_by", sa.String(255), nullable=True),
        sa.Column("confirmed_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_import_runs"),
    )
    op.create_index("ix_import_runs_created", "import_runs", ["created_at"])
    op.create_table(
        "import_rows",
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("row_no", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("errors", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("result", sa.String(16), nullable=True),
        sa.Column("candidate_id", sa.String(36), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["run_id"], ["import_runs.id"], ondelete="CASCADE",
                                name="fk_import_rows_run_id_import_runs"),
        sa.PrimaryKeyConstraint("run_id", "row_no", name="pk_import_rows"),
    )
    op.create_index("ix_import_rows_status", "import_rows", ["run_id", "status", "row_no"])
    op.create_index("ix_import_rows_candidate", "import_rows", ["candidate_id"])


def downgrade() -> None:
    op.drop_index("ix_import_rows_candidate", table_name="import_rows")
    op.drop_index("ix_import_rows_status", table_name="import_rows")
    op.drop_table("import_rows")
    op.drop_index("ix_import_runs_created", table_name="import_runs")
    op.drop_table("import_runs")
    op.drop_table("import_mappings")
