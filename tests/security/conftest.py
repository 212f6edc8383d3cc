"""Security suite fixtures: the real workflows/ deployed, one user per role, on SQLite and
PostgreSQL (the `engine`/`database_url` fixtures come from tests/conftest.py).

No __init__.py here (as tests/api): this directory must not shadow a real package. The archive
helpers are shared with tests/archive.
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
for path in (ROOT, ROOT / "tests" / "archive"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import pytest  # noqa: E402

from archive_helpers import PEOPLE, WORKFLOWS, Caller  # noqa: E402


@pytest.fixture
def recall(engine):
    """The engine with workflows/ deployed."""
    engine.deploy([WORKFLOWS], actor="process.owner")
    return engine


@pytest.fixture
def api(database_url):
    """(app, engine, caller factory): the API on a simulated clock with workflows/ deployed."""
    from api import create_app
    from engine import users

    app = create_app({"RECALL_DATABASE_URL": database_url, "RECALL_CLOCK": "simulated", "TESTING": True})
    engine = app.extensions["recall"].engine
    engine.deploy([WORKFLOWS], actor="process.owner")
    tokens = {name: users.add_user(engine.db, name, role, groups)[1] for name, (role, groups) in PEOPLE.items()}
    client = app.test_client()
    yield app, engine, (lambda name: Caller(client, tokens[name]))
    engine.db.dispose()
