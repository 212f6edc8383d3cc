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
