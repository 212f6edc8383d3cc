"""Issue 12, items 5, 7 and 8: erasure reaches every case of the person, scrubs by field (not by
exact string), and is not done until the bytes are gone from SQLite's files.

Each test runs on SQLite and PostgreSQL (the `api`/`recall` fixtures), except the file test,
which is about SQLite's write-ahead log.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.engine import make_url

from tests.archive.archive_helpers import archive_decline, complete, wait
from tests.support import ATS, BOT, HR, database_text
from engine.models import AuditEvent, BufferedMessage, HumanTask, IdempotencyRecord, ProcessInstance

NAME, PHONE, EMAIL = "Erin Wu", "13812345678", "erin.wu@example.com"


def _secrets_in(haystack: str) -> list[str]:
    """The person's strings in `haystack`, which the caller lower-cases (the name counts in any case)."""
    return [s for s in (NAME.lower(), "erin", PHONE, EMAIL) if s in haystack]


# ---------------------------------------------------------------- 12.5: every case is found
def test_erasure_finds_a_case_started_with_the_candidate_id_under_another_business_key(api):
    app, engine, as_ = api
    ats, hr, root = as_(ATS), as_(HR), as_("root")
    created = hr.post("/candidates", json={"id": "c-42", "name": NAME, "phone": PHONE, "email": EMAIL})
    assert created.status_code == 201, created.get_json()
    # the README's own example: business key "cand-42", the candidate id in the variables
    started = ats.post("/process-instances", json={
        "process_key": "offer_recall", "business_key": "cand-42",
        "variables": {"candidate_id": "c-42", "decline_date": "2026-01-05T09:00:00+08:00"}})
    assert started.status_code == 201, started.get_json()
    live = started.get_json()["id"]
    # a second case, ended at once (no consent), found only by its start variables
    ended = ats.post("/process-instances", json={
        "process_key": "offer_recall", "business_key": "ats-7781",
        "variables": {"candidate_id": "c-42", "decline_date": "2026-01-05T09:00:00+08:00"}}).get_json()["id"]
    complete(engine, ended, "archive_decline", decline_reason="salary", talent_pool_consent=False,
             decline_detail=f"{NAME} 电话 {PHONE}")
    assert engine.get_instance(ended).status == "completed"
    archive_decline(engine, live, reason="salary", detail=f"{NAME} 的原公司加薪挽留")
    sent = ats.post("/messages", json={"name": "candidate_replied", "correlation": {"candidate_id": "c-42"},
                                       "payload": {"text": f"我是 {NAME},打我电话 {PHONE} 或 {EMAIL}"}})
    assert sent.status_code == 200 and sent.get_json()["delivered_to"] == [live], sent.get_json()
    history = json.dumps(root.get(f"/process-instances/{live}/history").get_json(), ensure_ascii=False).lower()
    assert PHONE in history and NAME.lower() in history

    erased = hr.delete("/candidates/c-42")

    assert erased.status_code == 200, erased.get_json()
    body = erased.get_json()
    assert body["cases_cancelled"] == [live] and set(body["cases_scrubbed"]) == {live, ended}
    assert engine.get_instance(live).status == "cancelled"
    for instance_id in (live, ended):
        history = json.dumps(root.get(f"/process-instances/{instance_id}/history").get_json(),
                             ensure_ascii=False).lower()
        assert _secrets_in(history) == [], instance_id
    assert _secrets_in(database_text(engine.db).lower()) == []


def test_a_withdrawn_consent_ends_a_case_started_under_another_business_key(api):
    app, engine, as_ = api
    hr = as_(HR)
    assert hr.post("/candidates", json={"id": "c-77", "name": NAME}).status_code == 201
    started = as_(ATS).post("/process-instances", json={
        "process_key": "offer_recall", "business_key": "ats-77",
        "variables": {"candidate_id": "c-77", "decline_date": "2026-01-05T09:00:00+08:00"}}).get_json()["id"]
    hr.patch("/candidates/c-77", json={"consent": {"granted": True, "scope": "any_role", "expires_at": "2027-01-05"}})

    withdrawn = hr.patch("/candidates/c-77", json={"consent": {"granted": False, "withdraw": True}})

    assert withdrawn.status_code == 200, withdrawn.get_json()
    assert engine.get_instance(started).status == "cancelled"


