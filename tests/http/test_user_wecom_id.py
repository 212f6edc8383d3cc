"""An admin sets and clears a person's WeCom user id over the users API (issue 17): the id WeCom sends
use as the sender, notifications as the recipient and sign-in with WeCom as the match. Validated,
unique among active users (409 naming the field), audited; other roles are refused."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from tests.support import ADMIN, ATS, HR, MANAGER, OWNER


def _audits(engine):
    from engine.models import AuditEvent
    with engine.db.read_transaction() as s:
        return [(e.actor, e.details) for e in s.scalars(select(AuditEvent).where(AuditEvent.kind == "user_updated")
                                                         .order_by(AuditEvent.id))]


def test_set_read_clear_and_audit(api):
    _, engine, caller = api
    admin = caller(ADMIN)
    assert admin.get(f"/users/{MANAGER}").json["wecom_user_id"] is None
    changed = admin.patch(f"/users/{MANAGER}", json={"wecom_user_id": "Wang.Li-01@corp_x"})
    assert changed.status_code == 200, changed.json
    assert changed.json["wecom_user_id"] == "Wang.Li-01@corp_x" and changed.json["name"] == MANAGER
    assert admin.get(f"/users/{MANAGER}").json["wecom_user_id"] == "Wang.Li-01@corp_x"
    assert caller(MANAGER).get("/users/me").json["wecom_user_id"] == "Wang.Li-01@corp_x"   # their own view at once
    assert "wecom_user_id" not in admin.get("/users").json["items"][0]                      # pickers never show it
    assert admin.patch(f"/users/{MANAGER}", json={"wecom_user_id": "Wang.Li-01@corp_x"}).status_code == 200
    assert admin.patch(f"/users/{MANAGER}", json={"wecom_user_id": None}).json["wecom_user_id"] is None
    assert caller(MANAGER).get("/users/me").json["wecom_user_id"] is None
    assert _audits(engine) == [   # the unchanged second set is not audited
        (ADMIN, {"user": MANAGER, "field": "wecom_user_id", "from": None, "to": "Wang.Li-01@corp_x"}),
        (ADMIN, {"user": MANAGER, "field": "wecom_user_id", "from": "Wang.Li-01@corp_x", "to": None})]


@pytest.mark.parametrize("bad", ["", "a" * 65, "王经理", "wang li", "wang/li", "wang+li"])
def test_bad_ids_are_422_naming_the_field_and_nothing_changes(api, bad):
    _, engine, caller = api
    admin = caller(ADMIN)
    assert admin.patch(f"/users/{HR}", json={"wecom_user_id": "LiHR"}).status_code == 200
    answer = admin.patch(f"/users/{HR}", json={"wecom_user_id": bad})
    assert answer.status_code == 422, answer.json
    assert [e["field"] for e in answer.json["errors"]] == ["wecom_user_id"]
    assert admin.get(f"/users/{HR}").json["wecom_user_id"] == "LiHR"
    assert len(_audits(engine)) == 1


def test_unique_among_active_users(api):
    _, engine, caller = api
    from engine.users import set_active
    admin = caller(ADMIN)
    assert admin.patch(f"/users/{HR}", json={"wecom_user_id": "LiHR"}).status_code == 200
    taken = admin.patch(f"/users/{MANAGER}", json={"wecom_user_id": "LiHR"})
    assert taken.status_code == 409 and taken.mimetype == "application/problem+json"
    assert [e["field"] for e in taken.json["errors"]] == ["wecom_user_id"] and HR in taken.json["detail"]
    assert admin.get(f"/users/{MANAGER}").json["wecom_user_id"] is None
    set_active(engine.db, HR, False)               # someone who left no longer holds it
    assert admin.patch(f"/users/{MANAGER}", json={"wecom_user_id": "LiHR"}).json["wecom_user_id"] == "LiHR"


def test_no_such_user_missing_field_and_other_roles(api):
    _, engine, caller = api
    admin = caller(ADMIN)
    assert admin.get("/users/nobody").status_code == 404
    assert admin.patch("/users/nobody", json={"wecom_user_id": "x"}).status_code == 404
    missing = admin.patch(f"/users/{HR}", json={})
    assert missing.status_code == 422 and [e["field"] for e in missing.json["errors"]] == ["wecom_user_id"]
    assert admin.patch(f"/users/{HR}", json={"wecom_user_id": "x", "email": "a@b.c"}).status_code == 422
    for who in (OWNER, HR, MANAGER, ATS):
        assert caller(who).patch(f"/users/{who}", json={"wecom_user_id": "mine"}).status_code == 403
        assert caller(who).get(f"/users/{HR}").status_code == 403
    assert admin.get(f"/users/{HR}").json["wecom_user_id"] is None and _audits(engine) == []
