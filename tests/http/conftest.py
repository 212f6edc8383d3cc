"""API fixtures: an app on a migrated database (SQLite and PostgreSQL), the engine test
bundle deployed, a simulated clock, and one user per role.
"""
from __future__ import annotations

import pytest

from engine import users
from tests.support import ENGINE_BUNDLE

PREFIX = "/api/v1"
# name -> (role, groups); "hr.wang" is HR but only in group hrbp; "mgr" is the manager the
# approval process assigns its follow_up to (variable `manager`).
PEOPLE = {
    "root": ("admin", ()),
    "owner": ("process_owner", ()),
    "hr.li": ("hr", ()),
    "hr.wang": ("hr", ("hrbp",)),
    "mgr": ("manager", ()),
    "mgr2": ("manager", ()),
    "ats": ("integrator", ()),
}


def make_app(database_url: str, **config):
    from api import create_app
    return create_app({"RECALL_DATABASE_URL": database_url, "RECALL_CLOCK": "simulated",
                       "TESTING": True, **config})


def add_people(engine) -> dict[str, str]:
    return {name: users.add_user(engine.db, name, role, groups)[1] for name, (role, groups) in PEOPLE.items()}


def bearer(token: str, **headers) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **headers}


@pytest.fixture
def app(database_url):
    app = make_app(database_url)
    engine = app.extensions["recall"].engine
    engine.deploy([ENGINE_BUNDLE])
    yield app
    engine.db.dispose()


@pytest.fixture
def engine(app):
    return app.extensions["recall"].engine


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def tokens(engine):
    return add_people(engine)


@pytest.fixture
def as_user(client, tokens):
    """as_user("hr.li").post(path, json=...): requests with that user's token, paths under /api/v1."""
    class Caller:
        def __init__(self, name):
            self.headers = bearer(tokens[name])

        def __getattr__(self, method):
            def call(path, headers=None, **kwargs):
                return getattr(client, method)(PREFIX + path, headers={**self.headers, **(headers or {})},
                                               **kwargs)
            return call
    return Caller


def start_approval(caller, candidate_id="c-1", **extra):
    response = caller.post("/process-instances", json={"process_key": "approval",
                                                        "variables": {"candidate_id": candidate_id}, **extra})
    assert response.status_code == 201, response.json
    return response.json


REVIEW_YES = {"decision": "yes", "reason": "salary", "manager": "mgr"}