# ---------------------------------------------------------------- 12.7: by field, not by string
def _plant(engine, case: str, candidate_id: str) -> None:
    """Put the person's name and phone where no exact-string match finds them: under undeclared
    keys, lower-cased, as a number, in task data (completed and ready tasks), prefill, audit
    details, a buffered message and an idempotency record's stored answer. Written straight into
    the rows, so this test does not depend on which fields the API lets in."""
    variants = {"from": "Erin", "reply_to": PHONE, "who": {"nick": "erin wu", "mobile": int(PHONE)},
                "aka": ["E. Wu", "erin"], "decline_reason": "salary", "candidate_id": candidate_id}
    runtime = engine.runtime
    with engine.db.write_transaction() as s:
        loaded = runtime.load(s, case)
        for t in loaded.workflow.get_tasks():
            t.data.update(variants)
        s.execute(update(ProcessInstance).where(ProcessInstance.id == case)
                  .values(state=runtime.serializer.dump_state(loaded.workflow)))
        s.execute(update(HumanTask).where(HumanTask.instance_id == case).values(data=variants))
        now = engine.clock.now()
        s.execute(insert(AuditEvent).values(instance_id=case, at=now, actor=BOT, kind="message_delivered",
                                            element_id="catch_reply", details={
                                                "name": "candidate_replied", "correlation": {"candidate_id": candidate_id},
                                                "payload": {"text": "ok", **variants}}))
        s.execute(insert(BufferedMessage).values(
            name="new_hire_feedback", correlation_key=json.dumps({"candidate_id": candidate_id}, sort_keys=True,
                                                                 separators=(",", ":")),
            correlation={"candidate_id": candidate_id}, payload=variants, status="buffered", received_at=now,
            expires_at=now + timedelta(days=7), sent_by=BOT))
        s.execute(insert(IdempotencyRecord).values(
            scope="POST /messages", user_name=ATS, key="k-1", request_hash="0" * 64, status="done",
            response_status=200, response_body={"delivered_to": [case], "echo": variants}, response_headers={},
            created_at=now, completed_at=now))


def test_erasure_scrubs_by_field_every_variant_of_the_person(recall, archive_of):
    archive = archive_of(recall)
    person = archive.create_candidate({"name": NAME, "phone": PHONE, "email": EMAIL}, actor=HR)
    other = archive.create_candidate({"name": "路人甲", "phone": "13000000000"}, actor=HR)
    case = archive.record_decline(person.id, {"reason": "salary"}, actor=ATS).instance_id
    other_case = archive.record_decline(other.id, {"reason": "team"}, actor=ATS).instance_id
    archive_decline(recall, case, reason="salary", detail="原公司加薪")
    archive_decline(recall, other_case, reason="team")
    wait(recall, days=31)
    _plant(recall, case, person.id)
    assert len(_secrets_in(database_text(recall.db).lower())) == 4
    before = archive.funnel(group_by="template")

    archive.erase(person.id, actor=HR)

    assert _secrets_in(database_text(recall.db).lower()) == []
    with recall.db.read_transaction() as s:
        details = [e.details for e in s.scalars(select(AuditEvent).where(AuditEvent.instance_id == case,
                                                                          AuditEvent.kind == "message_delivered"))]
        record = s.scalars(select(IdempotencyRecord)).one()
    # what a scrub leaves: structure and codes, ids; values under other keys replaced by the marker
    assert details[-1]["name"] == "candidate_replied"
    assert details[-1]["correlation"] == {"candidate_id": person.id}
    assert details[-1]["payload"]["decline_reason"] == "salary"
    assert details[-1]["payload"]["from"] == "[erased]" and details[-1]["payload"]["who"]["mobile"] is None
    assert record.response_body["delivered_to"] == [case]
    assert "路人甲" in database_text(recall.db).lower()        # nobody else's data was touched
    assert archive.funnel(group_by="template") == before


