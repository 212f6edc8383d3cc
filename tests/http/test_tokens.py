"""API tokens (issue 16): several per user, named, scoped, maybe expiring; issued and revoked by an
admin over the API (the secret shown once, stored hashed) and with `recall users token`; rotation
overlaps; a revoked or expired token is refused at once; audited without the secret."""
from __future__ import annotations

import hashlib
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import select, text

from tests.support import PREFIX, bearer, database_text


def _tokens(caller, user="ats"):
    return caller("root").get(f"/users/{user}/tokens")


def _issue(caller, user="ats", **body):
    return caller("root").post(f"/users/{user}/tokens", json=body)


def test_rotation_overlaps_and_a_revoked_token_is_refused_at_once(api):
    app, engine, caller = api
    client = app.test_client()
    [default] = _tokens(caller).json["items"]
    assert (default["name"], default["scope"], default["expires_at"], default["expired"]) == ("default", "write", None, False)
    new = _issue(caller, name="ats-2026-01")
    assert new.status_code == 201, new.json
    secret = new.json["token"]
    assert (new.json["user"], new.json["scope"], new.json["created_by"]) == ("ats", "write", "root")
    assert client.get(f"{PREFIX}/process-instances", headers=bearer(secret)).status_code == 200    # new works
    assert caller("ats").get("/process-instances").status_code == 200                              # old too
    listed = _tokens(caller).json["items"]
    assert sorted(t["name"] for t in listed) == ["ats-2026-01", "default"] and all("token" not in t for t in listed)
    assert caller("root").delete(f"/users/ats/tokens/{default['id']}").status_code == 204
    assert caller("ats").get("/process-instances").status_code == 401                              # at once
    assert client.get(f"{PREFIX}/process-instances", headers=bearer(secret)).status_code == 200
    assert [t["id"] for t in _tokens(caller).json["items"]] == [new.json["id"]]
    with engine.db.read_transaction() as s:
        from engine.models import ApiToken, AuditEvent
        stored = s.scalar(select(ApiToken.token_hash).where(ApiToken.id == new.json["id"]))
        audit = [(a.kind, a.actor, a.details) for a in s.scalars(
            select(AuditEvent).where(AuditEvent.kind.in_(["token_created", "token_revoked"])).order_by(AuditEvent.id))]
    assert stored == hashlib.sha256(secret.encode()).hexdigest()
    assert [(k, a, d["token_id"], d["user"], d["name"]) for k, a, d in audit] == [
        ("token_created", "root", new.json["id"], "ats", "ats-2026-01"),
        ("token_revoked", "root", default["id"], "ats", "default")]
    assert secret not in database_text(engine.db)                       # the secret is nowhere, audit included


def test_a_token_revoked_here_is_refused_at_once_even_with_the_token_cache_on(database_url):
    from tests.support import app_with_workflows
    app, engine, caller = app_with_workflows(database_url, RECALL_TOKEN_CACHE_SECONDS=60)
    try:
        secret = _issue(caller, name="second").json
        client = app.test_client()
        assert client.get(f"{PREFIX}/process-instances", headers=bearer(secret["token"])).status_code == 200
        assert caller("root").delete(f"/users/ats/tokens/{secret['id']}").status_code == 204
        assert client.get(f"{PREFIX}/process-instances", headers=bearer(secret["token"])).status_code == 401
    finally:
        engine.db.dispose()


def test_a_read_token_only_reads_and_an_expired_token_is_refused(api):
    app, engine, caller = api
    client = app.test_client()
    soon = (engine.clock.now() + timedelta(hours=1)).isoformat()
    reader = _issue(caller, user="hr.li", name="dashboard", scope="read", expires_at=soon)
    assert reader.status_code == 201 and reader.json["expires_at"] is not None
    headers = bearer(reader.json["token"])
    assert client.get(f"{PREFIX}/tasks", headers=headers).status_code == 200
    refused = client.post(f"{PREFIX}/process-instances", headers=headers,
                          json={"process_key": "offer_recall", "variables": {}})
    assert refused.status_code == 403 and refused.json["type"].endswith(":token-scope")
    engine.clock.advance(timedelta(hours=1, seconds=1))
    assert client.get(f"{PREFIX}/tasks", headers=headers).status_code == 401
    [expired] = [t for t in _tokens(caller, "hr.li").json["items"] if t["name"] == "dashboard"]
    assert expired["expired"] is True
    assert caller("hr.li").get("/tasks").status_code == 200          # their default token is not affected


