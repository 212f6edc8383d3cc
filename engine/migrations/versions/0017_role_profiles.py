"""Role profiles: the facts behind the messages (issue 18): role_profiles (one row per role, team and
location scope), role_profile_versions (append-only, with effective dates), role_aliases (free-text role
names) and open_positions (openings per role now): engine/role_models.py.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 12:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def UTCDateTime():
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "role_profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope_key", sa.String(400), nullable=False),
        sa.Column("role_key", sa.String(64), nullable=False),
        sa.Column("team", sa.String(128), nullable=True),
        sa.Column("location", sa.String(128), nullable=True),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_role_profiles"),
        sa.UniqueConstraint("scope_key", name="uq_role_profiles_scope_key"),
    )
    op.create_index("ix_role_profiles_role_key", "role_profiles", ["role_key"])
    op.create_table(
        "role_profile_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("title", sa.JSON(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("changed_by", sa.String(255), nullable=False),
        sa.Column("changed_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["profile_id"], ["role_profiles.id"], ondelete="CASCADE",
                                name="fk_role_profile_versions_profile_id_role_profiles"),
        sa.PrimaryKeyConstraint("id", name="pk_role_profile_versions"),
        sa.UniqueConstraint("profile_id", "version", name="uq_role_profile_versions_profile_version"),
    )
    op.create_index("ix_role_profile_versions_in_force", "role_profile_versions", ["profile_id", "effective_from"])
    op.create_table(
        "role_aliases",
        sa.Column("alias_key", sa.String(255), nullable=False),
        sa.Column("alias", sa.String(255), nullable=False),
        sa.Column("role_key", sa.String(64), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("alias_key", name="pk_role_aliases"),
    )
    op.create_index("ix_role_aliases_role_key", "role_aliases", ["role_key"])
    op.create_table(
        "open_positions",
        sa.Column("role_key", sa.String(64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("updated_by", sa.String(255), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("role_key", name="pk_open_positions"),
    )


def downgrade() -> None:
    op.drop_table("open_positions")
    op.drop_index("ix_role_aliases_role_key", table_name="role_aliases")
    op.drop_table("role_aliases")
    op.drop_index("ix_role_profile_versions_in_force", table_name="role_profile_versions")
    op.drop_table("role_profile_versions")
    op.drop_index("ix_role_profiles_role_key", table_name="role_profiles")
    op.drop_table("role_profiles")
