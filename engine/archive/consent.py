"""Consent and retention, run by the worker (`Worker.run_once` → `TalentArchive.run_jobs`).

1. A consent answer recorded in a task (`archive_decline`, `renew_consent`) is applied to the
   archive when the task is completed, in that unit of work (`record_task_answer`, a hook of
   `RecallEngine.complete_task`), as that user's change and only where it differs from what the
   archive holds (audited `consent_changed` with each field). No job infers a consent.
2. A consent expiring within `renewal_days` raises the `renew_consent` HR task in the
   candidate's running cases (BPMN signal `consent_expiring`), once per consent.
3. An expired or withdrawn consent ends the candidate's running cases (`consent_lapsed`).
4. `retention_days` after the consent ended (or, without consent, after the last decline) and
   with no running case left, the personal data is anonymised (`candidate_anonymised`).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .. import days
from ..archive_models import Candidate, CandidateDecline
from ..models import ProcessInstance
from ..operations import SignalOutcome
from . import cases, records


def end_of_day(value: str) -> datetime:
    """A day a person entered in a form ('YYYY-MM-DD') as stored: its end in RECALL_TIMEZONE (engine/days.py)."""
    return days.as_end_of_day(value)


def consent_day(expires_at: datetime | None) -> str | None:
    """The calendar day a stored expiry stands for: the inverse of `end_of_day`."""
    return days.iso_day(expires_at)


def candidate_of_case(session: Session, instance_id: str) -> Candidate | None:
    candidate_id = session.scalar(select(CandidateDecline.candidate_id)
                                  .where(CandidateDecline.instance_id == instance_id))
    if candidate_id is None:
        candidate_id = session.scalar(select(ProcessInstance.business_key).where(ProcessInstance.id == instance_id))
    if candidate_id is None:
        return None
    candidate = session.get(Candidate, candidate_id)
    return candidate if candidate is not None and candidate.anonymised_at is None else None


def answer_to_consent(archives_decline: bool, data: dict) -> dict | None:
    """The consent a completed task's form recorded, or None when it records none: the decline's
    archive form asks for it outright, a renewal form answers renewed or withdrawn."""
    if archives_decline:
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


def consent_changes(candidate: Candidate, consent: dict) -> dict[str, list]:
    """Field -> [what the archive holds, what the answer says], for each field the answer changes
    (named as in the `archive_decline` form; the expiry as a calendar day)."""
    held_granted = bool(candidate.consent_granted) if candidate.consent_recorded_at is not None else None
    granted = bool(consent.get("granted")) and not consent.get("withdraw")
    held = {"talent_pool_consent": held_granted,
            "consent_scope": candidate.consent_scope if held_granted else None,
            "consent_expiry": consent_day(candidate.consent_expires_at) if held_granted else None}
    given = {"talent_pool_consent": granted,
             "consent_scope": consent.get("scope") if granted else None,
             "consent_expiry": consent_day(consent.get("expires_at")) if granted else None}
    return {name: [held[name], given[name]] for name in held if held[name] != given[name]}


def record_task_answer(session: Session, ops, *, instance_id: str, element_id: str, data: dict,
                       actor: str, definition) -> bool:
    """Apply a consent answer of a completed task to the archive, in the completion's unit of work.

    Only a difference from what the archive holds is written, as `actor`'s own change: a consent
    row recorded by them and a `consent_changed` audit event naming each field. An answer that
    repeats the archive (the task's prefill, completed as shown) writes nothing."""
    vocabulary = definition.vocabulary
    if element_id not in vocabulary.role("consent_tasks"):
        return False
    consent = answer_to_consent(element_id in vocabulary.role("decline_archive"), data or {})
    candidate = candidate_of_case(session, instance_id) if consent else None
    if candidate is None:
        return False
    changes = consent_changes(candidate, consent)
    if not changes:
        return False
    now = ops.clock.now()
    ops.audit(session, instance_id, "consent_changed", actor, element_id, None,
              {"candidate_id": candidate.id, "fields": changes})
    # an answer may name a day already past: it still lapses like any other
    records.record_consent(session, candidate, consent, actor=actor, now=now, source=f"task:{element_id}",
                           past_expiry_ok=True)
    return True


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
    delivered = [i for i in ids if engine.ops.signal(session, i, "consent_expiring", payload,
                                                     correlation={"candidate_id": candidate.id},
                                                     actor="worker:consent") is SignalOutcome.DELIVERED]
    candidate.consent_renewal_requested_at = now
    engine.ops.audit(session, None, "consent_renewal_requested", "worker:consent", None, None,
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
    ids = cases.live_cases(session, cases.instance_ids(session, candidate.id, thorough=True))
    cancelled = [i for i in ids
                 if engine.ops.cancel(session, i, actor=actor, reason=reason, only_if_active=True).cancelled]
    candidate.consent_lapsed_at = now
    records.refresh_retention(candidate)
    engine.ops.audit(session, None, "consent_lapsed", actor, None, None,
                         {"candidate_id": candidate.id, "reason": reason, "cases_cancelled": cancelled})
    return cancelled


def anonymisations_due(session: Session, *, now: datetime, retention_days: int, limit: int) -> list[str]:
    live = select(ProcessInstance.business_key).where(ProcessInstance.status.in_(cases.LIVE),
                                                      ProcessInstance.business_key.is_not(None))
    return list(session.scalars(select(Candidate.id).where(
        Candidate.anonymised_at.is_(None), Candidate.retention_from <= now - timedelta(days=retention_days),
        Candidate.id.not_in(live))
        .order_by(Candidate.retention_from).limit(limit)))
