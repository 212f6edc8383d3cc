"""Consent and retention, run by the worker (`Worker.run_once` → `TalentArchive.run_jobs`).

1. Consent answers recorded in tasks (`archive_decline`, `renew_consent`) are applied to the
   archive, read from the audit trail once each (a cursor plus a unique key per event).
2. A consent expiring within `renewal_days` raises the `renew_consent` HR task in the
   candidate's running cases (BPMN signal `consent_expiring`), once per consent.
3. An expired or withdrawn consent ends the candidate's running cases (`consent_lapsed`).
4. `retention_days` after the consent ended (or, without consent, after the last decline) and
   with no running case left, the personal data is anonymised (`candidate_anonymised`).
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ..archive_models import ArchiveCursor, Candidate, CandidateConsent, CandidateDecline
from ..models import AuditEvent, ProcessInstance
from . import cases, records

CONSENT_TASKS = ("archive_decline", "renew_consent")
CURSOR = "consent_answers"
CST = timezone(timedelta(hours=8))     # a date in a form means the end of that day, Beijing time


def end_of_day(value: str) -> datetime:
    day = date.fromisoformat(value)
    return datetime.combine(day + timedelta(days=1), time(0, 0), CST).astimezone(timezone.utc)


def candidate_of_case(session: Session, instance_id: str) -> Candidate | None:
    candidate_id = session.scalar(select(CandidateDecline.candidate_id)
                                  .where(CandidateDecline.instance_id == instance_id))
    if candidate_id is None:
        candidate_id = session.scalar(select(ProcessInstance.business_key).where(ProcessInstance.id == instance_id))
    if candidate_id is None:
        return None
    candidate = session.get(Candidate, candidate_id)
    return candidate if candidate is not None and candidate.anonymised_at is None else None


def answer_to_consent(element_id: str, data: dict) -> dict | None:
    """The consent a completed task's form recorded, or None when it records none."""
    if element_id == "archive_decline":
        if "talent_pool_consent" not in data:
            return None
        if data["talent_pool_consent"] and data.get("consent_expiry"):
            return {"granted": True, "scope": data.get("consent_scope"),
                    "expires_at": end_of_day(data["consent_expiry"])}
        return {"granted": False}
    outcome = data.get("consent_outcome")
    if outcome == "renewed" and data.get("consent_expiry"):
        return {"granted": True, "scope": data.get("consent_scope"), "expires_at": end_of_day(data["consent_expiry"])}
    if outcome == "withdrawn":
        return {"granted": False, "withdraw": True}
    return None


def answers_pending(session: Session) -> bool:
    """Whether a consent answer newer than the cursor waits (a read, so idle rounds take no write lock)."""
    last = session.scalar(select(ArchiveCursor.last_event_id).where(ArchiveCursor.name == CURSOR)) or 0
    return session.scalar(select(AuditEvent.id).where(
        AuditEvent.id > last, AuditEvent.kind == "task_completed", AuditEvent.element_id.in_(CONSENT_TASKS))
        .limit(1)) is not None


def apply_answers(session: Session, *, now: datetime, limit: int) -> int:
    """Apply consent answers from completed tasks newer than the cursor; returns how many."""
    query = select(ArchiveCursor).where(ArchiveCursor.name == CURSOR)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    cursor = session.scalars(query).first()
    if cursor is None:
        cursor = ArchiveCursor(name=CURSOR, last_event_id=0, updated_at=now)
        session.add(cursor)
        session.flush()
    events = session.execute(
        select(AuditEvent.id, AuditEvent.instance_id, AuditEvent.at, AuditEvent.actor, AuditEvent.element_id,
               AuditEvent.details)
        .where(AuditEvent.id > cursor.last_event_id, AuditEvent.kind == "task_completed",
               AuditEvent.element_id.in_(CONSENT_TASKS))
        .order_by(AuditEvent.id).limit(limit)).all()
    applied = 0
    for event_id, instance_id, at, actor, element_id, details in events:
        cursor.last_event_id = event_id
        consent = answer_to_consent(element_id, (details or {}).get("data") or {})
        candidate = candidate_of_case(session, instance_id) if consent else None
        if candidate is None or session.scalar(select(CandidateConsent.id)
                                               .where(CandidateConsent.audit_event_id == event_id)):
            continue
        # an answer read late may have expired already: it still lapses like any other
        records.record_consent(session, candidate, consent, actor=actor, now=at,
                               source=f"task:{element_id}", audit_event_id=event_id, past_expiry_ok=True)
        applied += 1
    cursor.updated_at = now
    return applied


