"""Issue 17's "done when", WeCom half, over the API on both databases: a candidate adds HR on WeCom through
their own QR code (the callback, signed and encrypted by the fake WeCom), the day-30 follow-up comes,
HR sends it via WeCom from the task, and it reaches the candidate only after HR confirms in their WeCom
app; the send's status follows on the task; a fifth message in the month is refused before WeCom."""
from __future__ import annotations

import pytest
from sqlalchemy import update

from engine.channels import outbox
from engine.channels.wecom import NAME
from engine.models import User
from tests.channels.wecom_support import served_with_wecom
from tests.support import ADMIN, HR

ARCHIVE = {"decline_reason": "team", "needs": ["弹性工作"], "talent_pool_consent": True,
           "consent_scope": "any_role", "consent_expiry": "2027-01-05"}
TEXT = "王先生您好，好久不见，最近怎么样？"


@pytest.fixture
def followup(database_url):
    """(caller, engine, fake WeCom, candidate id, day-30 task id), HR's WeCom id is LiNa."""
    with served_with_wecom(database_url) as served:
        engine, caller, wecom = served.engine, served.caller, served.wecom
        with engine.db.write_transaction() as s:
            s.execute(update(User).where(User.name == HR).values(wecom_user_id="LiNa"))
        hr = caller(HR)
        cid = hr.post("/candidates", json={"name": "王伟"}).json["id"]
        instance = hr.post(f"/candidates/{cid}/declines", json={"reason": "team"}).json["instance_id"]
        [archive] = hr.get(f"/tasks?instance_id={instance}").json["items"]
        assert hr.post(f"/tasks/{archive['id']}/complete", json={"data": ARCHIVE}).status_code == 200
        state = hr.post("/channels/wecom/states", json={"candidate_id": cid}).json["state"]
        wecom.add_contact("wm-wang-wei", follow_userid="LiNa", name="王伟", state=state)
        assert wecom.post_callback(served.callback, "add_external_contact", external_userid="wm-wang-wei",
                                   userid="LiNa", state=state) == (200, "success")
        # the new contact is a signal the running cadence raises for HR at once
        assert [t["element_id"] for t in hr.get(f"/tasks?instance_id={instance}").json["items"]] == \
            ["react_to_signal"]
        assert caller(ADMIN).post("/testing/clock", json={"advance": "P31D"}).status_code == 200
        [task] = hr.get(f"/tasks?instance_id={instance}&element_id=follow_up_day_30").json["items"]
        assert hr.post(f"/tasks/{task['id']}/claim").status_code == 200
        yield caller, engine, wecom, cid, task["id"]


def _status(caller, task_id) -> list[tuple]:
    return [(s["status"], s["reason"]) for s in caller(HR).get(f"/tasks/{task_id}/sends").json["items"]]


def test_the_day_30_follow_up_reaches_the_candidate_only_after_hr_confirms_in_wecom(followup):
    caller, engine, wecom, cid, task_id = followup
    assert [s["kind"] for s in caller(HR).get(f"/candidates/{cid}").json["signals"]] == ["wecom_contact_added"]
    sent = caller(HR).post(f"/tasks/{task_id}/sends", json={"channel": NAME, "text": TEXT})
    assert sent.status_code == 201, sent.json
    outbox.send_due(engine)
    assert _status(caller, task_id) == [("awaiting_confirmation", "unsent")]
    [msgid] = wecom.tasks
    assert (wecom.tasks[msgid].sender, wecom.tasks[msgid].external_userids) == ("LiNa", ["wm-wang-wei"])
    assert wecom.delivered == []                          # WeCom waits for HR's confirmation in their app
    assert caller(ADMIN).post("/testing/clock", json={"advance": "PT2M"}).status_code == 200
    outbox.send_due(engine)
    assert _status(caller, task_id) == [("awaiting_confirmation", "unsent")] and wecom.delivered == []
    wecom.confirm("LiNa", msgid)
    assert caller(ADMIN).post("/testing/clock", json={"advance": "PT2M"}).status_code == 200
    outbox.send_due(engine)
    assert _status(caller, task_id)[0][0] == "sent"
    assert wecom.delivered == [("LiNa", "wm-wang-wei", TEXT)]
    done = caller(HR).post(f"/tasks/{task_id}/complete",
                           json={"data": {"outcome": "sent", "channel": "wecom", "message_sent": TEXT}})
    assert done.status_code == 200, done.json


def test_a_fifth_wecom_message_in_the_month_is_refused_before_wecom(followup):
    caller, engine, wecom, _, task_id = followup
    for n in range(4):
        answer = caller(HR).post(f"/tasks/{task_id}/sends", json={"channel": NAME, "text": f"{TEXT} {n}"})
        assert answer.status_code == 201, answer.json
    refused = caller(HR).post(f"/tasks/{task_id}/sends", json={"channel": NAME, "text": f"{TEXT} 5"})
    assert refused.status_code == 409 and refused.json["type"].endswith("monthly-limit-reached")
    outbox.send_due(engine)
    assert len(wecom.tasks) == 4
