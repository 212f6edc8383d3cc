"""Shared fixtures: every database test runs on SQLite and, when reachable, on PostgreSQL.

PostgreSQL: RECALL_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/test).
Each test gets its own schema, dropped afterwards. Set RECALL_TEST_POSTGRES=0 to skip it,
RECALL_TEST_POSTGRES=1 to make an unreachable server an error instead of a skip.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from engine.clock import SimulatedClock
from engine.db import Database
from tests.servers import migrated_database
from tests.support import HAND_OFF_MANAGERS, PEOPLE, PG_AVAILABLE, PG_URL, WORKFLOWS, app_with_workflows


def pytest_report_header(config):
    return f"databases: sqlite{', postgresql (' + PG_URL + ')' if PG_AVAILABLE else ' (postgresql unreachable: skipped)'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    """A migrated, empty database; yields its URL."""
    with migrated_database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def db(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def clock():
    return SimulatedClock(datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc))


@pytest.fixture
def engine(db, clock):
    from engine.archive import install
    from engine.channels.builtin import load_builtin
    from engine.service import RecallEngine

    engine = RecallEngine(db, clock=clock, script_timeout=0.5)
    install(engine)
    load_builtin()
    return engine


@pytest.fixture
def recall(engine):
    """The engine with the real workflows/ deployed by a process owner, and the hiring managers the
    scenarios hand candidates to in the user directory (the hand-off picker checks it)."""
    from engine import users

    engine.deploy([WORKFLOWS], actor="process.owner")
    for name in HAND_OFF_MANAGERS:
        users.add_user(engine.db, name, PEOPLE[name][0])
    return engine


@pytest.fixture
def api(database_url):
    """(app, engine, caller factory): the API on a simulated clock with workflows/ deployed and
    everyone in PEOPLE in the directory; `caller(name).post(path, json=...)` under /api/v1."""
    app, engine, caller = app_with_workflows(database_url)
    yield app, engine, caller
    engine.db.dispose()
