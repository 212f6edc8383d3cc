"""Notification preferences over HTTP (api/resources/notifications.py) on both databases: one's own, an
admin's for anyone, refusals naming the field, and the audit of each change."""
from __future__ import annotations

from sqlalchemy import select

from engine.models import AuditEvent
from tests.support import ADMIN, ATS, HR, MANAGER


def test_a_person_reads_and_changes_their_own_preferences(api):
    _, engine, caller = api
    me = caller(MANAGER)
    answer = me.get("/users/me/notifications")
    assert answer.status_code == 200
    assert answer.json == {"channel": "none", "mode": "immediate", "digest_hour": 9, "language": "zh",
                           "group_tasks": True, "chosen": False, "reachable": {"wecom": False, "email": False}}
    changed = me.put("/users/me/notifications", json={"mode": "digest", "digest_hour": 8, "language": "en"})
    assert changed.status_code == 200, changed.json
    assert {k: changed.json[k] for k in ("channel", "mode", "digest_hour", "language", "chosen")} == {
        "channel": "none", "mode": "digest", "digest_hour": 8, "language": "en", "chosen": True}
    assert me.get("/users/me/notifications").json["mode"] == "digest"
    with engine.db.read_transaction() as s:
        [audit] = s.scalars(select(AuditEvent).where(AuditEvent.kind == "notification_preferences_changed")).all()
    assert (audit.actor, audit.details["user"], audit.details["fields"]) == (
        MANAGER, MANAGER, ["digest_hour", "language", "mode"])


def test_bad_values_are_refused_naming_the_field(api):
    _, _, caller = api
    me = caller(HR)
    bad = me.put("/users/me/notifications", json={"channel": "sms", "digest_hour": 25})
    assert bad.status_code == 422
    assert sorted(e["field"] for e in bad.json["errors"]) == ["channel", "digest_hour"]
    unreachable = me.put("/users/me/notifications", json={"channel": "wecom"})
    assert unreachable.status_code == 422
    assert [e["field"] for e in unreachable.json["errors"]] == ["channel"]
    assert "no WeCom user id" in unreachable.json["errors"][0]["message"]


def test_an_admin_sets_anyones_and_nobody_else_may(api):
    _, _, caller = api
    assert caller(ADMIN).put(f"/users/{MANAGER}/notifications", json={"group_tasks": False}).status_code == 200
    assert caller(ADMIN).get(f"/users/{MANAGER}/notifications").json["group_tasks"] is False
    assert caller(HR).put(f"/users/{MANAGER}/notifications", json={"group_tasks": True}).status_code == 403
    assert caller(HR).get(f"/users/{MANAGER}/notifications").status_code == 403
    assert caller(ATS).get("/users/me/notifications").status_code == 403
    assert caller(ADMIN).get("/users/nobody/notifications").status_code == 404


def test_the_http_channel_has_nothing_to_set_up_and_is_not_on_the_settings_page(api):
    _, _, caller = api
    listed = [c["name"] for c in caller(ADMIN).get("/channels").json["items"]]
    assert "http" not in listed and {"email", "wecom"} <= set(listed)
