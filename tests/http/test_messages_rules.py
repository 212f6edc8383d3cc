"""Issues 13.7, 13.8 and 12.1 (payloads): `POST /messages` against the real workflows/.

- a retried message is applied once (`Idempotency-Key`, and the sender's `message_id`);
- a message is accepted only when it can mean something: a name some deployed process catches,
  a known candidate, correlation keys and payload fields that workflows/messages.json declares;
  `deliver_or_fail` answers 404/409 instead of keeping it; `offer_response` never waits;
- an expired buffered message is visible (audit event and metrics), not only a log line;
- messages.json is validated with file:line diagnostics and is part of a deployed version.
"""
from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.bundle import load_bundle
from engine.models import AuditEvent, BufferedMessage, ReceivedMessage
from tests.archive.archive_helpers import archive_decline, complete, send_follow_up, wait
from tests.support import ATS, HR, ROOT, WORKFLOWS

MESSAGES_JSON = "workflows/messages.json"


@pytest.fixture
def api(api):
    """(engine, archive, caller factory): tests/conftest.py's API with workflows/ deployed, and a
    TalentArchive on its engine."""
    from engine.archive import TalentArchive

    app, engine, caller = api
    return engine, TalentArchive(engine), caller


def _case(engine, archive, *, cadence: bool = True):
    """A candidate with a recall case; `cadence`: archived and waiting in the follow-up cadence."""
    candidate = archive.create_candidate({"name": "Erin"}, actor=HR)
    instance_id = archive.record_decline(candidate.id, {"reason": "salary"}, actor=ATS).instance_id
    if cadence:
        archive_decline(engine, instance_id)
    return candidate.id, instance_id


def _reply(candidate_id, text="我想再聊聊", **extra):
    return {"name": "candidate_replied", "correlation": {"candidate_id": candidate_id}, "payload": {"text": text},
            **extra}


def _problem(response, status):
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    return response.get_json()


def _fields(body):
    return [e["field"] for e in body["errors"]]


def _ready(engine, instance_id):
    return sorted(t.element_id for t in engine.list_tasks(instance_id=instance_id))


def _snooze(engine, instance_id):
    complete(engine, instance_id, "assess_reply", outcome="not_now", snooze_for="P3M")
    assert _ready(engine, instance_id) == []


# ---------------------------------------------------------------- 13.7: applied once
def test_a_retry_with_the_same_idempotency_key_is_not_a_second_reply(api):
    engine, archive, as_user = api
    candidate, case = _case(engine, archive)
    first = as_user(ATS).post("/messages", json=_reply(candidate), headers={"Idempotency-Key": "reply-1"})
    assert first.status_code == 200 and first.get_json()["delivered_to"] == [case]
    _snooze(engine, case)                                              # HR snoozes the case for 3 months
    retry = as_user(ATS).post("/messages", json=_reply(candidate), headers={"Idempotency-Key": "reply-1"})
    assert retry.status_code == 200 and retry.headers.get("Idempotent-Replayed") == "true"
    assert retry.get_json() == first.get_json()
    assert _ready(engine, case) == []                                  # still snoozed, not back at assess_reply
    other = as_user(ATS).post("/messages", json=_reply(candidate, "另一条"), headers={"Idempotency-Key": "reply-1"})
    assert other.status_code == 422 and _ready(engine, case) == []


def test_a_second_delivery_of_the_same_message_id_changes_nothing_and_answers_like_the_first(api):
    engine, archive, as_user = api
    candidate, case = _case(engine, archive)
    first = as_user(ATS).post("/messages", json=_reply(candidate, message_id="wecom-778"))
    assert first.status_code == 200
    _snooze(engine, case)
    again = as_user("hr.li").post("/messages", json=_reply(candidate, message_id="wecom-778"))  # another sender
    assert (again.status_code, again.get_json()) == (200, first.get_json())
    assert again.headers.get("Message-Replayed") == "true"
    assert _ready(engine, case) == []
    delivered = [e for e in engine.history(case) if e.kind == "message_delivered"]
    assert len(delivered) == 1
    reused = as_user(ATS).post("/messages", json=_reply(candidate, "不一样", message_id="wecom-778"))
    assert "message_id" in _problem(reused, 409)["detail"]


def test_a_buffered_message_id_is_remembered_too(api):
    engine, archive, as_user = api
    candidate, case = _case(engine, archive, cadence=False)          # at archive_decline: nobody waits yet
    first = as_user(ATS).post("/messages", json=_reply(candidate, message_id="m-early"))
    assert first.status_code == 202 and first.get_json()["buffered_id"]
    again = as_user(ATS).post("/messages", json=_reply(candidate, message_id="m-early"))
    assert (again.status_code, again.get_json()) == (202, first.get_json())
    with engine.db.read_transaction() as s:
        assert s.scalar(select(func.count()).select_from(BufferedMessage)) == 1
        assert s.scalar(select(func.count()).select_from(ReceivedMessage)) == 1


