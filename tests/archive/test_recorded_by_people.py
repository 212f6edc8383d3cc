"""Issue 15: HR, and the hiring manager holding a hand-off, record what the candidate did through the
same POST /messages an integrator uses: audited as that person, a second click harmless; a manager
only for the candidate of their own hand-off."""
from __future__ import annotations

from datetime import datetime, timedelta

from tests.archive.test_api import DECLINE, PERSON, _complete
from tests.support import ATS, HR, MANAGER


def _at_the_hand_off(as_user):
    """A declined candidate who replied and whom HR handed to MANAGER: (candidate id, case id)."""
    cid = as_user(ATS).post("/candidates", json=PERSON).json["id"]
    instance_id = as_user(ATS).post(f"/candidates/{cid}/declines", json=DECLINE).json["instance_id"]
    _complete(as_user, HR, instance_id, "archive_decline", decline_reason="commute", talent_pool_consent=True,
              consent_scope="similar_roles", consent_expiry="2027-01-05")
    assert as_user("root").post("/testing/clock", json={"advance": "P10D"}).status_code == 200
    replied = as_user(HR).post("/messages", json={"name": "candidate_replied", "correlation": {"candidate_id": cid},
                                                  "payload": {"text": "可以聊聊", "channel": "phone"}},
                               headers={"Idempotency-Key": "reply-1"})
    assert replied.status_code == 200 and replied.json["delivered_to"] == [instance_id], replied.json
    _complete(as_user, HR, instance_id, "assess_reply", outcome="interested", involve_manager=True)
    _complete(as_user, HR, instance_id, "request_manager_contact", manager_username=MANAGER,
              talking_points="讲讲新的排班制度")
    return cid, instance_id


def _history(as_user, instance_id, kind):
    items = as_user(HR).get(f"/process-instances/{instance_id}/history?limit=200").json["items"]
    return [h for h in items if h["kind"] == kind]


def test_hr_records_a_reply_as_themselves_and_a_second_click_changes_nothing(api):
    _, _, as_user = api
    cid, instance_id = _at_the_hand_off(as_user)
    delivered = _history(as_user, instance_id, "message_delivered")
    assert [(h["actor"], h["details"]["name"], h["details"]["payload"]) for h in delivered] == [
        (HR, "candidate_replied", {"text": "可以聊聊", "channel": "phone"})]
    again = as_user(HR).post("/messages", json={"name": "candidate_replied", "correlation": {"candidate_id": cid},
                                                "payload": {"text": "可以聊聊", "channel": "phone"}},
                             headers={"Idempotency-Key": "reply-1"})
    assert again.status_code == 200 and again.json["delivered_to"] == [instance_id]
    assert len(_history(as_user, instance_id, "message_delivered")) == 1
    messages = as_user(HR).get(f"/candidates/{cid}").json["messages"]
    assert [(m["direction"], m["text"], m["channel"]) for m in messages if m["direction"] == "received"] == [
        ("received", "可以聊聊", "phone")]


def test_hr_records_a_signal_once_and_it_shows_as_a_signal(api):
    _, _, as_user = api
    cid = as_user(ATS).post("/candidates", json=PERSON).json["id"]
    body = {"kind": "open_to_work", "text": "朋友说她在看机会", "source": "referral"}
    first = as_user(HR).post(f"/candidates/{cid}/signals", json=body, headers={"Idempotency-Key": "sig-1"})
    assert first.status_code == 201, first.json
    second = as_user(HR).post(f"/candidates/{cid}/signals", json=body, headers={"Idempotency-Key": "sig-1"})
    assert (second.status_code, second.json) == (201, first.json)
    view = as_user(HR).get(f"/candidates/{cid}").json
    assert [(s["kind"], s["recorded_by"]) for s in view["signals"]] == [("open_to_work", HR)]
    assert [(m["direction"], m["stage"], m["name"], m["channel"]) for m in view["messages"]] == [
        ("received", "signal", "candidate_signal", "referral")]
    assert [(e["kind"], e["actor"]) for e in view["timeline"] if e["kind"] not in ("candidate_created",)] == [
        ("signal", HR)]
    assert not [m for m in view["messages"] if m["name"] == "candidate_replied"]


def test_a_reply_recorded_later_is_listed_when_the_candidate_gave_it(api):
    """`replied_at` (the reply form's "when") places the message in the candidate's list; the time it
    was recorded stays beside it. A reply without it is listed when it was recorded."""
    _, _, as_user = api
    cid = as_user(ATS).post("/candidates", json=PERSON).json["id"]
    instance_id = as_user(ATS).post(f"/candidates/{cid}/declines", json=DECLINE).json["instance_id"]
    _complete(as_user, HR, instance_id, "archive_decline", decline_reason="commute", talent_pool_consent=True,
              consent_scope="similar_roles", consent_expiry="2027-01-05")
    now = as_user("root").post("/testing/clock", json={"advance": "P10D"}).json["now"]
    recorded = datetime.fromisoformat(now.replace("Z", "+00:00"))
    given = (recorded - timedelta(hours=3)).astimezone()
    replied = as_user(HR).post("/messages", json={
        "name": "candidate_replied", "correlation": {"candidate_id": cid},
        "payload": {"text": "周一电话里说可以聊", "channel": "phone", "replied_at": given.isoformat()}})
    assert replied.status_code == 200, replied.json
    [message] = [m for m in as_user(HR).get(f"/candidates/{cid}").json["messages"] if m["direction"] == "received"]
    assert datetime.fromisoformat(message["at"].replace("Z", "+00:00")) == given
    assert datetime.fromisoformat(message["recorded_at"].replace("Z", "+00:00")) == recorded