@pytest.fixture
def archive_of():
    from engine.archive import PrivacySettings, TalentArchive
    return lambda engine: TalentArchive(engine, settings=PrivacySettings())


# ---------------------------------------------------------------- 12.8: the bytes are gone
FILE_NAME, FILE_PHONE, FILE_EMAIL = "Zorblax Quennt", "13977001122", "zorblax.q@example.com"


def _file_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal"),
                                            path.with_name(path.name + "-shm")) if p.exists())


def _file_secrets(path: Path) -> list[str]:
    raw = _file_bytes(path).lower()
    return [s for s in (FILE_NAME, "zorblax", FILE_PHONE, FILE_EMAIL) if s.lower().encode() in raw]


def _person_with_history(archive, recall) -> tuple[str, str]:
    person = archive.create_candidate({"name": FILE_NAME, "phone": FILE_PHONE, "email": FILE_EMAIL,
                                       "notes": f"{FILE_NAME} prefers Shanghai, call {FILE_PHONE}"}, actor=HR)
    archive.update_candidate(person.id, {"notes": f"{FILE_NAME} zorblax moved, mail {FILE_EMAIL}"}, actor=HR)
    case = archive.record_decline(person.id, {"reason": "salary", "detail": f"{FILE_NAME} got a raise"},
                                  actor=ATS).instance_id
    archive_decline(recall, case, reason="salary", detail=f"{FILE_NAME} {FILE_PHONE}")
    return person.id, case


@pytest.fixture
def sqlite_file(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the write-ahead log is SQLite's")
    return Path(make_url(database_url).database)


def test_erasure_leaves_no_bytes_in_the_sqlite_files(recall, archive_of, sqlite_file):
    archive = archive_of(recall)
    candidate_id, _case = _person_with_history(archive, recall)
    assert _file_secrets(sqlite_file)

    report = archive.erase(candidate_id, actor=HR)

    assert report.status == "done", report
    assert _file_secrets(sqlite_file) == []


def test_erasure_with_a_reader_open_is_pending_until_the_worker_removes_the_bytes(recall, archive_of, sqlite_file):
    archive = archive_of(recall)
    candidate_id, _case = _person_with_history(archive, recall)
    reader = sqlite3.connect(sqlite_file, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM candidates").fetchone()     # holds a snapshot from before the erasure
    busy = threading.Event()

    def another_writer():                                             # another thread works meanwhile
        while not busy.is_set():
            archive.create_candidate({"name": "路人乙"}, actor=HR)

    worker = threading.Thread(target=another_writer)
    worker.start()
    try:
        report = archive.erase(candidate_id, actor=HR)
    finally:
        busy.set()
        worker.join()
    assert report.status == "pending", report
    with recall.db.read_transaction() as s:
        kinds = list(s.scalars(select(AuditEvent.kind).where(AuditEvent.kind.like("erasure_%"))))
    assert kinds == ["erasure_pending"]
    reader.rollback()
    reader.close()

    jobs = archive.run_jobs()

    assert jobs.erasures_completed == 1
    with recall.db.read_transaction() as s:
        kinds = list(s.scalars(select(AuditEvent.kind).where(AuditEvent.kind.like("erasure_%"))
                               .order_by(AuditEvent.id)))
    assert kinds == ["erasure_pending", "erasure_completed"]
    assert _file_secrets(sqlite_file) == []
    assert archive.run_jobs().erasures_completed == 0                # nothing left to do


def test_the_api_says_when_an_erasure_is_pending(api, database_url):
    app, engine, as_ = api
    hr = as_(HR)
    person = hr.post("/candidates", json={"name": FILE_NAME, "phone": FILE_PHONE}).get_json()
    erased = hr.delete(f"/candidates/{person['id']}")
    assert erased.status_code == 200
    assert erased.get_json()["status"] == "done"
