"""The Alembic migrations create exactly the schema the models describe."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from engine.migrate import target_metadata


def test_migrated_schema_matches_the_models(db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        diff = compare_metadata(context, target_metadata())
    assert diff == []
    tables = set(inspect(db.engine).get_table_names())
    assert set(target_metadata().tables) <= tables and "alembic_version" in tables


def test_upgrade_twice_is_harmless(db):
    from engine.migrate import upgrade
    upgrade(db)
    upgrade(db)


def _filled_by_migration(db, before: str, field: str, values: dict, derived: str) -> dict:
    """Candidates written at revision `before` with `field` = values[id], then the migrations up
    to the head: each candidate's `derived` column (id -> value)."""
    from datetime import datetime, timezone

    import sqlalchemy as sa
    from alembic import command

    from engine.migrate import alembic_config

    def to(revision, step):
        cfg = alembic_config(str(db.engine.url))
        with db.engine.begin() as connection:
            cfg.attributes["connection"] = connection
            step(cfg, revision)

    to(before, command.downgrade)
    assert derived not in {c["name"] for c in inspect(db.engine).get_columns("candidates")}
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    candidates = sa.table("candidates", *(sa.column(n) for n in (
        "id", "name", field, "listed_at", "created_at", "updated_at", "created_by", "consent_granted")),
        sa.column("needs", sa.JSON), sa.column("open_questions", sa.JSON), sa.column("interview_trail", sa.JSON))
    with db.engine.begin() as conn:
        conn.execute(candidates.insert(), [
            {"id": key, "name": f"旧{key}", field: value, "listed_at": now, "created_at": now, "updated_at": now,
             "created_by": "hr", "consent_granted": False, "needs": [], "open_questions": [], "interview_trail": []}
            for key, value in values.items()])
    to("head", command.upgrade)
    with db.engine.connect() as conn:
        return dict(conn.execute(sa.text(f"SELECT id, {derived} FROM candidates")).all())


def test_0011_fills_the_phone_digits_of_existing_candidates(db):
    """Rows written before 0011 get their phone's digits (no +86/0086), found by the duplicate check."""
    from engine.archive import records

    filled = _filled_by_migration(db, "0010", "phone", {"a": "+86 137-0000-1234", "b": "0086 13800001111",
                                                         "c": None, "d": "分机"}, "phone_digits")
    assert filled == {"a": "13700001234", "b": "13800001111", "c": None, "d": None}
    with db.write_transaction() as s:
        assert [d.id for d in records.duplicates(s, {"phone": "137 0000 1234"})] == ["a"]


def test_the_duplicate_indexes_migration_fills_the_email_key_of_existing_candidates(db):
    """Rows written before the migration that indexes the duplicate check get their email's key
    (trimmed, lower case), found by the check; the name and role are indexed too."""
    from alembic.script import ScriptDirectory

    from engine.archive import records
    from engine.migrate import alembic_config

    ours = next(r for r in ScriptDirectory.from_config(alembic_config(str(db.engine.url))).walk_revisions()
                if r.path.endswith("_candidate_duplicate_indexes.py"))
    filled = _filled_by_migration(db, ours.down_revision, "email", {
        "a": " Wang.Li@Example.COM ", "b": "x@y.cn", "c": None, "d": "  "}, "email_key")
    assert filled == {"a": "wang.li@example.com", "b": "x@y.cn", "c": None, "d": None}
    assert {"ix_candidate_email_key", "ix_candidate_name_role"} <= {
        i["name"] for i in inspect(db.engine).get_indexes("candidates")}
    with db.write_transaction() as s:
        assert [d.id for d in records.duplicates(s, {"email": "wang.li@example.com"})] == ["a"]
        assert [d.matched_on for d in records.duplicates(s, {"name": "旧b", "role_applied": None,
                                                             "email": "X@Y.CN"})] == [("email",)]
