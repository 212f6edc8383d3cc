"""Password and link sign-in for people: the session cookie, CSRF, lockout, idle expiry, sign-out,
deactivation, and the directory for pickers (SQLite and PostgreSQL, through the Flask app)."""
from __future__ import annotations

from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import select

from tests.support import PREFIX, bearer

PASSWORD = "correct horse battery"


def _setup(app, tokens, name="hr.li"):
    from engine.signin import set_password
    set_password(app.extensions["recall"].engine.db, name, PASSWORD)
    return app.extensions["recall"].signin


def _sign_in(client, name="hr.li", password=PASSWORD, **kw):
    return client.post(f"{PREFIX}/session", json={"name": name, "password": password}, **kw)


def _audit(engine, kind):
    from engine.models import AuditEvent
    with engine.db.read_transaction() as s:
        return [(e.actor, e.details) for e in s.scalars(select(AuditEvent).where(AuditEvent.kind == kind))]


def test_sign_in_sets_a_strict_httponly_cookie_and_unsafe_requests_need_the_csrf_token(app, client, engine, tokens):
    _setup(app, tokens)
    response = _sign_in(client)
    assert response.status_code == 201, response.json
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("recall_session=") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/api/v1" in cookie and "Secure" not in cookie           # http: Secure only on https
    csrf = response.json["csrf_token"]
    assert response.json["user"]["name"] == "hr.li" and "email" not in response.json["user"]
    session_id = cookie.split(";")[0].split("=", 1)[1]
    from engine.models import UserSession
    with engine.db.read_transaction() as s:                              # only the hash is stored
        assert [r.id_hash for r in s.scalars(select(UserSession))] != [session_id]
    # a new tab: no token, the cookie alone reads, and GET /session gives the CSRF token again
    again = client.get(f"{PREFIX}/session")
    assert again.status_code == 200 and again.json["csrf_token"] == csrf
    assert client.get(f"{PREFIX}/users/me").json["name"] == "hr.li"
    refused = client.post(f"{PREFIX}/tasks/nope/claim")
    assert refused.status_code == 403 and refused.json["type"].endswith(":csrf")
    wrong = client.post(f"{PREFIX}/tasks/nope/claim", headers={"X-CSRF-Token": "f" * 64 if csrf != "f" * 64 else "0" * 64})
    assert wrong.status_code == 403
    assert client.post(f"{PREFIX}/tasks/nope/claim", headers={"X-CSRF-Token": csrf}).status_code == 404
    assert _audit(engine, "signed_in")[0][0] == "hr.li"
    # API tokens work exactly as before: no cookie, no CSRF header
    other = app.test_client()
    assert other.post(f"{PREFIX}/tasks/nope/claim", headers=bearer(tokens["hr.li"])).status_code == 404
    assert other.get(f"{PREFIX}/session").status_code == 401


