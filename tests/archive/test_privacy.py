"""Points 5 and 6: consent, retention and erasure.

The erasure test works on the real database: a candidate with a unique name and phone goes
through several tasks and messages; after erasure (SQLite: after VACUUM) neither string is
anywhere in the database, and the funnel counts are unchanged.
"""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url

from tests.archive.archive_helpers import archive_decline, complete, reply, send_follow_up, task, wait
from tests.support import ATS, BOT, HR, MANAGER, database_text
from engine.archive import SearchFilters, Viewer
from engine.archive.privacy import ERASED, Scrubber
from engine.errors import NotFound
from engine.models import AuditEvent, HumanTask

NAME, PHONE = "雷霆万钧Qx", "13955550101"
EMAIL, WECOM = "leiting.qx@example.com", "wm-leiting-7731"


def test_the_scrubber_erases_free_text_and_identifiers_but_keeps_codes():
    scrub = Scrubber([NAME, PHONE], ["counter_offer", "想要弹性工作"])
    data = {"decline_reason": "counter_offer", "outcome": "sent", "channel": "wecom", "stage": "day_30",
            "message_sent": "您好", "reply": {"text": "hi", "channel": "wecom"}, "salary": 12000,
            "contact": PHONE, "title": f"call {NAME}", "talking_points": ["a", "b"], "count": 3,
            "candidate_id": "cand-1", "about": "她想要弹性工作,所以", "suggestion_template_id": "day_90_salary"}
    assert scrub.value(data) == {
        "decline_reason": "counter_offer", "outcome": "sent", "channel": "wecom", "stage": "day_30",
        "message_sent": ERASED, "reply": {"text": ERASED, "channel": "wecom"}, "salary": None,
        "contact": ERASED, "title": ERASED, "talking_points": [ERASED, ERASED], "count": 3,
        "candidate_id": "cand-1", "about": ERASED, "suggestion_template_id": "day_90_salary"}


def _funnel(archive):
    return {g: [{k: v for k, v in row.items()} for row in [archive.funnel(group_by=g)["overall"],
                                                          *archive.funnel(group_by=g)["groups"]]]
            for g in ("reason", "sender", "template", "stage")}


def test_erasure_removes_the_person_everywhere_and_keeps_the_counts(archive, recall, database_url):
    person = archive.create_candidate(
        {"name": NAME, "phone": PHONE, "email": EMAIL, "wecom_external_id": WECOM, "role_applied": "上海店长",
         "notes": f"{NAME} 很看重团队", "needs": ["弹性工作"], "open_questions": ["QX 门店的晋升节奏如何?"], "tags": ["vip"],
         "interview_trail": [{"round": 1, "interviewer": "wang.li", "evaluation": f"{NAME} 沟通能力强"}]}, actor=HR)
    other = archive.create_candidate({"name": "路人甲", "phone": "13000000000"}, actor=HR)
    case = archive.record_decline(person.id, {"reason": "counter_offer", "detail": f"{NAME} 的原公司加薪挽留",
                                              "consent": {"granted": True, "scope": "any_role", "source": "电话",
                                                          "expires_at": recall.clock.now() + timedelta(days=365)}},
                                  actor=ATS).instance_id
    other_case = archive.record_decline(other.id, {"reason": "team"}, actor=ATS).instance_id
    archive_decline(recall, case, reason="counter_offer", detail=f"{NAME} 说原公司加薪 20%")
    archive_decline(recall, other_case, reason="team")
    wait(recall, days=31)
    send_follow_up(recall, case, "follow_up_day_30", message=f"{NAME},您好!最近还好吗?")
    send_follow_up(recall, other_case, "follow_up_day_30")
    archive.record_signal(person.id, {"kind": "new_number", "text": f"换了新号码 {PHONE}", "source": "wecom"}, actor=BOT)
    complete(recall, case, "react_to_signal", action="contacted", channel="phone", message_sent=f"已致电 {PHONE}")
    reply(recall, person.id, f"可以聊聊,打我电话 {PHONE}")
    complete(recall, case, "assess_reply", outcome="interested", involve_manager=True, notes=f"{NAME} 有意向")
    complete(recall, case, "request_manager_contact", manager_username=MANAGER,
             talking_points=f"请联系 {NAME},电话 {PHONE}")
    seen = archive.get_candidate(person.id, viewer=Viewer(MANAGER, "manager"))
    assert seen.phone == PHONE                                        # audited read while the task is open
    recall.deliver_message("new_hire_feedback", {"candidate_id": person.id}, {"text": f"{NAME} {PHONE}"}, actor=BOT)
    assert PHONE in database_text(recall.db) and NAME in database_text(recall.db)
    before = _funnel(archive)

    report = archive.erase(person.id, actor=HR)

    assert report.cases_cancelled == [case] and report.buffered_messages_scrubbed == 1
    view = recall.get_instance(case)
    assert view.status == "cancelled" and view.ready_tasks == [] and view.waiting_messages == []
    with pytest.raises(NotFound):
        archive.get_candidate(person.id, viewer=Viewer(HR, "hr"))
    assert person.id not in {c.id for c in archive.search(SearchFilters()).items}
    with recall.db.read_transaction() as s:
        manager_task = s.scalars(select(HumanTask).where(HumanTask.element_id == "manager_contact_candidate")).one()
        kinds = [e.kind for e in s.scalars(select(AuditEvent).where(AuditEvent.kind.in_(("candidate_erased",))))]
    assert manager_task.status == "cancelled" and kinds == ["candidate_erased"]
    for secret in (NAME, PHONE, EMAIL, WECOM, "QX 门店的晋升节奏", "沟通能力强"):
        assert secret not in database_text(recall.db), secret
    assert "路人甲" in database_text(recall.db)                      # nobody else's data was touched
    assert _funnel(archive) == before

    if recall.db.dialect == "sqlite":            # the file itself, after VACUUM
        recall.db.dispose()
        path = Path(make_url(database_url).database)
        conn = sqlite3.connect(path)
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        raw = b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())
        for secret in (NAME, PHONE, EMAIL, WECOM):
            assert secret.encode() not in raw, secret
        assert "路人甲".encode() in raw


