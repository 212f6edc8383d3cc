"""Talent archive: candidates, declines, signals, consent history, tags, search.

Full text per database (not expressible in the models, see engine/archive/schema_objects.py):
SQLite gets an external-content FTS5 table `candidate_fts` over `candidate_search.document`,
kept in step by triggers; PostgreSQL gets a stored column `document_tsv` =
to_tsvector('simple', document) with a GIN index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:00:00
"""
from alembic import op
import sqlalchemy as sa

# Frozen column types (migrations never import the models they migrate).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def UTCDateTime():
    return sa.DateTime(timezone=True)


revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SQLITE_FTS = [
    "CREATE VIRTUAL TABLE candidate_fts USING fts5("
    "document, content='candidate_search', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER candidate_search_ai AFTER INSERT ON candidate_search BEGIN "
    "INSERT INTO candidate_fts(rowid, document) VALUES (new.id, new.document); END",
    "CREATE TRIGGER candidate_search_ad AFTER DELETE ON candidate_search BEGIN "
    "INSERT INTO candidate_fts(candidate_fts, rowid, document) VALUES ('delete', old.id, old.document); END",
    "CREATE TRIGGER candidate_search_au AFTER UPDATE ON candidate_search BEGIN "
    "INSERT INTO candidate_fts(candidate_fts, rowid, document) VALUES ('delete', old.id, old.document); "
    "INSERT INTO candidate_fts(rowid, document) VALUES (new.id, new.document); END",
]
POSTGRES_FTS = [
    # stored, so that matching (and the recheck of phrase queries) never recomputes it
    "ALTER TABLE candidate_search ADD COLUMN document_tsv tsvector "
    "GENERATED ALWAYS AS (to_tsvector('simple', document)) STORED",
    "CREATE INDEX ix_candidate_search_fts ON candidate_search USING gin (document_tsv)",
]


