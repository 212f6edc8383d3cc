"""Security suite fixtures: the real workflows/ deployed, one user per role, on SQLite and
PostgreSQL (the `engine`/`database_url` fixtures come from tests/conftest.py).
The archive helpers are shared with tests/archive.
"""
from __future__ import annotations

import pytest

from tests.archive.archive_helpers import PEOPLE, WORKFLOWS, Caller


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
