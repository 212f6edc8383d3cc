"""Sending from a task over HTTP (the app's API on SQLite and PostgreSQL, the real workflows, a simulated
clock) with the tests' own channel: the admin configures it (secret never returned, kept when omitted,
sealed in the row), the task's holder sends the confirmed text, the worker sends it once; every role and
person that should not is refused; consent, no address, the monthly limit; a second click sends nothing
twice; the send is on the task, the candidate's timeline and the completed task's trail."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from engine.channels import outbox, registry, sends
from tests.channels.scripted import TEST_CHANNEL
from tests.support import ADMIN, ATS, HR, HR_HRBP, MANAGER, OTHER_MANAGER, OWNER

VALUES = {"host": "smtp.example.com", "user": "hr", "password": "app-password-1234"}
ARCHIVE = {"decline_reason": "team", "needs": ["弹性工作"], "talent_pool_consent": True,
           "consent_scope": "any_role", "consent_expiry": "2027-01-05"}


@pytest.fixture
def flow(api, scripted):
    """(caller, engine, fake, candidate id, follow-up task id): the test channel configured by the admin,
    a candidate with an email and consent at their day-30 follow-up, claimed by HR."""
    app, engine, caller = api
    sends.register_address(TEST_CHANNEL, lambda s, c, u: {"email": c.email, "name": c.name} if c.email else
                           (_ for _ in ()).throw(sends.NoAddress("the candidate has no email address")))
    assert caller(ADMIN).put(f"/channels/{TEST_CHANNEL}", json={"values": VALUES}).status_code == 200
    hr = caller(HR)
    created = hr.post("/candidates", json={"name": "周思远", "email": "zhou@example.com"})
    cid = created.json["id"]
    instance = hr.post(f"/candidates/{cid}/declines", json={"reason": "team"}).json["instance_id"]
    [archive] = hr.get(f"/tasks?instance_id={instance}").json["items"]
    assert hr.post(f"/tasks/{archive['id']}/complete", json={"data": ARCHIVE}).status_code == 200
    assert caller(ADMIN).post("/testing/clock", json={"advance": "P31D"}).status_code == 200
    [task] = hr.get(f"/tasks?instance_id={instance}").json["items"]
    assert task["element_id"] == "follow_up_day_30"
    assert hr.post(f"/tasks/{task['id']}/claim").status_code == 200
    yield caller, engine, scripted, cid, task["id"]
    sends._addresses.pop(TEST_CHANNEL, None)


def _send(caller, task_id, who=HR, text="周先生您好,好久不见,最近怎么样?", **more):
    return caller(who).post(f"/tasks/{task_id}/sends", json={"channel": TEST_CHANNEL, "text": text, **more})


def test_settings_never_return_a_secret_keep_it_when_omitted_and_seal_it_in_the_row(api, scripted):
    app, engine, caller = api
    admin = caller(ADMIN)
    listed = admin.get("/channels").json["items"]
    mine = next(c for c in listed if c["name"] == TEST_CHANNEL)
    assert (mine["configured"], mine["enabled"], mine["values"]["password"]) == (False, False, {"set": False, "hint": None})
    bad = admin.put(f"/channels/{TEST_CHANNEL}", json={"values": {"host": "h", "port": "many", "bogus": 1}})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json["errors"]} == {"values.bogus", "values.port", "values.user", "values.password"}
    saved = admin.put(f"/channels/{TEST_CHANNEL}", json={"values": VALUES})
    assert saved.status_code == 200 and saved.json["values"]["password"] == {"set": True, "hint": "1234"}
    assert "app-password" not in saved.get_data(as_text=True)
    again = admin.put(f"/channels/{TEST_CHANNEL}", json={"values": {"host": "mail.example.com"}})
    assert again.json["values"]["password"]["set"] is True and again.json["values"]["host"] == "mail.example.com"
    with engine.db.read_transaction() as s:
        raw = s.execute(text("SELECT * FROM channel_settings")).one()._mapping
    stored = raw["values"] if isinstance(raw["values"], dict) else __import__("json").loads(raw["values"])
    assert stored["password"].startswith("sealed:v1:") and "app-password" not in str(dict(raw))
    tested = admin.post(f"/channels/{TEST_CHANNEL}/test", json={})
    assert tested.json == {"ok": True, "message": "connected to mail.example.com as hr"}
    assert scripted.tested[-1]["password"] == "app-password-1234"            # the channel got it unsealed
    failed = admin.post(f"/channels/{TEST_CHANNEL}/test", json={"values": {"host": "unreachable.example"}})
    assert failed.json["ok"] is False and "connection refused" in failed.json["message"]
    assert admin.get(f"/channels/{TEST_CHANNEL}").json["values"]["host"] == "mail.example.com"   # nothing saved
    for who in (HR, MANAGER, OWNER, ATS):
        assert caller(who).get("/channels").status_code == 403
        assert caller(who).put(f"/channels/{TEST_CHANNEL}", json={"values": VALUES}).status_code == 403
    assert admin.get("/channels/nope").status_code == 404


def test_the_holder_sends_the_worker_sends_once_and_it_shows_on_task_timeline_and_completion(flow):
    caller, engine, fake, cid, task_id = flow
    answer = _send(caller, task_id)
    assert answer.status_code == 201, answer.json
    send = answer.json
    assert (send["status"], send["channel"], send["candidate_id"], send["created_by"]) == ("pending", TEST_CHANNEL, cid, HR)
    assert fake.sent == []                                         # nothing leaves in the request
    outbox.send_due(engine)
    assert [(o.id, o.recipient["email"], o.payload["text"]) for o in fake.sent] == [
        (send["id"], "zhou@example.com", "周先生您好,好久不见,最近怎么样?")]
    answer = caller(HR).get(f"/tasks/{task_id}/sends").json
    [listed] = answer["items"]
    assert (listed["status"], listed["provider_id"]) == ("sent", "p-1")
    assert [c for c in answer["channels"] if c["name"] == TEST_CHANNEL] == [{
        "name": TEST_CHANNEL, "label_zh": "测试渠道", "label_en": "Test channel", "monthly_limit": 2,
        "used_this_month": 1, "resets_on": "2026-03-01"}]
    timeline = caller(HR).get(f"/candidates/{cid}").json["timeline"]
    kinds = [e["kind"] for e in timeline if e["kind"].startswith("channel_send")]
    assert kinds == ["channel_send_requested", "channel_send_sent"]
    assert "周先生您好" not in str(timeline)                         # ids and status only
    done = caller(HR).post(f"/tasks/{task_id}/complete", json={"data": {
        "outcome": "sent", "channel": "other", "message_sent": "周先生您好,好久不见,最近怎么样?"}})
    assert done.status_code == 200, done.json
    history = caller(HR).get(f"/process-instances/{listed['instance_id']}/history").json["items"]
    [recorded] = [h for h in history if h["kind"] == "channel_sends_recorded"]
    assert recorded["details"]["sends"] == [{"outbox_id": send["id"], "channel": TEST_CHANNEL, "status": "sent",
                                             "reason": None, "text_recorded": True}]
    assert _send(caller, task_id, text="再发一条").status_code == 409          # the task is done


def test_a_second_click_or_the_same_idempotency_key_makes_one_send(flow):
    caller, engine, fake, cid, task_id = flow
    first = _send(caller, task_id)
    second = _send(caller, task_id)
    assert (first.status_code, second.status_code, second.json["id"]) == (201, 200, first.json["id"])
    key = {"Idempotency-Key": "click-7"}
    third = caller(HR).post(f"/tasks/{task_id}/sends", headers=key, json={"channel": TEST_CHANNEL, "text": "另一条"})
    replay = caller(HR).post(f"/tasks/{task_id}/sends", headers=key, json={"channel": TEST_CHANNEL, "text": "另一条"})
    assert third.status_code == 201 and replay.status_code == 201 and replay.json["id"] == third.json["id"]
    assert replay.headers.get("Idempotent-Replayed") == "true"
    outbox.send_due(engine)
    assert sorted(o.payload["text"] for o in fake.sent) == sorted(["周先生您好,好久不见,最近怎么样?", "另一条"])


def test_everyone_but_the_holder_is_refused(flow):
    caller, engine, fake, cid, task_id = flow
    for who, status in ((HR_HRBP, 404), (OTHER_MANAGER, 404), (MANAGER, 404), (ADMIN, 403), (OWNER, 403),
                        (ATS, 403)):
        answer = _send(caller, task_id, who=who)
        assert answer.status_code == status, (who, answer.json)
    assert caller(ADMIN).get(f"/tasks/{task_id}/sends").status_code == 200        # admins may look
    assert caller(HR_HRBP).get(f"/tasks/{task_id}/sends").status_code == 404
    assert caller(ATS).get(f"/tasks/{task_id}/sends").status_code == 403
    caller(HR).post(f"/tasks/{task_id}/release")
    unclaimed = _send(caller, task_id)
    assert unclaimed.status_code == 403 and "claim it first" in unclaimed.json["detail"]
    with engine.db.read_transaction() as s:
        assert s.execute(text("SELECT count(*) FROM outbox")).scalar() == 0


def test_refusals_name_their_reason(flow, scripted):
    caller, engine, fake, cid, task_id = flow
    hr = caller(HR)
    assert _send(caller, task_id, text="   ").status_code == 422
    assert hr.patch(f"/candidates/{cid}", json={"email": None}).status_code == 200
    no_address = _send(caller, task_id)
    assert (no_address.status_code, no_address.json["type"]) == (422, "urn:offer-recall:problem:no-address")
    hr.patch(f"/candidates/{cid}", json={"email": "zhou@example.com"})
    caller(ADMIN).put(f"/channels/{TEST_CHANNEL}", json={"values": {}, "enabled": False})
    off = _send(caller, task_id)
    assert (off.status_code, off.json["type"]) == (409, "urn:offer-recall:problem:channel-not-configured")
    caller(ADMIN).put(f"/channels/{TEST_CHANNEL}", json={"values": {}, "enabled": True})
    assert _send(caller, task_id, text="一").status_code == 201
    assert _send(caller, task_id, text="二").status_code == 201
    limit = _send(caller, task_id, text="三")                        # the test channel allows 2 a month
    assert (limit.status_code, limit.json["type"]) == (409, "urn:offer-recall:problem:monthly-limit-reached")
    assert "2026-02" in limit.json["detail"] and "resets on 2026-03-01" in limit.json["detail"]
    fake.default = registry.Outcome("failed", reason="bad_address", detail="550 no such user")
    outbox.send_due(engine)                                          # both fail: they no longer count
    assert _send(caller, task_id, text="三").status_code == 201


def test_consent_withdrawn_mid_cadence_sends_nothing_further(flow):
    caller, engine, fake, cid, task_id = flow
    queued = _send(caller, task_id).json
    assert caller(HR).patch(f"/candidates/{cid}", json={"consent": {"granted": False}}).status_code == 200
    outbox.send_due(engine)
    assert fake.sent == []
    [row] = caller(HR).get(f"/tasks/{task_id}/sends").json["items"]
    assert (row["id"], row["status"], row["reason"]) == (queued["id"], "cancelled", "consent_withdrawn")
    assert caller(HR).get(f"/tasks/{task_id}").json["status"] == "cancelled"      # the withdrawal ended the case
    assert _send(caller, task_id, text="还在吗?").status_code == 409


def test_no_consent_is_refused_as_consent_required(flow):
    caller, engine, fake, cid, task_id = flow
    from engine.archive_models import Candidate
    with engine.db.write_transaction() as s:           # consent withdrawn while the task stays open
        s.get(Candidate, cid).consent_withdrawn_at = engine.clock.now()
    refused = _send(caller, task_id)
    assert (refused.status_code, refused.json["type"]) == (409, "urn:offer-recall:problem:consent-required")
    assert "withdrew" in refused.json["detail"]


def test_a_failed_send_is_retried_or_marked_sent_by_hand(flow):
    caller, engine, fake, cid, task_id = flow
    fake.default = registry.Outcome("failed", reason="bad_address", detail="550 no such user")
    send = _send(caller, task_id).json
    outbox.send_due(engine)
    [row] = caller(HR).get(f"/tasks/{task_id}/sends").json["items"]
    assert (row["status"], row["reason"], row["detail"]) == ("failed", "bad_address", "550 no such user")
    assert caller(HR_HRBP).post(f"/tasks/{task_id}/sends/{send['id']}/retry").status_code == 404
    retried = caller(HR).post(f"/tasks/{task_id}/sends/{send['id']}/retry")
    assert (retried.status_code, retried.json["status"]) == (200, "pending")
    assert caller(HR).post(f"/tasks/{task_id}/sends/{send['id']}/retry").status_code == 409   # not failed now
    by_hand = caller(HR).post(f"/tasks/{task_id}/sends/{send['id']}/mark-sent")
    assert (by_hand.json["status"], by_hand.json["reason"]) == ("sent", "by_hand")
    outbox.send_due(engine)
    assert len(fake.sent) == 1                                       # the hand-sent one is not sent again


def test_two_clicks_at_the_same_moment_make_one_send(flow, api):
    """The task's row is locked while a send is asked for: racing requests with the same text find the first."""
    from tests.support import Caller, race
    caller, engine, fake, cid, task_id = flow
    app = api[0]
    token = caller(HR).headers["Authorization"].split()[1]
    answers = race(4, lambda: Caller(app.test_client(), token).post(
        f"/tasks/{task_id}/sends", json={"channel": TEST_CHANNEL, "text": "同一条消息"}))
    assert sorted(a.status_code for a in answers) == [200, 200, 200, 201]
    assert len({a.json["id"] for a in answers}) == 1
    with engine.db.read_transaction() as s:
        assert s.execute(text("SELECT count(*) FROM outbox")).scalar() == 1