def test_bad_requests_name_the_field_and_change_nothing(api):
    _, engine, caller = api
    past = (engine.clock.now() - timedelta(minutes=1)).isoformat()
    cases = [({"name": "has space"}, "name"), ({"name": "x", "scope": "admin"}, "scope"),
             ({"name": "x", "expires_at": past}, "expires_at"), ({"name": "x", "expires_at": "2030-01-01T00:00:00"},
                                                                   "expires_at"), ({}, "name")]
    for body, field in cases:
        answer = _issue(caller, **body)
        assert answer.status_code == 422, (body, answer.json)
        assert [e["field"] for e in answer.json["errors"]] == [field], answer.json
    assert _issue(caller, name="default").status_code == 409                      # one name once per user
    assert _issue(caller, user="nobody", name="x").status_code == 404
    other = _tokens(caller, "hr.li").json["items"][0]["id"]
    assert caller("root").delete(f"/users/ats/tokens/{other}").status_code == 404   # not ats's token
    assert caller("root").delete("/users/ats/tokens/nope").status_code == 404
    assert [t["name"] for t in _tokens(caller).json["items"]] == ["default"]
    for role_user in ("owner", "hr.li", "ats"):
        assert caller(role_user).get("/users/ats/tokens").status_code == 403
        assert caller(role_user).post("/users/ats/tokens", json={"name": "mine"}).status_code == 403


def _recall(database_url, *args):
    from cli import main
    return CliRunner().invoke(main, list(args), env={"RECALL_DATABASE_URL": database_url}, catch_exceptions=False)


def test_the_command_line_adds_lists_and_revokes_and_token_name_still_replaces_the_default(database_url, db):
    from engine.users import authenticate
    assert _recall(database_url, "users", "add", "ats", "--role", "integrator").exit_code == 0
    added = _recall(database_url, "users", "token", "add", "ats", "--name", "nightly", "--scope", "read",
                    "--expires-in-days", "30")
    assert added.exit_code == 0, added.output
    secret = added.output.strip().splitlines()[-1]
    found = authenticate(db, secret)
    assert (found.user.name, found.scope) == ("ats", "read") and found.expires_at is not None
    listing = _recall(database_url, "users", "token", "list", "ats").output.strip().splitlines()
    assert sorted(line.split("\t")[1:3] for line in listing) == [["default", "write"], ["nightly", "read"]]
    assert secret not in "\n".join(listing)
    assert _recall(database_url, "users", "token", "add", "ats", "--name", "nightly").exit_code == 1     # taken
    replaced = _recall(database_url, "users", "token", "ats").output.strip().splitlines()[-1]          # as before
    assert authenticate(db, replaced).user.name == "ats"
    [nightly_id] = [line.split("\t")[0] for line in listing if "\tnightly\t" in line]
    revoked = _recall(database_url, "users", "token", "revoke", "ats", nightly_id)
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert authenticate(db, secret) is None and authenticate(db, replaced) is not None
    assert _recall(database_url, "users", "token", "revoke", "ats", nightly_id).exit_code == 1         # gone
    with db.read_transaction() as s:
        kinds = s.execute(text("SELECT kind, actor FROM audit_events ORDER BY id")).all()
    assert [tuple(k) for k in kinds] == [("token_created", "cli"), ("token_revoked", "cli"), ("token_created", "cli"),
                                         ("token_revoked", "cli")]


def test_a_users_one_token_keeps_working_after_the_migration(tmp_path):
    """Migration 0010 moves each user's token into api_tokens as "default"."""
    from engine.db import Database
    from engine.migrate import upgrade
    from engine.users import authenticate, hash_token
    database = Database(f"sqlite:///{tmp_path / 'old.sqlite3'}")
    try:
        upgrade(database, "0009")
        with database.engine.begin() as conn:
            conn.execute(text("INSERT INTO users (name, role, groups, token_hash, created_at, token_issued_at, active) "
                              "VALUES ('ats', 'integrator', '[]', :h, '2026-01-01 00:00:00', '2026-01-01 00:00:00', 1)"),
                         {"h": hash_token("the-old-token")})
        upgrade(database)
        found = authenticate(database, "the-old-token")
        assert found is not None and found.user.name == "ats" and found.scope == "write"
        with database.engine.connect() as conn:
            assert conn.execute(text("SELECT name FROM api_tokens")).scalars().all() == ["default"]
            assert conn.execute(text("SELECT token_hash FROM users")).scalar() != hash_token("the-old-token")
    finally:
        database.dispose()