# ---------------------------------------------------------------- 13.8: only what can mean something
def test_a_name_no_deployed_process_catches_is_422_naming_name(api):
    engine, archive, as_user = api
    candidate, _ = _case(engine, archive)
    body = _problem(as_user(ATS).post("/messages", json={**_reply(candidate), "name": "candidate_repiled"}), 422)
    assert _fields(body) == ["name"] and "candidate_replied" in body["errors"][0]["message"]
    with engine.db.read_transaction() as s:
        assert s.scalar(select(func.count()).select_from(BufferedMessage)) == 0


def test_an_unknown_candidate_is_refused_not_buffered(api):
    engine, archive, as_user = api
    body = _problem(as_user(ATS).post("/messages", json=_reply("c-nobody")), 422)
    assert _fields(body) == ["correlation.candidate_id"]
    assert _problem(as_user(ATS).post("/messages", json=_reply("c-nobody", mode="deliver_or_fail")), 404)
    with engine.db.read_transaction() as s:
        assert s.scalar(select(func.count()).select_from(BufferedMessage)) == 0


def test_deliver_or_fail_is_409_while_the_case_does_not_wait_and_200_once_it_does(api):
    engine, archive, as_user = api
    candidate, case = _case(engine, archive, cadence=False)
    busy = _problem(as_user(ATS).post("/messages", json=_reply(candidate, mode="deliver_or_fail")), 409)
    assert "candidate_replied" in busy["detail"]
    archive_decline(engine, case)
    done = as_user(ATS).post("/messages", json=_reply(candidate, mode="deliver_or_fail"))
    assert done.status_code == 200 and done.get_json()["delivered_to"] == [case]


def test_an_offer_answer_never_waits_for_an_offer_that_is_not_out(api):
    """The issue's story: an early 'accepted' made a later re-offer count as accepted at once."""
    engine, archive, as_user = api
    candidate, case = _case(engine, archive)
    early = {"name": "offer_response", "correlation": {"candidate_id": candidate}, "payload": {"decision": "accepted"}}
    assert "never waits" in _problem(as_user(ATS).post("/messages", json=early), 409)["detail"]
    wait(engine, days=31)
    send_follow_up(engine, case, "follow_up_day_30")
    assert as_user(ATS).post("/messages", json=_reply(candidate)).status_code == 200
    complete(engine, case, "assess_reply", outcome="interested", involve_manager=False)
    complete(engine, case, "prepare_reoffer", salary=10500, original_salary=10000, start_date="2026-04-01",
             concerns_addressed="薪资结构已调整", days_valid=7)
    complete(engine, case, "send_reoffer", channel="wecom", message_sent="新的 offer 已发到您的邮箱")
    view = engine.get_instance(case)
    assert [m.name for m in view.waiting_messages if m.name == "offer_response"] == ["offer_response"]
    assert "agree_goals" not in _ready(engine, case)                  # nobody accepted yet
    assert as_user(ATS).post("/messages", json=early).status_code == 200
    assert "agree_goals" in _ready(engine, case)


def test_payload_fields_and_correlation_keys_must_be_declared(api):
    engine, archive, as_user = api
    candidate, case = _case(engine, archive)
    bad = _reply(candidate)
    bad["payload"] = {"text": "hi", "lane_owners": {"HR": "mgr2"}, "mood": "happy", "channel": 7}
    bad["correlation"] = {"candidate_id": candidate, "tenant": "x"}
    body = _problem(as_user(ATS).post("/messages", json=bad), 422)
    assert sorted(_fields(body)) == ["correlation.tenant", "payload.channel", "payload.lane_owners", "payload.mood"]
    assert _ready(engine, case) == [] and engine.get_instance(case).waiting_messages   # nothing delivered
    typed = {"name": "offer_response", "correlation": {"candidate_id": candidate}, "payload": {"decision": "maybe"}}
    assert _fields(_problem(as_user(ATS).post("/messages", json=typed), 422)) == ["payload.decision"]


