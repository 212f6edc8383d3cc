"""`recall users`: tokens are printed once, stored as sha256 only, and can be replaced or revoked."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from tests.support import PREFIX, bearer, make_app


def _recall(database_url, *args):
    from cli import main
    return CliRunner().invoke(main, list(args), env={"RECALL_DATABASE_URL": database_url}, catch_exceptions=False)


def test_add_prints_the_token_last_and_stores_only_its_hash(database_url, db):
    from engine.models import ApiToken, User
    result = _recall(database_url, "users", "add", "hr.li", "--role", "hr", "--group", "hr", "--group", "hrbp")
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    with db.read_transaction() as s:
        row = s.scalar(select(User).where(User.name == "hr.li"))
        stored = s.scalar(select(ApiToken).where(ApiToken.user_id == row.id))
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in stored.token_hash
    assert (stored.name, stored.scope, stored.expires_at) == ("default", "write", None)
    assert row.token_hash != stored.token_hash          # the old column holds a placeholder only
    assert (row.role, row.groups) == ("hr", ["hr", "hrbp"])
    listing = _recall(database_url, "users", "list").output
    assert "hr.li\thr\thr,hrbp" in listing and token not in listing


def test_default_groups_and_bad_input(database_url):
    from engine.users import list_users
    assert _recall(database_url, "users", "add", "mgr", "--role", "manager").exit_code == 0
    assert _recall(database_url, "users", "add", "mgr", "--role", "manager").exit_code == 1   # exists
    assert _recall(database_url, "users", "add", "x", "--role", "boss").exit_code == 2       # no such role
    assert _recall(database_url, "users", "add", "bad name", "--role", "hr").exit_code == 1
    from engine.db import Database
    database = Database(database_url)
    assert [(u.name, u.groups) for u in list_users(database)] == [("mgr", ("hiring_manager",))]
    database.dispose()


def test_a_new_token_replaces_the_old_and_removal_revokes(database_url):
    app = make_app(database_url, RECALL_TOKEN_CACHE_SECONDS=0)      # no cache: revocation is immediate
    client = app.test_client()
    old = _recall(database_url, "users", "add", "ats", "--role", "integrator").output.strip().splitlines()[-1]
    assert client.get(f"{PREFIX}/process-instances", headers=bearer(old)).status_code == 200
    new = _recall(database_url, "users", "token", "ats").output.strip().splitlines()[-1]
    assert client.get(f"{PREFIX}/process-instances", headers=bearer(old)).status_code == 401
    assert client.get(f"{PREFIX}/process-instances", headers=bearer(new)).status_code == 200
    assert _recall(database_url, "users", "remove", "ats").exit_code == 0
    assert client.get(f"{PREFIX}/process-instances", headers=bearer(new)).status_code == 401
    app.extensions["recall"].engine.db.dispose()


def test_with_the_token_cache_revocation_takes_effect_within_its_ttl(database_url):
    """The default cache (RECALL_TOKEN_CACHE_SECONDS) saves the token lookup on most requests;
    a replaced or removed token keeps working in a process that cached it for at most that long."""
    app = make_app(database_url, RECALL_TOKEN_CACHE_SECONDS=10)
    cache = app.extensions["recall"].tokens
    now = [1000.0]
    cache.clock = lambda: now[0]
    client = app.test_client()
    old = _recall(database_url, "users", "add", "ats", "--role", "integrator").output.strip().splitlines()[-1]
    assert client.get(f"{PREFIX}/process-instances", headers=bearer(old)).status_code == 200
    new = _recall(database_url, "users", "token", "ats").output.strip().splitlines()[-1]
    now[0] += 9.9
    assert client.get(f"{PREFIX}/process-instances", headers=bearer(old)).status_code == 200   # cached
    assert client.get(f"{PREFIX}/process-instances", headers=bearer(new)).status_code == 200   # new works at once
    now[0] += 0.2
    assert client.get(f"{PREFIX}/process-instances", headers=bearer(old)).status_code == 401   # expired entry
    assert _recall(database_url, "users", "remove", "ats").exit_code == 0
    assert client.get(f"{PREFIX}/process-instances", headers=bearer(new)).status_code == 200   # cached 0.2 s ago
    now[0] += 10
    assert client.get(f"{PREFIX}/process-instances", headers=bearer(new)).status_code == 401
    app.extensions["recall"].engine.db.dispose()


def test_token_cache_keeps_only_found_users_and_is_bounded(database_url, db):
    from engine.users import TokenCache, add_user
    tokens = [add_user(db, f"u{i}", "hr")[1] for i in range(5)]
    cache = TokenCache(60, max_entries=3)
    assert cache.authenticate(db, "not-a-token") is None
    assert [cache.authenticate(db, t).name for t in tokens] == [f"u{i}" for i in range(5)]
    assert len(cache._entries) == 3                         # the two least recently used were dropped
    assert cache.authenticate(db, None) is None and cache.authenticate(db, "x" * 300) is None
    assert len(cache._entries) == 3


@pytest.fixture
def app_for_users(database_url):
    app = make_app(database_url)
    yield app
    app.extensions["recall"].engine.db.dispose()


def test_remove_deactivates_someone_the_history_names_and_a_prompted_password_signs_in(database_url, app_for_users):
    from engine.signin import Signin
    from engine.users import list_users
    engine = app_for_users.extensions["recall"].engine
    from cli import main
    prompted = CliRunner().invoke(
        main, ["users", "add", "li.hr", "--role", "hr", "--display-name", "李 HR", "--password-prompt"],
        input="a long password\na long password\n", env={"RECALL_DATABASE_URL": database_url})
    assert prompted.exit_code == 0, prompted.output
    assert Signin(engine, timedelta(minutes=5)).with_password("li.hr", "a long password", address=None).user.name == "li.hr"
    weak = CliRunner().invoke(main, ["users", "add", "short", "--role", "hr", "--password-prompt"],
                              input="2short\n2short\n", env={"RECALL_DATABASE_URL": database_url})
    assert weak.exit_code == 1 and "10 to 1024 characters" in weak.output
    assert _recall(database_url, "users", "add", "new.one", "--role", "manager").exit_code == 0
    assert _recall(database_url, "users", "remove", "new.one").output.strip() == "user new.one removed"
    removed = _recall(database_url, "users", "remove", "li.hr")        # signed in: the audit trail names them
    assert removed.exit_code == 0 and "deactivated" in removed.output
    assert [(u.name, u.active) for u in list_users(engine.db)] == [("li.hr", False)]
    assert _recall(database_url, "users", "activate", "li.hr").exit_code == 0
    assert [u.active for u in list_users(engine.db)] == [True]