def renewals_due(session: Session, *, now: datetime, renewal_days: int, limit: int) -> list[str]:
    return list(session.scalars(select(Candidate.id).where(
        Candidate.anonymised_at.is_(None), Candidate.consent_granted.is_(True),
        Candidate.consent_withdrawn_at.is_(None), Candidate.consent_renewal_requested_at.is_(None),
        Candidate.consent_expires_at > now, Candidate.consent_expires_at <= now + timedelta(days=renewal_days))
        .order_by(Candidate.consent_expires_at).limit(limit)))


def request_renewal(engine, session: Session, candidate: Candidate, *, now: datetime) -> list[str]:
    """Raise `renew_consent` in the candidate's running cases; remembered so it is asked once."""
    ids = cases.live_cases(session, cases.instance_ids(session, candidate.id))
    payload = {"candidate_id": candidate.id, "expires_at": candidate.consent_expires_at.isoformat(),
               "scope": candidate.consent_scope}
    delivered = [i for i in ids if cases.send_signal(engine, session, i, "consent_expiring", payload,
                                                     correlation={"candidate_id": candidate.id},
                                                     actor="worker:consent")]
    candidate.consent_renewal_requested_at = now
    engine.runtime.audit(session, None, "consent_renewal_requested", "worker:consent", None, None,
                         {"candidate_id": candidate.id, "expires_at": payload["expires_at"],
                          "delivered_to": delivered})
    return delivered


def lapses_due(session: Session, *, now: datetime, limit: int) -> list[str]:
    return list(session.scalars(select(Candidate.id).where(
        Candidate.anonymised_at.is_(None), Candidate.consent_lapsed_at.is_(None),
        or_(Candidate.consent_withdrawn_at.is_not(None),
            Candidate.consent_granted.is_(True) & (Candidate.consent_expires_at <= now)))
        .order_by(Candidate.id).limit(limit)))


def lapse(engine, session: Session, candidate: Candidate, *, now: datetime, actor: str = "worker:consent") -> list[str]:
    """The consent ended: cancel the candidate's running cases and start the retention clock."""
    reason = "consent_withdrawn" if candidate.consent_withdrawn_at is not None else "consent_expired"
    ids = cases.live_cases(session, cases.instance_ids(session, candidate.id))
    cancelled = [i for i in ids if cases.cancel_case(engine, session, i, actor=actor, reason=reason)]
    candidate.consent_lapsed_at = now
    records.refresh_retention(candidate)
    engine.runtime.audit(session, None, "consent_lapsed", actor, None, None,
                         {"candidate_id": candidate.id, "reason": reason, "cases_cancelled": cancelled})
    return cancelled


def anonymisations_due(session: Session, *, now: datetime, retention_days: int, limit: int) -> list[str]:
    live = select(ProcessInstance.business_key).where(ProcessInstance.status.in_(cases.LIVE),
                                                      ProcessInstance.business_key.is_not(None))
    return list(session.scalars(select(Candidate.id).where(
        Candidate.anonymised_at.is_(None), Candidate.retention_from <= now - timedelta(days=retention_days),
        Candidate.id.not_in(live))
        .order_by(Candidate.retention_from).limit(limit)))
