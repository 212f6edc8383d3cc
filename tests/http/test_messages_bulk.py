"""Issue 16, "Sync in": `POST /messages/bulk` — a nightly job's replies and offer answers, each item with
its own result and idempotency (a required `message_id`), against the real workflows/ (SQLite and
PostgreSQL through tests/conftest.py's `api`)."""
from __future__ import annotations

from sqlalchemy import func, select

from engine.models import AuditEvent
from tests.archive.archive_helpers import archive_decline
from tests.support import ATS, HR, MANAGER


def _case(engine, archive, name, *, cadence=True):
    candidate = archive.create_candidate({"name": name}, actor=HR)
    instance_id = archive.record_decline(candidate.id, {"reason": "salary"}, actor=ATS).instance_id
    if cadence:
        archive_decline(engine, instance_id)
    return candidate.id, instance_id


def _reply(candidate_id, message_id, text="我想再聊聊", **extra):
    return {"name": "candidate_replied", "correlation": {"candidate_id": candidate_id},
            "payload": {"text": text, "channel": "ats"}, "message_id": message_id, **extra}


def _delivered(engine, instance_id):
    with engine.db.read_transaction() as s:
        return s.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.instance_id == instance_id, AuditEvent.kind == "message_delivered"))


def test_each_item_answers_alone_and_a_resent_night_delivers_nothing_twice(api):
    from engine.archive import TalentArchive

    _, engine, as_user = api
    archive = TalentArchive(engine)
    waiting, waiting_case = _case(engine, archive, "夜间回复甲")
    early, early_case = _case(engine, archive, "夜间回复乙", cadence=False)     # nobody waits yet: buffered
    items = [
        _reply(waiting, "ats-r-1"),
        _reply(early, "ats-r-2"),
        _reply("no-such-candidate", "ats-r-3"),                                  # refused by the engine
        {"name": "candidate_replied", "correlation": {"candidate_id": waiting}, "payload": {"text": "x"}},  # no id
        _reply(waiting, "ats-r-5", extra_field=1),                               # refused by the schema
        {"name": "candidate_replied", "correlation": {"candidate_id": waiting},
         "payload": {"text": "x", "undeclared": "y"}, "message_id": "ats-r-6"},  # undeclared payload field
    ]
    first = as_user(ATS).post("/messages/bulk", json={"items": items})
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert [r["index"] for r in body["items"]] == list(range(6))
    assert [r["status"] for r in body["items"]] == ["delivered", "buffered", "failed", "failed", "failed", "failed"]
    assert body["counts"] == {"delivered": 1, "buffered": 1, "failed": 4, "replayed": 0}
    assert body["items"][0]["delivered_to"] == [waiting_case]
    assert body["items"][1]["buffered_id"] and body["items"][1]["expires_at"]
    assert body["items"][2]["problem"]["status"] == 422
    assert body["items"][3]["problem"]["errors"][0]["field"] == "message_id"
    assert body["items"][4]["problem"]["errors"][0]["field"] == "extra_field"
    assert body["items"][5]["problem"]["status"] == 422 and "undeclared" in body["items"][5]["problem"]["detail"]
    assert _delivered(engine, waiting_case) == 1

    again = as_user(ATS).post("/messages/bulk", json={"items": items[:2]}).get_json()
    assert [r["status"] for r in again["items"]] == ["delivered", "buffered"]
    assert all(r["replayed"] for r in again["items"]) and again["counts"]["replayed"] == 2
    assert again["items"][0]["delivered_to"] == body["items"][0]["delivered_to"]
    assert again["items"][1]["buffered_id"] == body["items"][1]["buffered_id"]
    assert _delivered(engine, waiting_case) == 1                                  # nothing twice
    reused = as_user(ATS).post("/messages/bulk", json={"items": [_reply(waiting, "ats-r-1", text="另一句")]})
    assert reused.get_json()["items"][0]["problem"]["status"] == 409              # an id for another message
    assert early_case and _delivered(engine, early_case) == 0


def test_the_call_itself_is_checked_and_a_manager_may_not_use_it(api):
    _, _, as_user = api
    assert as_user(MANAGER).post("/messages/bulk", json={"items": [_reply("c", "m")]}).status_code == 403
    over = as_user(ATS).post("/messages/bulk", json={"items": [_reply("c", f"m{n}") for n in range(501)]})
    assert over.status_code == 422 and over.get_json()["errors"][0]["field"] == "items"
    assert "500" in over.get_json()["errors"][0]["message"]
    for bad in ({}, {"items": []}, {"items": "x"}, {"items": [1, 2]}, {"items": [{}], "more": 1}):
        answer = as_user(ATS).post("/messages/bulk", json=bad)
        assert answer.status_code == 422, (bad, answer.get_json())
    weird = as_user(ATS).post("/messages/bulk", json={"items": [{"name": "candidate_replied", "message_id": "w",
                                                                 "correlation": {"candidate_id": {"deep": [1]}},
                                                                 "payload": {"text": "x" * 20_000}}]})
    assert weird.status_code == 200 and weird.get_json()["items"][0]["status"] == "failed"
