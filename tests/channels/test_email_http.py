"""The email endpoints over HTTP (SQLite and PostgreSQL): a mail pushed as message/rfc822 by an
integrator becomes the candidate's reply and moves the case; the same mail twice records once; a mail
nobody matches waits in HR's queue, which HR (not a manager, not an integrator) reads and assigns;
wrong content types and empty bodies are refused with a clear problem."""
from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from engine.archive import TalentArchive
from tests.archive.archive_helpers import archive_decline, task, wait
from tests.support import ADMIN, ATS, HR, MANAGER

RFC822 = {"Content-Type": "message/rfc822"}


def _mail(sender: str, text: str, *, when) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "recall@mail.test", "Re: 您好"
    message["Message-ID"], message["Date"] = make_msgid(domain="client.test"), format_datetime(when)
    message.set_content(text)
    return bytes(message)


def _case(engine, email: str):
    archive = TalentArchive(engine)
    candidate = archive.create_candidate({"name": "林晓", "email": email}, actor=HR)
    case = archive.record_decline(candidate.id, {"reason": "team"}, actor=ATS).instance_id
    archive_decline(engine, case, reason="team")
    wait(engine, days=31)
    task(engine, case, "follow_up_day_30")
    return candidate.id, case


def test_a_pushed_reply_moves_the_case_and_is_recorded_once(api):
    _, engine, caller = api
    cid, case = _case(engine, "lin.xiao@example.test")
    raw = _mail("林晓 <Lin.Xiao@example.test>", "我现在方便聊了。\n\nOn Thu, Feb 5, 2026, HR wrote:\n> 您好",
                when=engine.clock.now() - timedelta(minutes=5))
    first = caller(ATS).post("/channels/email/inbound", data=raw, headers=RFC822)
    assert first.status_code == 200, first.json
    assert {k: first.json[k] for k in ("status", "candidate_id", "matched_by", "delivered_to", "duplicate",
                                       "source", "text")} == \
        {"status": "recorded", "candidate_id": cid, "matched_by": "from_address", "delivered_to": [case],
         "duplicate": False, "source": "push", "text": "我现在方便聊了。"}
    assert task(engine, case, "assess_reply").data["reply"]["text"] == "我现在方便聊了。"
    again = caller(ATS).post("/channels/email/inbound", data=raw, headers=RFC822)
    assert (again.status_code, again.json["id"], again.json["duplicate"]) == (200, first.json["id"], True)
    assert len(engine.list_tasks(instance_id=case, element_id="assess_reply")) == 1


def test_the_unmatched_queue_is_hrs_and_assigning_records_the_reply(api):
    _, engine, caller = api
    cid, case = _case(engine, "lin.xiao@example.test")
    raw = _mail("someone@webmail.test", "我是林晓,换了邮箱。", when=engine.clock.now() - timedelta(hours=1))
    pushed = caller(ADMIN).post("/channels/email/inbound", data=raw, headers=RFC822)
    assert (pushed.status_code, pushed.json["status"], pushed.json["candidate_id"]) == (200, "unmatched", None)
    for who in (MANAGER, ATS):
        assert caller(who).get("/channels/email/unmatched").status_code == 403
        assert caller(who).post(f"/channels/email/unmatched/{pushed.json['id']}/assign",
                                json={"candidate_id": cid}).status_code == 403
    assert caller(HR).post("/channels/email/inbound", data=raw, headers=RFC822).status_code == 403
    queue = caller(HR).get("/channels/email/unmatched")
    assert [(i["id"], i["text"]) for i in queue.json["items"]] == [(pushed.json["id"], "我是林晓,换了邮箱。")]
    missing = caller(HR).post(f"/channels/email/unmatched/{pushed.json['id']}/assign", json={"candidate_id": "nobody"})
    assert missing.status_code == 404 and "nobody" in missing.json["detail"]
    bad = caller(HR).post(f"/channels/email/unmatched/{pushed.json['id']}/assign", json={})
    assert bad.status_code == 422 and "candidate_id" in str(bad.json["errors"])
    assigned = caller(HR).post(f"/channels/email/unmatched/{pushed.json['id']}/assign", json={"candidate_id": cid})
    assert assigned.status_code == 200, assigned.json
    assert (assigned.json["status"], assigned.json["matched_by"], assigned.json["delivered_to"]) == \
        ("assigned", "hand", [case])
    assert task(engine, case, "assess_reply").data["reply"]["text"] == "我是林晓,换了邮箱。"
    assert caller(HR).get("/channels/email/unmatched").json["items"] == []
    twice = caller(HR).post(f"/channels/email/unmatched/{pushed.json['id']}/assign", json={"candidate_id": cid})
    assert twice.status_code == 409


def test_wrong_bodies_are_refused_clearly(api):
    _, engine, caller = api
    as_json = caller(ATS).post("/channels/email/inbound", json={"raw": "From: a@b.test"})
    assert as_json.status_code == 415 and "message/rfc822" in as_json.json["detail"]
    empty = caller(ATS).post("/channels/email/inbound", data=b"  \r\n", headers=RFC822)
    assert empty.status_code == 422 and [e["field"] for e in empty.json["errors"]] == ["body"]


def test_a_sender_address_longer_than_the_column_is_kept_cut(api):
    _, engine, caller = api
    sender = "x" * 315 + "@example.test"             # 328 characters: PostgreSQL would refuse it whole
    pushed = caller(ATS).post("/channels/email/inbound", data=_mail(sender, "很长的地址", when=engine.clock.now()),
                              headers=RFC822)
    assert pushed.status_code == 200, pushed.json
    assert (pushed.json["status"], len(pushed.json["from_address"])) == ("unmatched", 320)
