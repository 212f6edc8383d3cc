"""The permission table, tested as a table: every role x every endpoint -> allowed or denied.

EXPECTED is written out here on purpose (not imported from api.permissions): changing who
may do what must change this file too. "allowed" means the request got past authorization
(any answer but 401/403: ids in these requests do not exist, bodies are empty).
"""
from __future__ import annotations

import pytest

from tests.servers import migrated_sqlite
from tests.support import PEOPLE, PREFIX, add_people, bearer, make_app

ROLES = ("admin", "process_owner", "hr", "manager", "integrator")
A, PO, HR, M, INT = ROLES
ALL = set(ROLES)
USER_OF_ROLE = {"admin": "root", "process_owner": "owner", "hr": "hr.li", "manager": "mgr", "integrator": "ats"}

# endpoint -> (sample request path, roles allowed)
EXPECTED = {
    "GET /process-definitions": ("/process-definitions", ALL),
    "POST /process-definitions": ("/process-definitions", {A, PO}),
    "GET /process-definitions/{process_key}": ("/process-definitions/nope", ALL),
    "POST /process-definitions/{process_key}/migrations": ("/process-definitions/nope/migrations", {A, PO}),
    "GET /studio/drafts": ("/studio/drafts", {A, PO}),
    "POST /studio/drafts": ("/studio/drafts", {A, PO}),
    "GET /studio/drafts/{draft_id}": ("/studio/drafts/nope", {A, PO}),
    "PUT /studio/drafts/{draft_id}": ("/studio/drafts/nope", {A, PO}),
    "DELETE /studio/drafts/{draft_id}": ("/studio/drafts/nope", {A, PO}),
    "GET /studio/drafts/{draft_id}/diff": ("/studio/drafts/nope/diff", {A, PO}),
    "POST /studio/drafts/{draft_id}/deploy": ("/studio/drafts/nope/deploy", {A, PO}),
    "POST /studio/check": ("/studio/check", {A, PO}),
    "POST /studio/preview-template": ("/studio/preview-template", {A, PO}),
    "POST /studio/rehearsals": ("/studio/rehearsals", {A, PO}),
    "GET /studio/rehearsals/{rehearsal_id}": ("/studio/rehearsals/nope", {A, PO}),
    "GET /studio/rehearsals/defaults": ("/studio/rehearsals/defaults", {A, PO}),
    "POST /process-instances": ("/process-instances", {A, PO, HR, INT}),
    "GET /process-instances": ("/process-instances", {A, PO, HR, INT}),
    "GET /process-instances/{instance_id}": ("/process-instances/nope", {A, PO, HR, INT}),
    "GET /process-instances/{instance_id}/history": ("/process-instances/nope/history", {A, PO, HR}),
    "POST /process-instances/{instance_id}/cancel": ("/process-instances/nope/cancel", {A, PO, HR}),
    "POST /process-instances/{instance_id}/retry": ("/process-instances/nope/retry", {A, PO}),
    "GET /tasks": ("/tasks", {A, PO, HR, M}),
    "GET /tasks/{task_id}": ("/tasks/nope", {A, PO, HR, M}),
    "POST /tasks/{task_id}/claim": ("/tasks/nope/claim", {A, HR, M}),
    "POST /tasks/{task_id}/complete": ("/tasks/nope/complete", {A, HR, M}),
    "POST /tasks/{task_id}/release": ("/tasks/nope/release", {A, HR, M}),
    "POST /tasks/{task_id}/reassign": ("/tasks/nope/reassign", {A, HR, M}),
    "POST /messages": ("/messages", {A, HR, M, INT}),
    "POST /messages/bulk": ("/messages/bulk", {A, HR, INT}),
    "GET /testing/clock": ("/testing/clock", ALL),
    "POST /testing/clock": ("/testing/clock", {A, PO, INT}),
    "GET /workspace/me": ("/workspace/me", ALL),
    "GET /workspace/inbox": ("/workspace/inbox", {A, PO, HR, M}),
    "GET /workspace/diagrams/{process_key}": ("/workspace/diagrams/nope", ALL),
    "GET /workspace/diagrams/{process_key}/waiting": ("/workspace/diagrams/nope/waiting", {A, PO, HR}),
    "GET /vocabulary": ("/vocabulary", ALL),
    "GET /candidates": ("/candidates", {A, HR}),
    "POST /candidates": ("/candidates", {A, HR, INT}),
    "GET /candidates/{candidate_id}": ("/candidates/nope", {A, HR, M}),
    "PATCH /candidates/{candidate_id}": ("/candidates/nope", {A, HR, INT}),
    "DELETE /candidates/{candidate_id}": ("/candidates/nope", {A, HR, INT}),
    "PUT /candidates/by-external-id/{external_id}": ("/candidates/by-external-id/nope", {A, HR, INT}),
    "POST /candidates/bulk": ("/candidates/bulk", {A, HR, INT}),
    "POST /candidates/{candidate_id}/declines": ("/candidates/nope/declines", {A, HR, INT}),
    "POST /candidates/{candidate_id}/signals": ("/candidates/nope/signals", {A, HR, INT}),
    "POST /candidates/{candidate_id}/merge": ("/candidates/nope/merge", {A, HR}),
    "GET /analytics/funnel": ("/analytics/funnel", {A, PO, HR}),
    "GET /users": ("/users", {A, PO, HR, M}),
    "GET /users/me": ("/users/me", ALL),
    "GET /users/{name}": ("/users/nope", {A}),
    "PATCH /users/{name}": ("/users/nope", {A}),
    "GET /users/me/notifications": ("/users/me/notifications", {A, PO, HR, M}),
    "PUT /users/me/notifications": ("/users/me/notifications", {A, PO, HR, M}),
    "GET /users/{name}/notifications": ("/users/nope/notifications", {A}),
    "PUT /users/{name}/notifications": ("/users/nope/notifications", {A}),
    "GET /users/{name}/tokens": ("/users/nope/tokens", {A}),
    "POST /users/{name}/tokens": ("/users/nope/tokens", {A}),
    "DELETE /users/{name}/tokens/{token_id}": ("/users/nope/tokens/nope", {A}),
    "GET /session": ("/session", ALL),
    "DELETE /session": ("/session", ALL),
    "POST /session/password": ("/session/password", ALL),
    "GET /events": ("/events", {A, INT}),
    "GET /webhooks": ("/webhooks", {A}),
    "POST /webhooks": ("/webhooks", {A}),
    "GET /webhooks/{webhook_id}": ("/webhooks/nope", {A}),
    "PATCH /webhooks/{webhook_id}": ("/webhooks/nope", {A}),
    "DELETE /webhooks/{webhook_id}": ("/webhooks/nope", {A}),
    "GET /webhooks/{webhook_id}/deliveries": ("/webhooks/nope/deliveries", {A}),
    "POST /webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver": ("/webhooks/nope/deliveries/x/redeliver", {A}),
    "GET /channels": ("/channels", {A}),
    "GET /channels/{name}": ("/channels/nope", {A}),
    "PUT /channels/{name}": ("/channels/nope", {A}),
    "POST /channels/{name}/test": ("/channels/nope/test", {A}),
    "GET /tasks/{task_id}/sends": ("/tasks/nope/sends", {A, PO, HR, M}),
    "POST /tasks/{task_id}/sends": ("/tasks/nope/sends", {HR, M}),
    "POST /tasks/{task_id}/sends/{send_id}/retry": ("/tasks/nope/sends/x/retry", {HR, M}),
    "POST /tasks/{task_id}/sends/{send_id}/mark-sent": ("/tasks/nope/sends/x/mark-sent", {HR, M}),
    "POST /channels/email/inbound": ("/channels/email/inbound", {A, INT}),
    "GET /channels/email/unmatched": ("/channels/email/unmatched", {A, HR}),
    "POST /channels/email/unmatched/{inbound_id}/assign": ("/channels/email/unmatched/nope/assign", {A, HR}),
    "GET /channels/wecom/contacts": ("/channels/wecom/contacts", {A, HR}),
    "POST /channels/wecom/contacts/{contact_id}/link": ("/channels/wecom/contacts/0/link", {A, HR}),
    "POST /channels/wecom/states": ("/channels/wecom/states", {A, HR}),
    "GET /roles": ("/roles", {A, PO, HR, M, INT}),
    "GET /roles/{role_key}": ("/roles/nope", {A, PO, HR, M, INT}),
    "PUT /roles/{role_key}": ("/roles/nope", {A, PO, HR, INT}),
    "PATCH /roles/{role_key}": ("/roles/nope", {A, PO, HR, INT}),
    "GET /roles/{role_key}/versions": ("/roles/nope/versions", {A, PO, HR, M, INT}),
    "POST /roles/import": ("/roles/import", {A, PO, HR, INT}),
    "GET /candidates/{candidate_id}/links": ("/candidates/nope/links", {A, HR}),
    "POST /candidates/{candidate_id}/links": ("/candidates/nope/links", {A, HR}),
    "POST /links/{link_id}/revoke": ("/links/nope/revoke", {A, HR}),
    "GET /ranking/scorecard": ("/ranking/scorecard", {A, PO, HR}),
    "PUT /ranking/scorecard": ("/ranking/scorecard", {A, PO}),
    "POST /ranking/refresh": ("/ranking/refresh", {A, PO, HR}),
    "GET /ranking/model": ("/ranking/model", {A, PO, HR}),
    "POST /ranking/model/train": ("/ranking/model/train", {A, PO}),
    "GET /ranking/scores": ("/ranking/scores?candidate_id=x", {A, HR}),
    "PUT /candidates/{candidate_id}/pin": ("/candidates/nope/pin", {A, HR}),
    "GET /recall-list": ("/recall-list?role_key=x", {A, HR}),
    "POST /imports/preview": ("/imports/preview", {A, HR}),
    "GET /imports": ("/imports", {A, HR}),
    "POST /imports": ("/imports", {A, HR}),
    "GET /imports/{run_id}": ("/imports/nope", {A, HR}),
    "POST /imports/{run_id}/confirm": ("/imports/nope/confirm", {A, HR}),
    "POST /imports/{run_id}/resume": ("/imports/nope/resume", {A, HR}),
    "POST /imports/{run_id}/discard": ("/imports/nope/discard", {A, HR}),
}
PUBLIC = {
    "GET /health": "/health",
    "GET /openapi.json": "/openapi.json",
    "GET /docs": "/docs",
    "GET /docs/static/{filename}": "/docs/static/swagger-ui.css",
    "GET /metrics": "/metrics",
    "GET /session/wecom": "/session/wecom",
}
# public writes: signing in needs no token (an empty body is refused by validation, not by the guard);
# WeCom's callback and sign-in return neither (without their query they are refused by validation)
PUBLIC_WRITES = {"POST /session": "/session", "GET /channels/wecom/callback": "/channels/wecom/callback",
                 "POST /channels/wecom/callback": "/channels/wecom/callback",
                 "GET /session/wecom/callback": "/session/wecom/callback"}


