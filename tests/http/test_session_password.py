"""Sign-in that lasts (issue 15): a person changes their own password (the other sessions end, this one
stays, a wrong current password is a failed sign-in), a one-time link leads someone without a password
to set one, behind a TLS-terminating proxy (RECALL_TRUSTED_PROXIES) the cookie is Secure and the lockout
counts the real client address, and ended sessions, failures and links do not pile up (SQLite and
PostgreSQL, through the Flask app; the proxy also over a real `recall serve`)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.support import PREFIX, bearer, make_app

PASSWORD = "correct horse battery"
NEW = "a whole new passphrase"


def _sign_in(client, name="hr.li", password=PASSWORD, **kw):
    return client.post(f"{PREFIX}/session", json={"name": name, "password": password}, **kw)


def _change(client, csrf, body, **kw):
    return client.post(f"{PREFIX}/session/password", json=body, headers={"X-CSRF-Token": csrf}, **kw)


def _audit(engine, kind):
    from engine.models import AuditEvent
    with engine.db.read_transaction() as s:
        return [(e.actor, e.details) for e in s.scalars(select(AuditEvent).where(AuditEvent.kind == kind)
                                                       .order_by(AuditEvent.id))]


def _count(engine, model) -> int:
    with engine.db.read_transaction() as s:
        return s.scalar(select(func.count()).select_from(model))


@pytest.fixture
def hr_password(engine, tokens):
    from engine.signin import set_password
    set_password(engine.db, "hr.li", PASSWORD)


def test_changing_ones_password_ends_the_other_sessions_and_keeps_this_one(app, engine, tokens, hr_password):
    here, elsewhere = app.test_client(), app.test_client()
    csrf = _sign_in(here).json["csrf_token"]
    assert _sign_in(elsewhere).status_code == 201
    # the cookie alone is not enough: a write needs the CSRF token
    assert here.post(f"{PREFIX}/session/password", json={"current_password": PASSWORD,
                                                         "new_password": NEW}).status_code == 403
    changed = _change(here, csrf, {"current_password": PASSWORD, "new_password": NEW})
    assert changed.status_code == 200, changed.json
    assert changed.json == {"sessions_ended": 1}
    assert here.get(f"{PREFIX}/session").status_code == 200              # this browser stays signed in
    assert elsewhere.get(f"{PREFIX}/session").status_code == 401         # the other one is signed out
    assert _sign_in(app.test_client()).status_code == 401                 # the old password is gone
    assert _sign_in(app.test_client(), password=NEW).status_code == 201
    (actor, details), = _audit(engine, "password_changed")
    assert actor == "hr.li" and details["sessions_ended"] == 1 and details["first"] is False
    assert details["address"] == "127.0.0.1"
    # an API token holder changes it too (no session to keep: all of them end), no CSRF header needed
    token_client = app.test_client()
    again = token_client.post(f"{PREFIX}/session/password", headers=bearer(tokens["hr.li"]),
                              json={"current_password": NEW, "new_password": PASSWORD})
    assert again.status_code == 200 and again.json["sessions_ended"] == 2
    assert here.get(f"{PREFIX}/session").status_code == 401


def test_wrong_missing_or_same_passwords_are_refused_naming_the_field_and_nothing_changes(
        app, engine, tokens, hr_password):
    client = app.test_client()
    csrf = _sign_in(client).json["csrf_token"]
    cases = [({"current_password": "not the password", "new_password": NEW}, "current_password", "wrong"),
             ({"new_password": NEW}, "current_password", "required"),
             ({"current_password": PASSWORD, "new_password": PASSWORD}, "new_password", "current one"),
             ({"current_password": PASSWORD, "new_password": "short"}, "new_password", "Length"),
             ({"current_password": PASSWORD}, "new_password", "Missing")]
    for body, field, words in cases:
        refused = _change(client, csrf, body)
        assert refused.status_code == 422, (body, refused.json)
        assert refused.mimetype == "application/problem+json"
        assert [e["field"] for e in refused.json["errors"]] == [field], refused.json
        assert words.lower() in refused.json["errors"][0]["message"].lower() or words in refused.json["detail"]
    assert client.get(f"{PREFIX}/session").status_code == 200             # a refusal signs nobody out
    assert _sign_in(app.test_client()).status_code == 201                 # the password is unchanged
    assert _audit(engine, "password_changed") == []
    # only the wrong one counted as a failed sign-in
    assert [d.get("during") for _, d in _audit(engine, "signin_failed")] == ["password_change"]


def test_guessing_the_current_password_is_locked_out_like_signing_in(app, engine, tokens, hr_password):
    client = app.test_client()
    csrf = _sign_in(client).json["csrf_token"]
    for _ in range(5):
        assert _change(client, csrf, {"current_password": "a guess!", "new_password": NEW}).status_code == 422
    locked = _change(client, csrf, {"current_password": PASSWORD, "new_password": NEW})
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 800
    assert _sign_in(app.test_client()).status_code == 429                 # the same lock as signing in
    assert [actor for actor, _ in _audit(engine, "signin_locked")] == ["hr.li"]
    signin = app.extensions["recall"].signin
    start = signin.clock()
    signin.clock = lambda: start + timedelta(minutes=16)
    assert _change(client, csrf, {"current_password": PASSWORD, "new_password": NEW}).status_code == 200


def test_after_a_one_time_link_someone_without_a_password_sets_one(app, engine, tokens):
    from engine.signin import issue_link
    link_client = app.test_client()
    first = link_client.post(f"{PREFIX}/session", json={"link_token": issue_link(engine.db, "mgr")})
    assert first.status_code == 201 and first.json["has_password"] is False
    csrf = first.json["csrf_token"]
    assert link_client.get(f"{PREFIX}/session").json["has_password"] is False
    short = _change(link_client, csrf, {"new_password": "123"})
    assert short.status_code == 422 and short.json["errors"][0]["field"] == "new_password"
    done = _change(link_client, csrf, {"new_password": NEW})
    assert done.status_code == 200 and done.json == {"sessions_ended": 0}
    assert link_client.get(f"{PREFIX}/session").json["has_password"] is True
    assert _audit(engine, "password_changed")[0][1]["first"] is True
    assert _sign_in(app.test_client(), name="mgr", password=NEW).status_code == 201
    # now that there is one, changing it needs it
    assert _change(link_client, csrf, {"new_password": "yet another one"}).status_code == 422


def test_ended_sessions_old_failures_and_expired_links_are_swept_on_write(app, engine, tokens, hr_password):
    from engine.models import SigninFailure, SigninLink, UserSession
    from engine.signin import issue_link, set_password
    signin = app.extensions["recall"].signin
    start = signin.clock()
    now = [start]
    signin.clock = lambda: now[0]
    set_password(engine.db, "mgr", PASSWORD)
    assert _sign_in(app.test_client(), name="mgr").status_code == 201
    for n in range(30):                                   # names that never come back, from many places
        _sign_in(app.test_client(), name=f"nobody{n}", environ_base={"REMOTE_ADDR": f"198.51.100.{n}"})
    for _ in range(5):                                    # hr.li is locked: kept while the lock lasts
        _sign_in(app.test_client(), password="wrong guess")
    assert _count(engine, SigninFailure) == 30 * 2 + 2
    issue_link(engine.db, "mgr", now=start - timedelta(days=2))           # expired long ago
    assert _count(engine, SigninLink) == 1
    assert _count(engine, UserSession) == 1

    idle = timedelta(minutes=app.extensions["recall"].settings.session_idle_minutes)
    now[0] = start + timedelta(minutes=10)
    _sign_in(app.test_client(), name="nobody0")           # the window has not passed: nothing goes
    assert _count(engine, SigninFailure) == 30 * 2 + 2

    now[0] = start + max(idle, timedelta(minutes=16)) + timedelta(minutes=1)
    _sign_in(app.test_client(), name="someone.new", environ_base={"REMOTE_ADDR": "192.0.2.1"})
    with engine.db.read_transaction() as s:
        keys = set(s.scalars(select(SigninFailure.key)))
    assert keys == {"user:someone.new", "address:192.0.2.1"}          # over, and the lock ended too
    assert _sign_in(app.test_client(), name="mgr").status_code == 201   # mgr's idle session goes
    with engine.db.read_transaction() as s:
        assert s.scalar(select(func.count()).select_from(UserSession)) == 1
    issue_link(engine.db, "mgr")
    assert _count(engine, SigninLink) == 1                               # the expired one went


# ---------------------------------------------------------------- behind a TLS-terminating proxy
@pytest.fixture
def proxied(database_url):
    from engine.signin import set_password
    from tests.support import add_people
    app = make_app(database_url, RECALL_TRUSTED_PROXIES="1")
    engine = app.extensions["recall"].engine
    add_people(engine)
    set_password(engine.db, "hr.li", PASSWORD)
    yield app
    engine.db.dispose()


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


def test_without_trusted_proxies_forwarded_headers_are_ignored(app, engine, tokens, hr_password):
    response = _sign_in(app.test_client(), headers=FORWARDED)
    assert response.status_code == 201 and "Secure" not in response.headers["Set-Cookie"]
    assert _audit(engine, "signed_in")[-1][1]["address"] == "127.0.0.1"
    # served over https itself: Secure without any proxy
    direct = _sign_in(app.test_client(), base_url="https://localhost")
    assert direct.status_code == 201 and "; Secure" in direct.headers["Set-Cookie"]


def test_behind_one_trusted_proxy_the_cookie_is_secure_and_lockouts_count_the_real_address(proxied):
    engine = proxied.extensions["recall"].engine
    response = _sign_in(proxied.test_client(), headers={**FORWARDED, "X-Forwarded-For": "10.9.9.9, 203.0.113.7"})
    assert response.status_code == 201 and "; Secure" in response.headers["Set-Cookie"]
    assert _audit(engine, "signed_in")[-1][1]["address"] == "203.0.113.7"   # the hop the proxy saw
    plain = _sign_in(proxied.test_client(), headers={"X-Forwarded-Proto": "http"})
    assert "Secure" not in plain.headers["Set-Cookie"]
    # twenty failures from one real client lock that address, whoever's name it tries ...
    for n in range(20):
        _sign_in(proxied.test_client(), name=f"guess{n}", password="nope nope nope", headers=FORWARDED)
    assert _sign_in(proxied.test_client(), headers=FORWARDED).status_code == 429
    # ... while another client behind the same proxy signs in
    other = _sign_in(proxied.test_client(), headers={**FORWARDED, "X-Forwarded-For": "203.0.113.8"})
    assert other.status_code == 201


def test_a_bad_trusted_proxies_value_is_refused_naming_the_variable():
    from engine.config import Settings
    with pytest.raises(ValueError, match="RECALL_TRUSTED_PROXIES='-1': expected an integer >= 0"):
        Settings.from_env({"RECALL_TRUSTED_PROXIES": "-1"})


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_recall_serve_behind_a_proxy_sets_secure_and_sees_the_client(kind, tmp_path):
    from engine.signin import set_password
    from tests.servers import Server, http, migrated_database
    from engine.db import Database

    with migrated_database(kind, tmp_path) as url:
        database = Database(url)
        from engine import users
        users.add_user(database, "hr.li", "hr")
        set_password(database, "hr.li", PASSWORD)
        database.dispose()
        body = {"name": "hr.li", "password": PASSWORD}
        with Server(url, tmp_path / "serve.log", RECALL_TRUSTED_PROXIES="1") as server:
            status, headers, _ = http("POST", f"{server.base}/session", body, headers=FORWARDED)
            assert status == 201 and "; Secure" in headers["Set-Cookie"]
        with Server(url, tmp_path / "serve0.log") as server:        # no proxy trusted: headers ignored
            status, headers, _ = http("POST", f"{server.base}/session", body, headers=FORWARDED)
            assert status == 201 and "Secure" not in headers["Set-Cookie"]
        database = Database(url)
        from engine.models import AuditEvent
        with database.read_transaction() as s:
            addresses = [e.details["address"] for e in s.scalars(
                select(AuditEvent).where(AuditEvent.kind == "signed_in").order_by(AuditEvent.id))]
        database.dispose()
        assert addresses == ["203.0.113.7", "127.0.0.1"]
