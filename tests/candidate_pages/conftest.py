"""Fixtures for the candidate pages (issue 18): the archive and the links on `recall` (tests/conftest.py:
the engine with the real workflows/ deployed, SQLite and PostgreSQL, a simulated clock)."""
from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from tests.support import app_with_workflows


@pytest.fixture
def archive(recall):
    from engine.archive import PrivacySettings, TalentArchive
    return TalentArchive(recall, settings=PrivacySettings(retention_days=180, renewal_days=30))


@pytest.fixture
def links(recall):
    from engine.candidate_pages.service import CandidateLinks
    return CandidateLinks(recall)


@pytest.fixture
def consenting(archive):
    """A candidate with a talent-pool consent until 2027-01-05 (the clock starts at 2026-01-05)."""
    from tests.support import HR
    return archive.create_candidate({"name": "林一", "role_applied": "后端工程师", "consent": {
        "granted": True, "scope": "similar_roles", "expires_at": "2027-01-05"}}, actor=HR)


@pytest.fixture
def site(database_url):
    """(engine, caller factory, base URL): the app on a real HTTP server (werkzeug, a thread), public URL set."""
    app, engine, caller = app_with_workflows(database_url, RECALL_PUBLIC_URL="https://recall.example.com")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield engine, caller, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        engine.db.dispose()