# ---------------------------------------------------------------- consent and retention
def _consenting(archive, recall, name, *, days: int = 45):
    candidate = archive.create_candidate({"name": name, "phone": "13100000000"}, actor=HR)
    case = archive.record_decline(candidate.id, {"reason": "salary"}, actor=ATS).instance_id
    expiry = (recall.clock.now() + timedelta(days=days)).date().isoformat()
    archive_decline(recall, case, reason="salary", expiry=expiry)
    return candidate, case


def test_consent_answers_renewal_lapse_and_retention(archive, recall):
    renewing, renewing_case = _consenting(archive, recall, "续期甲QX")
    lapsing, lapsing_case = _consenting(archive, recall, "到期乙QX")
    # the archive_decline answers were applied when the tasks were completed, not by a job
    consent = archive.get_candidate(renewing.id, viewer=Viewer(HR, "hr")).consent
    assert consent.granted and consent.scope == "similar_roles" and consent.source == "task:archive_decline"
    # the last instant of that day in Beijing (engine/days.py), shown as that day
    assert consent.expires_at == datetime(2026, 2, 19, 15, 59, 59, 999999, tzinfo=timezone.utc)
    assert consent.expires_on == "2026-02-19"

    wait(recall, days=20)                                        # 26 days before expiry: ask for renewal
    report = archive.run_jobs()
    assert report.renewals_requested == 2 and archive.run_jobs().renewals_requested == 0
    ask = task(recall, renewing_case, "renew_consent")
    assert ask.candidate_groups == ["hr"] and ask.data["consent_renewal"]["scope"] == "similar_roles"
    complete(recall, renewing_case, "renew_consent", consent_outcome="renewed", consent_scope="any_role",
             consent_expiry="2027-06-30")
    # applied with the completion (issue 13.2): nothing waits for the job
    consent = archive.get_candidate(renewing.id, viewer=Viewer(HR, "hr")).consent
    assert consent.scope == "any_role" and consent.expires_at.year == 2027 and consent.renewal_requested_at is None

    wait(recall, days=26)                                        # the other consent has expired
    report = archive.run_jobs()
    assert report.consents_lapsed == 1 and report.cases_cancelled == 1
    assert recall.get_instance(lapsing_case).status == "cancelled"
    assert recall.get_instance(renewing_case).status in ("running", "waiting")
    cancelled = [h for h in recall.history(lapsing_case) if h.kind == "instance_cancelled"]
    assert cancelled[0].details["reason"] == "consent_expired"

    wait(recall, days=179)
    assert archive.run_jobs().anonymised == 0                   # the retention period is 180 days
    wait(recall, days=2)
    assert archive.run_jobs().anonymised == 1
    with pytest.raises(NotFound):
        archive.get_candidate(lapsing.id, viewer=Viewer(HR, "hr"))
    with recall.db.read_transaction() as s:
        anonymised = s.scalars(select(AuditEvent).where(AuditEvent.kind == "candidate_anonymised")).one()
    assert anonymised.details["candidate_id"] == lapsing.id and anonymised.actor == "worker:retention"
    assert "到期乙QX" not in database_text(recall.db)
    assert archive.get_candidate(renewing.id, viewer=Viewer(HR, "hr")).name == "续期甲QX"


def test_withdrawing_consent_ends_the_running_cases_at_once(archive, recall):
    candidate, case = _consenting(archive, recall, "撤回丙QX", days=300)
    view = archive.update_candidate(candidate.id, {"consent": {"granted": False, "source": "电话"}}, actor=HR)
    assert not view.consent.granted and view.consent.withdrawn_at == recall.clock.now()
    assert recall.get_instance(case).status == "cancelled"
    assert [h.details["reason"] for h in recall.history(case) if h.kind == "instance_cancelled"] == ["consent_withdrawn"]


def test_the_worker_runs_the_privacy_jobs(archive, recall):
    from engine.archive.jobs import archive_jobs
    from engine.config import Settings
    from engine.worker import Worker

    candidate, case = _consenting(archive, recall, "工人丁QX", days=10)
    wait(recall, days=11)
    worker = Worker(recall, poll_seconds=0.01, jobs=archive_jobs(Settings(privacy_job_seconds=0)))
    worker.run_once()                # applies the consent answer, then the lapse
    worker.run_once()
    assert recall.get_instance(case).status == "cancelled"
    with recall.db.read_transaction() as s:
        lapsed = s.scalars(select(AuditEvent).where(AuditEvent.kind == "consent_lapsed")).one()
    assert lapsed.details == {"candidate_id": candidate.id, "reason": "consent_expired", "cases_cancelled": [case]}