def upgrade() -> None:
    op.create_table(
        "candidates",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("phone", sa.String(64), nullable=True),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("wecom_external_id", sa.String(255), nullable=True),
        sa.Column("role_applied", sa.String(255), nullable=True),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("open_questions", sa.JSON(), nullable=False),
        sa.Column("interview_trail", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("listed_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("consent_granted", sa.Boolean(), nullable=False),
        sa.Column("consent_scope", sa.String(32), nullable=True),
        sa.Column("consent_source", sa.String(255), nullable=True),
        sa.Column("consent_expires_at", UTCDateTime(), nullable=True),
        sa.Column("consent_withdrawn_at", UTCDateTime(), nullable=True),
        sa.Column("consent_recorded_at", UTCDateTime(), nullable=True),
        sa.Column("consent_renewal_requested_at", UTCDateTime(), nullable=True),
        sa.Column("consent_lapsed_at", UTCDateTime(), nullable=True),
        sa.Column("retention_from", UTCDateTime(), nullable=True),
        sa.Column("anonymised_at", UTCDateTime(), nullable=True),
        sa.Column("anonymised_reason", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_candidates"),
    )
    live = sa.text("anonymised_at IS NULL")
    op.create_index("ix_candidate_listing", "candidates", ["listed_at", "id"], sqlite_where=live,
                    postgresql_where=live)
    op.create_index("ix_candidate_live", "candidates", ["id", "listed_at"], sqlite_where=live,
                    postgresql_where=live)
    op.create_index("ix_candidates_role_applied", "candidates", ["role_applied"])
    op.create_index("ix_candidates_consent_expires_at", "candidates", ["consent_expires_at"])
    op.create_index("ix_candidates_retention_from", "candidates", ["retention_from"])

    op.create_table(
        "candidate_tags",
        sa.Column("candidate_id", sa.String(36), nullable=False),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"],
                                name="fk_candidate_tags_candidate_id_candidates"),
        sa.PrimaryKeyConstraint("candidate_id", "tag", name="pk_candidate_tags"),
    )
    op.create_index("ix_candidate_tag_lookup", "candidate_tags", ["tag", "candidate_id"])

    op.create_table(
        "candidate_declines",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("candidate_id", sa.String(36), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("decline_date", UTCDateTime(), nullable=False),
        sa.Column("role", sa.String(255), nullable=True),
        sa.Column("hiring_manager", sa.String(255), nullable=True),
        sa.Column("needs", sa.JSON(), nullable=False),
        sa.Column("open_questions", sa.JSON(), nullable=False),
        sa.Column("lang", sa.String(8), nullable=False),
        sa.Column("instance_id", sa.String(36), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"],
                                name="fk_candidate_declines_candidate_id_candidates"),
        sa.PrimaryKeyConstraint("id", name="pk_candidate_declines"),
    )
    op.create_index("ix_decline_reason_date", "candidate_declines", ["reason", "decline_date", "candidate_id"])
    op.create_index("ix_decline_candidate", "candidate_declines", ["candidate_id", "reason", "decline_date"])
    op.create_index("ix_decline_date", "candidate_declines", ["decline_date", "candidate_id"])
    op.create_index("ix_decline_role", "candidate_declines", ["role", "candidate_id"])
    op.create_index("ix_candidate_declines_instance_id", "candidate_declines", ["instance_id"])

    op.create_table(
        "candidate_signals",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("candidate_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("source", sa.String(255), nullable=True),
        sa.Column("consent_noted", sa.Boolean(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(255), nullable=False),
        sa.Column("delivered_to", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"],
                                name="fk_candidate_signals_candidate_id_candidates"),
        sa.PrimaryKeyConstraint("id", name="pk_candidate_signals"),
    )
    op.create_index("ix_candidate_signals_candidate_id", "candidate_signals", ["candidate_id"])

    op.create_table(
        "candidate_consents",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("candidate_id", sa.String(36), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("scope", sa.String(32), nullable=True),
        sa.Column("source", sa.String(255), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("withdrawn_at", UTCDateTime(), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("recorded_by", sa.String(255), nullable=False),
        sa.Column("audit_event_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"],
                                name="fk_candidate_consents_candidate_id_candidates"),
        sa.PrimaryKeyConstraint("id", name="pk_candidate_consents"),
        sa.UniqueConstraint("audit_event_id", name="uq_candidate_consents_audit_event_id"),
    )
    op.create_index("ix_candidate_consents_candidate_id", "candidate_consents", ["candidate_id"])

    op.create_table(
        "candidate_search",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("candidate_id", sa.String(36), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["candidate_id"], ["candidates.id"],
                                name="fk_candidate_search_candidate_id_candidates"),
        sa.PrimaryKeyConstraint("id", name="pk_candidate_search"),
        sa.UniqueConstraint("candidate_id", name="uq_candidate_search_candidate_id"),
    )

    op.create_table(
        "archive_cursors",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("last_event_id", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_archive_cursors"),
    )

    dialect = op.get_bind().dialect.name
    for statement in SQLITE_FTS if dialect == "sqlite" else POSTGRES_FTS if dialect == "postgresql" else []:
        op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("candidate_search_ai", "candidate_search_ad", "candidate_search_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS candidate_fts")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_candidate_search_fts")
        op.execute("ALTER TABLE candidate_search DROP COLUMN IF EXISTS document_tsv")
    op.drop_table("archive_cursors")
    op.drop_table("candidate_search")
    op.drop_index("ix_candidate_consents_candidate_id", table_name="candidate_consents")
    op.drop_table("candidate_consents")
    op.drop_index("ix_candidate_signals_candidate_id", table_name="candidate_signals")
    op.drop_table("candidate_signals")
    for index in ("ix_candidate_declines_instance_id", "ix_decline_role", "ix_decline_date",
                  "ix_decline_candidate", "ix_decline_reason_date"):
        op.drop_index(index, table_name="candidate_declines")
    op.drop_table("candidate_declines")
    op.drop_index("ix_candidate_tag_lookup", table_name="candidate_tags")
    op.drop_table("candidate_tags")
    for index in ("ix_candidates_retention_from", "ix_candidates_consent_expires_at",
                  "ix_candidates_role_applied", "ix_candidate_live", "ix_candidate_listing"):
        op.drop_index(index, table_name="candidates")
    op.drop_table("candidates")