def test_wrong_password_and_unknown_user_get_one_answer_and_five_failures_lock(app, client, engine, tokens):
    _setup(app, tokens)
    wrong = _sign_in(client, password="not the password")
    unknown = _sign_in(client, name="nobody", password="not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json["detail"] == unknown.json["detail"] and "Set-Cookie" not in wrong.headers
    for _ in range(4):
        assert _sign_in(client, password="still wrong").status_code == 401
    locked = _sign_in(client)                                            # the right password, but locked
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 800
    assert [actor for actor, _ in _audit(engine, "signin_locked")] == ["hr.li"]
    assert len(_audit(engine, "signin_failed")) == 6
    # another user from the same address is not locked (the address limit is higher)
    _setup(app, tokens, "hr.wang")
    assert _sign_in(client, name="hr.wang").status_code == 201
    signin = app.extensions["recall"].signin
    start = signin.clock()
    signin.clock = lambda: start + timedelta(minutes=16)                 # the lockout is over
    assert _sign_in(client).status_code == 201


def test_a_session_ends_after_the_idle_limit_and_on_sign_out(app, client, engine, tokens):
    signin = _setup(app, tokens)
    start = signin.clock()
    now = [start]
    signin.clock = lambda: now[0]
    csrf = _sign_in(client).json["csrf_token"]
    idle = timedelta(minutes=app.extensions["recall"].settings.session_idle_minutes)
    now[0] = start + idle - timedelta(minutes=1)
    assert client.get(f"{PREFIX}/session").status_code == 200           # used: the idle clock restarts
    now[0] = start + 2 * idle - timedelta(minutes=2)
    assert client.get(f"{PREFIX}/session").status_code == 200
    now[0] += idle + timedelta(minutes=1)
    assert client.get(f"{PREFIX}/session").status_code == 401
    # signing in again removes the session that idled out
    csrf = _sign_in(client).json["csrf_token"]
    from engine.models import UserSession
    with engine.db.read_transaction() as s:
        assert len(s.scalars(select(UserSession)).all()) == 1
    # sign-out: needs the CSRF token, then the session is gone at once
    assert client.delete(f"{PREFIX}/session").status_code == 403
    out = client.delete(f"{PREFIX}/session", headers={"X-CSRF-Token": csrf})
    assert out.status_code == 204 and "recall_session=;" in out.headers["Set-Cookie"]
    assert _audit(engine, "signed_out")[0][0] == "hr.li"
    assert client.get(f"{PREFIX}/session").status_code == 401


def test_a_sign_in_link_works_once_and_the_cli_prints_it(app, client, engine, database_url):
    from cli import main
    result = CliRunner().invoke(main, ["users", "add", "wang.jl", "--role", "manager", "--display-name", "王经理",
                                       "--email", "wang@example.com", "--link"],
                                env={"RECALL_DATABASE_URL": database_url}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    link = result.output.strip().splitlines()[-1]
    assert link.startswith("/app/signin#token=")
    token = link.split("#token=", 1)[1]
    first = client.post(f"{PREFIX}/session", json={"link_token": token})
    assert first.status_code == 201 and first.json["user"]["display_name"] == "王经理"
    assert app.test_client().post(f"{PREFIX}/session", json={"link_token": token}).status_code == 401
    mixed = client.post(f"{PREFIX}/session", json={"link_token": token, "name": "wang.jl"})
    assert mixed.status_code == 422 and mixed.json["errors"][0]["field"] == "link_token"
    listing = CliRunner().invoke(main, ["users", "list"], env={"RECALL_DATABASE_URL": database_url}).output
    assert "wang.jl\tmanager\thiring_manager\t王经理\tactive" in listing and token not in listing


def test_deactivated_users_cannot_act_and_pickers_skip_them(app, client, engine, tokens):
    from engine.users import set_active
    _setup(app, tokens, "zhao.min")
    csrf_client = app.test_client()
    assert _sign_in(csrf_client, name="zhao.min").status_code == 201
    hr = {"Authorization": f"Bearer {tokens['hr.li']}"}
    managers = client.get(f"{PREFIX}/users?group=hiring_manager&active=true", headers=hr).json["items"]
    assert "zhao.min" in [u["name"] for u in managers]
    assert set(managers[0]) == {"name", "display_name", "role", "groups", "active"}     # no email, no token
    set_active(engine.db, "zhao.min", False)
    managers = client.get(f"{PREFIX}/users?group=hiring_manager&active=true", headers=hr).json["items"]
    assert "zhao.min" not in [u["name"] for u in managers]
    assert csrf_client.get(f"{PREFIX}/session").status_code == 401                      # session ended
    app.extensions["recall"].tokens.clear()
    assert client.get(f"{PREFIX}/users/me", headers=bearer(tokens["zhao.min"])).status_code == 401
    assert _sign_in(app.test_client(), name="zhao.min").status_code == 401
    bad = client.get(f"{PREFIX}/users?active=maybe", headers=hr)
    assert bad.status_code == 422
