"""API fixtures: an app on a migrated database (SQLite and PostgreSQL), the engine test bundle
deployed, a simulated clock, and everyone in tests.support.PEOPLE (one user per role at least)."""
from __future__ import annotations

import pytest

from tests.support import ENGINE_BUNDLE, Caller, add_people, make_app


@pytest.fixture(scope="session")
def generated_client(tmp_path_factory):
    """The typed client openapi-python-client generates from the public document, made once per
    session (tests/http/generated_client.py)."""
    from tests.http.generated_client import GeneratedClient, generate
    from tests.http.openapi_compat import current_document

    client = GeneratedClient(generate(current_document(), tmp_path_factory.mktemp("generated_client")))
    yield client
    client.close()


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
    return lambda name: Caller(client, tokens[name])