def test_when_the_candidate_replied_is_a_moment_with_its_offset_and_not_in_the_future(api):
    """candidate_replied's replied_at (the web form's "when"): an RFC 3339 date-time, not after the
    engine's now; a refused one is 422 naming payload.replied_at and nothing is delivered."""
    engine, archive, as_user = api
    candidate, case = _case(engine, archive)
    now = engine.clock.now()
    for bad in ("2026-01-05 09:00", "2026-01-05T09:00", "yesterday",
                (now + timedelta(minutes=5)).isoformat()):
        message = _reply(candidate)
        message["payload"]["replied_at"] = bad
        body = _problem(as_user(HR).post("/messages", json=message), 422)
        assert _fields(body) == ["payload.replied_at"], (bad, body)
        assert _ready(engine, case) == []
    earlier = (now - timedelta(hours=3)).isoformat()
    message = _reply(candidate)
    message["payload"]["replied_at"] = earlier
    ok = as_user(HR).post("/messages", json=message)
    assert ok.status_code == 200 and ok.get_json()["delivered_to"] == [case]
    assert engine.get_task(engine.list_tasks(instance_id=case)[0].id).data["reply"]["replied_at"] == earlier


def test_an_expired_buffered_message_is_audited_and_counted(api):
    engine, archive, as_user = api
    candidate, _ = _case(engine, archive, cadence=False)
    kept = as_user(ATS).post("/messages", json=_reply(candidate))
    assert kept.status_code == 202
    expires = kept.get_json()["expires_at"]
    assert datetime.fromisoformat(expires) == engine.clock.now() + timedelta(days=7)     # "buffer": "P7D"
    before = engine.metrics.messages_expired.value(name="candidate_replied")
    report = as_user("root").post("/testing/clock", json={"advance": "P8D"}).get_json()
    assert report["messages_expired"] == 1
    assert engine.metrics.messages_expired.value(name="candidate_replied") == before + 1
    with engine.db.read_transaction() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.kind == "message_expired")).one()
    assert event.instance_id is None and event.details["name"] == "candidate_replied"
    assert event.details["sent_by"] == ATS
    scrape = as_user("root").get("/metrics").get_data(as_text=True)
    assert 'recall_buffered_messages{status="expired"} 1' in scrape


# ---------------------------------------------------------------- messages.json at deploy
def _bundle(tmp_path, edit) -> Path:
    root = tmp_path / "b"
    shutil.copytree(WORKFLOWS, root / "workflows")
    shutil.copytree(ROOT / "forms", root / "forms")
    path = root / MESSAGES_JSON
    document = json.loads(path.read_text(encoding="utf-8"))
    edit(document["messages"])
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False), encoding="utf-8")
    return root


def _line(root: Path, needle: str) -> int:
    lines = (root / MESSAGES_JSON).read_text(encoding="utf-8").splitlines()
    return next(n for n, line in enumerate(lines, 1) if needle in line)


def test_messages_json_problems_are_file_line_diagnostics(tmp_path):
    def edit(messages):
        messages["candidate_replied"]["payload"]["lane_owners"] = {"type": "object"}
        messages["offer_response"]["buffer"] = "7 days"
        messages["offer_respons"] = messages.pop("new_hire_feedback")

    root = _bundle(tmp_path, edit)
    found = {(d.file, d.line, d.element_id) for d in load_bundle([root / "workflows"]).diagnostics}
    assert (MESSAGES_JSON, _line(root, '"lane_owners"'), "candidate_replied") in found
    assert (MESSAGES_JSON, _line(root, '"7 days"'), "offer_response") in found
    assert (MESSAGES_JSON, _line(root, '"offer_respons"'), "offer_respons") in found
    assert any(f == "workflows/onboarding_goals.bpmn" and e == "new_hire_feedback" for f, _, e in found)


def test_the_shipped_declarations_load_and_a_change_to_them_is_a_new_version(api, tmp_path):
    engine, _, _ = api
    shipped = load_bundle([WORKFLOWS]).messages
    assert sorted(shipped) == ["candidate_replied", "employee_left", "new_hire_feedback", "offer_response"]
    assert shipped["offer_response"].buffer_for is None and shipped["candidate_replied"].buffer_for.days == 7
    root = _bundle(tmp_path, lambda m: m["candidate_replied"].update(buffer="P14D"))
    results = {r.process_key: r for r in engine.deploy([root / "workflows"], forms_dir=root / "forms")}
    assert all(r.created and r.version == 2 for r in results.values())


def test_concurrent_deliveries_of_one_message_id_apply_it_once(api):
    import threading

    engine, archive, _ = api
    candidate, case = _case(engine, archive)
    answers, errors, gate = [], [], threading.Barrier(4)

    def send():
        gate.wait()
        try:
            answers.append(engine.deliver_message("candidate_replied", {"candidate_id": candidate}, {"text": "在"},
                                                  actor=ATS, message_id="wecom-race"))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and len(answers) == 4
    assert {tuple(a.delivered_to) for a in answers} == {(case,)}
    assert sorted(a.replayed for a in answers) == [False, True, True, True]
    assert len([e for e in engine.history(case) if e.kind == "message_delivered"]) == 1
