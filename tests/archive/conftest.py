"""Fixtures for the talent archive: the engine (SQLite and PostgreSQL, via tests/conftest.py) with
the real workflows/ deployed, a TalentArchive on it, and an API app with one user per role.
"""
from __future__ import annotations

import pytest

from tests.archive.archive_helpers import MANAGER, PEOPLE, WORKFLOWS, Caller


@pytest.fixture
def recall(engine):
    """The engine with workflows/ deployed (the fixture `engine` comes from tests/conftest.py), and the
    hiring manager of archive_helpers in the user directory (the hand-off picker checks it)."""
    from engine import users

    engine.deploy([WORKFLOWS], actor="process.owner")
    users.add_user(engine.db, MANAGER, "manager")
    return engine


@pytest.fixture
def archive(recall):
    from engine.archive import PrivacySettings, TalentArchive
    return TalentArchive(recall, settings=PrivacySettings(retention_days=180, renewal_days=30))


@pytest.fixture
def api(database_url):
    """(app, engine, caller factory): the API on a simulated clock with workflows/ deployed."""
    from api import create_app
    from engine import users

    app = create_app({"RECALL_DATABASE_URL": database_url, "RECALL_CLOCK": "simulated", "TESTING": True})
    engine = app.extensions["recall"].engine          # simulated clock at 2026-01-05 09:00 UTC
    engine.deploy([WORKFLOWS], actor="process.owner")
    tokens = {name: users.add_user(engine.db, name, role, groups)[1] for name, (role, groups) in PEOPLE.items()}
    client = app.test_client()
    yield app, engine, (lambda name: Caller(client, tokens[name]))
    engine.db.dispose()
