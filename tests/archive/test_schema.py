"""Migration 0004: the per-database full-text objects exist, and autogenerate ignores only them."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

from engine.migrate import target_metadata


def test_full_text_objects_exist_and_only_they_are_left_out_of_the_comparison(db):
    with db.engine.begin() as conn:
        if db.dialect == "sqlite":
            tables = set(inspect(conn).get_table_names())
            assert {"candidate_fts", "candidate_fts_data", "candidate_fts_idx"} <= tables
            triggers = set(conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type='trigger'").scalars())
            assert {"candidate_search_ai", "candidate_search_ad", "candidate_search_au"} <= triggers
        else:
            columns = {c["name"] for c in inspect(conn).get_columns("candidate_search")}
            assert "document_tsv" in columns
            indexes = {i["name"] for i in inspect(conn).get_indexes("candidate_search")}
            assert "ix_candidate_search_fts" in indexes
        conn.execute(text("CREATE TABLE candidate_ftsx_unrelated (id INTEGER PRIMARY KEY)"))
        diff = compare_metadata(MigrationContext.configure(conn), target_metadata())
    assert [(d[0], d[1].name) for d in diff] == [("remove_table", "candidate_ftsx_unrelated")]
