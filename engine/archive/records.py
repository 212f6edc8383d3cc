"""Candidate records in the caller's transaction: create, change, consent, search document, views."""
from __future__ import annotations

import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from ..archive_models import (
    Candidate, CandidateConsent, CandidateDecline, CandidateSignal, CandidateTag, email_key,
)
from .. import days, events
from ..candidate_pages.archive_hooks import revoke_all as revoke_links
from ..channels.archive_hooks import cancel_sends
from ..errors import ConflictError, NotFound, RecallError
from . import search
from ..vocabulary import Vocabulary
from .views import CONTACT_FIELDS, CandidateView, ConsentView, DeclineView, SignalView

CONSENT_SCOPES = ("same_role", "similar_roles", "any_role")
PROFILE_FIELDS = ("name", "phone", "email", "wecom_external_id", "role_applied", "needs", "open_questions",
                  "interview_trail", "notes")


class InvalidCandidateData(RecallError):
    """A candidate, decline, signal or consent value is not acceptable (HTTP 422)."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def load(session: Session, candidate_id: str, *, for_update: bool = False) -> Candidate:
    """A candidate that exists and was not erased; NotFound otherwise."""
    query = select(Candidate).where(Candidate.id == candidate_id)
    if for_update and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    candidate = session.scalars(query).first()
    if candidate is None or candidate.anonymised_at is not None:
        raise NotFound(f"no candidate {candidate_id}" if candidate is None
                       else f"candidate {candidate_id} was erased")
    return candidate


def _check_name(data: dict, *, required: bool) -> None:
    """A candidate needs a name: HR must be able to tell who a case is about (issue 15)."""
    if (required or "name" in data) and not (data.get("name") or "").strip():
        raise InvalidCandidateData("name", "a candidate needs a name")


@dataclass(frozen=True)
class Duplicate:
    """An existing candidate that looks like the one being created, and on what."""

    id: str
    matched_on: tuple[str, ...]         # "phone", "email", "name_and_role"
    role_applied: str | None
    contact: dict                       # name, phone, email, wecom_external_id: for who may see them


MIN_DUPLICATE_PHONE_DIGITS = 7


class DuplicateCandidate(ConflictError):
    """Creating a candidate who looks like one the archive has (HTTP 409 `duplicate-candidate`)."""

    def __init__(self, found: list[Duplicate]):
        self.found = found
        super().__init__(f"the archive already has {len(found)} candidate(s) with the same "
                         + " or ".join(sorted({m for d in found for m in d.matched_on}))
                         + ": use one of them, or create anyway with allow_duplicate=true")


def duplicates(session: Session, data: dict) -> list[Duplicate]:
    """Candidates (not erased) with the same phone (its digits, any format, +86/0086 dropped), the
    same email (case-insensitive), or the same name and role as `data`, oldest first."""
    checks: dict[str, object] = {}
    digits = search.phone_digits(data.get("phone"))
    if len(digits) >= MIN_DUPLICATE_PHONE_DIGITS:
        checks["phone"] = Candidate.phone_digits == digits       # indexed (ix_candidate_phone_digits)
    email = email_key(data.get("email"))
    if email:
        checks["email"] = Candidate.email_key == email          # indexed (ix_candidate_email_key)
    name, role = (data.get("name") or "").strip(), (data.get("role_applied") or "").strip()
    if name and role:           # indexed (ix_candidate_name_role)
        checks["name_and_role"] = and_(Candidate.name == name, Candidate.role_applied == role)
    if not checks:
        return []
    found = session.scalars(select(Candidate).where(Candidate.anonymised_at.is_(None), or_(*checks.values()))
                            .order_by(Candidate.created_at, Candidate.id)).all()
    out = []
    for candidate in found:
        matched = []
        if "phone" in checks and search.phone_digits(candidate.phone) == digits:
            matched.append("phone")
        if "email" in checks and email_key(candidate.email) == email:
            matched.append("email")
        if "name_and_role" in checks and candidate.name == name and candidate.role_applied == role:
            matched.append("name_and_role")
        if matched:
            out.append(Duplicate(candidate.id, tuple(matched), candidate.role_applied,
                                 {field: getattr(candidate, field) for field in CONTACT_FIELDS}))
    return out


def create(session: Session, data: dict, *, actor: str, now: datetime) -> Candidate:
    _check_name(data, required=True)
    candidate = Candidate(id=data.get("id") or str(uuid.uuid4()), needs=[], open_questions=[],
                          interview_trail=[], listed_at=now, created_at=now, updated_at=now, created_by=actor,
                          consent_granted=False)
    if data.get("id") and session.get(Candidate, candidate.id) is not None:     # a new uuid4 is free
        raise InvalidCandidateData("id", f"candidate {candidate.id} already exists")
    _apply_profile(candidate, data)
    refresh_retention(candidate)        # in the INSERT, not an UPDATE after it
    session.add(candidate)
    session.flush()
    if "tags" in data:
        set_tags(session, candidate.id, data["tags"])
    if data.get("consent") is not None:
        record_consent(session, candidate, data["consent"], actor=actor, now=now, source="api")
    refresh_retention(candidate)
    reindex(session, candidate)
    return candidate


def update(session: Session, candidate: Candidate, data: dict, *, actor: str, now: datetime) -> None:
    _check_name(data, required=False)
    _apply_profile(candidate, data)
    if "tags" in data:
        set_tags(session, candidate.id, data["tags"])
    if data.get("consent") is not None:
        record_consent(session, candidate, data["consent"], actor=actor, now=now, source="api")
    candidate.updated_at = now
    refresh_retention(candidate)
    reindex(session, candidate)


def _apply_profile(candidate: Candidate, data: dict) -> None:
    for field in PROFILE_FIELDS:
        if field in data:
            value = data[field]
            if field in ("needs", "open_questions", "interview_trail"):
                value = list(value or [])
            setattr(candidate, field, value)


def set_tags(session: Session, candidate_id: str, tags) -> None:
    session.execute(delete(CandidateTag).where(CandidateTag.candidate_id == candidate_id)
                    .execution_options(synchronize_session=False))
    for tag in dict.fromkeys(t.strip() for t in tags or () if t and t.strip()):
        session.add(CandidateTag(candidate_id=candidate_id, tag=tag))
    session.flush()


def tags_of(session: Session, candidate_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {cid: [] for cid in candidate_ids}
    if candidate_ids:
        for cid, tag in session.execute(select(CandidateTag.candidate_id, CandidateTag.tag)
                                        .where(CandidateTag.candidate_id.in_(candidate_ids))
                                        .order_by(CandidateTag.tag)):
            out[cid].append(tag)
    return out


_PENDING_REINDEX = "recall.pending_reindex"


@contextmanager
def one_reindex(session: Session):
    """Inside: `reindex` only notes the candidate; on leaving without an error, the noted
    candidates' documents are built and written once each, together (`reindex_many`: a bulk item
    creates, records a decline and may change consent: one write instead of one per step; a chunk
    of bulk items: a few statements for all). Nested uses join the outer one."""
    if _PENDING_REINDEX in session.info:
        yield
        return
    pending: dict[str, Candidate] = {}
    session.info[_PENDING_REINDEX] = pending
    try:
        yield
    finally:
        session.info.pop(_PENDING_REINDEX, None)
    reindex_many(session, list(pending.values()))


@contextmanager
def reindex_kept_on_success(session: Session):
    """Inside `one_reindex`, a part that may fail alone (a bulk item in its savepoint): when it
    raises, what it noted is forgotten again (its rows are gone); what others noted stays."""
    pending = session.info.get(_PENDING_REINDEX)
    before = dict(pending) if pending is not None else None
    try:
        yield
    except BaseException:
        if pending is not None:
            pending.clear()
            pending.update(before)
        raise


def reindex(session: Session, candidate: Candidate) -> None:
    """Rebuild the search document: notes, needs, questions, decline details, signal texts
    (inside `one_reindex`: later, once)."""
    pending = session.info.get(_PENDING_REINDEX)
    if pending is not None:
        pending[candidate.id] = candidate
        return
    reindex_many(session, [candidate])


def reindex_many(session: Session, candidates: list[Candidate]) -> None:
    """`reindex` for several candidates: their declines, signals and current documents read in
    one statement each (the rows written so far first)."""
    if not candidates:
        return
    session.flush()
    ids = [c.id for c in candidates]
    parts: dict[str, list] = {c.id: [c.notes, *(c.needs or []), *(c.open_questions or [])] for c in candidates}
    for candidate_id, detail, needs, questions in session.execute(
            select(CandidateDecline.candidate_id, CandidateDecline.detail, CandidateDecline.needs,
                   CandidateDecline.open_questions).where(CandidateDecline.candidate_id.in_(ids))
            .order_by(CandidateDecline.candidate_id, CandidateDecline.decline_date, CandidateDecline.id)):
        parts[candidate_id].extend([detail, *(needs or []), *(questions or [])])
    for candidate_id, text_ in session.execute(select(CandidateSignal.candidate_id, CandidateSignal.text)
                                               .where(CandidateSignal.candidate_id.in_(ids))
                                               .order_by(CandidateSignal.id)):
        parts[candidate_id].append(text_)
    search.write_documents(session, {cid: search.build_document(p) for cid, p in parts.items()})


# ---------------------------------------------------------------- consent
def record_consent(session: Session, candidate: Candidate, consent: dict, *, actor: str, now: datetime,
                   source: str, audit_event_id: int | None = None, past_expiry_ok: bool = False) -> CandidateConsent:
    """Make `consent` the candidate's current talent-pool consent and keep it in the history.

    {granted, scope, source, expires_at} grants (scope and a future expiry required);
    granted=false, `withdraw: true` or `withdrawn_at` withdraws (ending their cases, see consent.py).
    """
    withdrawn_at = consent.get("withdrawn_at") or (now if consent.get("withdraw") else None)
    granted = bool(consent.get("granted", candidate.consent_granted)) and withdrawn_at is None
    scope = consent.get("scope")
    try:        # a person's date is the end of that calendar day in RECALL_TIMEZONE (engine/days.py)
        expires_at = days.as_end_of_day(consent.get("expires_at"))
    except (TypeError, ValueError) as exc:
        raise InvalidCandidateData("consent.expires_at", "give a calendar day (YYYY-MM-DD) or an ISO 8601 "
                                   "date-time with an offset") from exc
    if granted:
        if scope not in CONSENT_SCOPES:
            raise InvalidCandidateData("consent.scope", f"give one of {', '.join(CONSENT_SCOPES)} with consent")
        if expires_at is None:
            raise InvalidCandidateData("consent.expires_at", "a talent-pool consent needs an expiry")
        if expires_at <= now and not past_expiry_ok:
            raise InvalidCandidateData("consent.expires_at", "the expiry must be in the future")
    elif candidate.consent_granted and withdrawn_at is None:
        withdrawn_at = now          # taking back a consent given earlier is a withdrawal
    row = CandidateConsent(candidate_id=candidate.id, granted=granted, scope=scope if granted else candidate.consent_scope,
                           source=consent.get("source") or source, expires_at=expires_at if granted else None,
                           withdrawn_at=withdrawn_at, recorded_at=now, recorded_by=actor,
                           audit_event_id=audit_event_id)
    session.add(row)
    candidate.consent_granted = granted
    candidate.consent_scope = row.scope
    candidate.consent_source = row.source
    candidate.consent_expires_at = row.expires_at if granted else candidate.consent_expires_at
    candidate.consent_withdrawn_at = withdrawn_at
    candidate.consent_recorded_at = now
    if granted:
        candidate.consent_renewal_requested_at = None
        candidate.consent_lapsed_at = None
    refresh_retention(candidate)
    session.flush()
    if not granted:         # nothing more goes out to them: their open channel sends end here
        cancel_sends(session, candidate.id, reason="consent_withdrawn", now=now, actor=actor)
        if withdrawn_at is not None:    # and the pages we linked them to close
            revoke_links(session, candidate.id, now=now, actor=actor)
    events.emit(session, "consent.changed", at=now, actor=actor, candidate_id=candidate.id, data={
        "status": "granted" if granted else "withdrawn", "scope": row.scope if granted else None,
        "expires_at": row.expires_at.isoformat() if granted and row.expires_at else None})
    return row


def refresh_retention(candidate: Candidate) -> None:
    """When the retention period starts: the end of the consent, or without one the last decline."""
    if candidate.consent_withdrawn_at is not None:
        candidate.retention_from = candidate.consent_withdrawn_at
    elif candidate.consent_granted:
        candidate.retention_from = candidate.consent_expires_at
    else:
        candidate.retention_from = candidate.listed_at


def consent_view(candidate: Candidate) -> ConsentView:
    return ConsentView(granted=bool(candidate.consent_granted), scope=candidate.consent_scope,
                       source=candidate.consent_source, expires_at=candidate.consent_expires_at,
                       expires_on=days.iso_day(candidate.consent_expires_at),
                       withdrawn_at=candidate.consent_withdrawn_at, recorded_at=candidate.consent_recorded_at,
                       renewal_requested_at=candidate.consent_renewal_requested_at)


# ---------------------------------------------------------------- views
def decline_view(d: CandidateDecline) -> DeclineView:
    return DeclineView(id=d.id, reason=d.reason, detail=d.detail, decline_date=d.decline_date,
                       decline_day=days.local_day(d.decline_date), role=d.role,
                       hiring_manager=d.hiring_manager, instance_id=d.instance_id, needs=list(d.needs or []),
                       open_questions=list(d.open_questions or []), lang=d.lang, created_at=d.created_at)


def signal_view(s: CandidateSignal) -> SignalView:
    return SignalView(id=s.id, kind=s.kind, text=s.text, source=s.source, consent_noted=bool(s.consent_noted),
                      received_at=s.received_at, recorded_by=s.recorded_by, delivered_to=list(s.delivered_to or []))


def summary_view(candidate: Candidate, *, tags: list[str], contact: bool,
                 last_decline: CandidateDecline | None = None) -> CandidateView:
    view = CandidateView(
        id=candidate.id, role_applied=candidate.role_applied, tags=tags, needs=list(candidate.needs or []),
        open_questions=list(candidate.open_questions or []), interview_trail=list(candidate.interview_trail or []),
        notes=candidate.notes, consent=consent_view(candidate), created_at=candidate.created_at,
        updated_at=candidate.updated_at, listed_at=candidate.listed_at, contact_visible=contact,
        last_decline=decline_view(last_decline) if last_decline is not None else None)
    if contact:
        view.name, view.phone = candidate.name, candidate.phone
        view.email, view.wecom_external_id = candidate.email, candidate.wecom_external_id
    return view


def declines_of(session: Session, candidate_id: str) -> list[CandidateDecline]:
    return list(session.scalars(select(CandidateDecline).where(CandidateDecline.candidate_id == candidate_id)
                                .order_by(CandidateDecline.decline_date, CandidateDecline.id)))


def last_declines(session: Session, candidate_ids: list[str]) -> dict[str, CandidateDecline]:
    out: dict[str, CandidateDecline] = {}
    if candidate_ids:
        for d in session.scalars(select(CandidateDecline).where(CandidateDecline.candidate_id.in_(candidate_ids))
                                 .order_by(CandidateDecline.decline_date, CandidateDecline.id)):
            out[d.candidate_id] = d
    return out


def signals_of(session: Session, candidate_id: str) -> list[CandidateSignal]:
    return list(session.scalars(select(CandidateSignal).where(CandidateSignal.candidate_id == candidate_id)
                                .order_by(CandidateSignal.id)))


def consents_of(session: Session, candidate_id: str) -> list[CandidateConsent]:
    return list(session.scalars(select(CandidateConsent).where(CandidateConsent.candidate_id == candidate_id)
                                .order_by(CandidateConsent.id)))


def decline_prefill(candidate: Candidate, decline: CandidateDecline) -> dict:
    """What the archive already knows, as start variables that prefill the case's forms:
    `archive_decline` (detail, talent-pool consent with scope and expiry day) and
    `request_manager_contact` (the decline's hiring manager). Nothing HR has to guess again."""
    out: dict = {}
    if decline.detail:
        out["decline_detail"] = decline.detail
    if candidate.consent_recorded_at is not None:
        out["talent_pool_consent"] = bool(candidate.consent_granted)
        if candidate.consent_granted:
            out["consent_scope"] = candidate.consent_scope
            out["consent_expiry"] = days.iso_day(candidate.consent_expires_at)   # the stored expiry's day
    if decline.hiring_manager:
        out["manager_username"] = decline.hiring_manager
    return out


# archive_decline field -> the decline's column it confirms
DECLINE_ANSWER_FIELDS = {"decline_reason": "reason", "decline_detail": "detail", "needs": "needs",
                         "open_questions": "open_questions"}


def _same(a, b) -> bool:
    """Equal as the archive means it: None, "" and [] are all 'nothing recorded'."""
    return (a or None) == (b or None)


def check_reason(vocabulary: Vocabulary, reason) -> None:
    """A decline's reason is one the deployed bundle declares (workflows/vocabulary.json)."""
    if reason not in vocabulary.reason_keys:
        offered = ", ".join(vocabulary.reason_keys) or "none: deploy a bundle with workflows/vocabulary.json"
        raise InvalidCandidateData("reason", f"give one of the deployed decline reasons ({offered})")


def record_decline_answer(session: Session, ops, *, instance_id: str, element_id: str, data: dict,
                          actor: str, definition) -> bool:
    """`archive_decline` confirms the decline that started the case: where the answer differs from
    the archive's decline row, the row takes the answer, as `actor`'s change (audit `decline_changed`
    naming the fields; free text is not copied into the audit). Runs in the completion's unit of work."""
    if element_id not in definition.vocabulary.role("decline_archive"):
        return False
    decline = session.scalars(select(CandidateDecline).where(CandidateDecline.instance_id == instance_id)).first()
    candidate = session.get(Candidate, decline.candidate_id) if decline is not None else None
    if candidate is None or candidate.anonymised_at is not None:
        return False
    changed = []
    for field, column in DECLINE_ANSWER_FIELDS.items():
        if field not in (data or {}):
            continue
        value = data[field]
        if column in ("needs", "open_questions"):
            value = list(value or [])
        if not _same(value, getattr(decline, column)):
            setattr(decline, column, value)
            changed.append(field)
    if not changed:
        return False
    candidate.updated_at = ops.clock.now()
    session.flush()
    reindex(session, candidate)
    ops.audit(session, instance_id, "decline_changed", actor, element_id, None,
              {"candidate_id": candidate.id, "decline_id": decline.id, "fields": changed,
               **({"decline_reason": decline.reason} if "decline_reason" in changed else {})})
    return True