@pytest.fixture(scope="module")
def table_app(tmp_path_factory):
    app = make_app(migrated_sqlite(tmp_path_factory.mktemp("permissions") / "recall.sqlite3"))
    tokens = add_people(app.extensions["recall"].engine)
    yield app, tokens
    app.extensions["recall"].engine.db.dispose()


def _call(client, key, path, headers):
    method = key.split()[0].lower()
    kwargs = {"json": {}} if method == "post" else {}
    return getattr(client, method)(PREFIX + path, headers=headers, **kwargs)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_role_on_endpoint(table_app, key, role):
    app, tokens = table_app
    path, allowed_roles = EXPECTED[key]
    response = _call(app.test_client(), key, path, bearer(tokens[USER_OF_ROLE[role]]))
    if role in allowed_roles:
        assert response.status_code not in (401, 403), (key, role, response.json)
        assert response.status_code < 500, response.json
    else:
        assert response.status_code == 403, (key, role, response.status_code)
        assert response.mimetype == "application/problem+json"
        assert role in response.json["detail"]


@pytest.mark.parametrize("key", sorted(EXPECTED))
def test_no_token_or_a_wrong_token_is_401(table_app, key):
    app, _ = table_app
    client = app.test_client()
    for headers in ({}, bearer("not-a-token"), {"Authorization": "Basic cm9vdDpyb290"}):
        response = _call(client, key, EXPECTED[key][0], headers)
        assert response.status_code == 401, (key, headers)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json["type"].endswith(":unauthorized")


@pytest.mark.parametrize("key", sorted(PUBLIC))
def test_public_endpoints_need_no_token(table_app, key):
    app, _ = table_app
    with app.test_client().get(PREFIX + PUBLIC[key]) as response:
        assert response.status_code == 200


@pytest.mark.parametrize("key", sorted(PUBLIC_WRITES))
def test_public_writes_need_no_token(table_app, key):
    app, _ = table_app
    response = _call(app.test_client(), key, PUBLIC_WRITES[key], {})
    assert response.status_code == 422, response.json


def test_the_table_covers_every_route_and_nothing_else(table_app):
    from api.auth import endpoint_key
    from api.permissions import PERMISSIONS

    app, _ = table_app
    routes = {endpoint_key(rule.rule, method, PREFIX)
              for rule in app.url_map.iter_rules() if rule.rule.startswith(PREFIX)
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert routes == set(PERMISSIONS)
    assert routes == set(EXPECTED) | set(PUBLIC) | set(PUBLIC_WRITES)
    for key, (_, roles) in EXPECTED.items():
        assert set(PERMISSIONS[key]) == roles, key


def test_every_role_has_a_user():
    assert {role for role, _ in PEOPLE.values()} == set(ROLES)
