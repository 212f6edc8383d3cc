"""Tables of the talent archive: candidates (the only home of their personal data),
their declines, signals, consent history and tags, and the search handle.

Workflow state carries the candidate id only. Full-text search uses objects per database
that SQLAlchemy cannot describe (an FTS5 table on SQLite; a stored tsvector column with a
GIN index on PostgreSQL); migration 0004 creates them, see `engine.archive.search`.
"""
from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import (
    JSON, BigInteger, Boolean, ForeignKey, Index, String, Text, UniqueConstraint, event, text,
)
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, BigId, UTCDateTime


def phone_digits(value: str | None) -> str:
    """A phone number as its digits without a Chinese country prefix: "+86 137-0000-1234",
    "0086 13700001234" and "137 0000 1234" are all "13700001234"."""
    digits = re.sub(r"\D", "", value or "")
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) - len(prefix) >= 11:
            return digits[len(prefix):]
    return digits


class Candidate(Base):
    """One person. Contact fields and free text are erased in place; the row stays as an
    anonymous tombstone so that declines and analytics keep their counts."""

    __tablename__ = "candidates"
    __table_args__ = (
        # Lists: the newest first among candidates not erased (partial: erased rows are not indexed).
        Index("ix_candidate_listing", "listed_at", "id", sqlite_where=text("anonymised_at IS NULL"),
              postgresql_where=text("anonymised_at IS NULL")),
        # Membership checks by id that need no table row (id -> listing key).
        Index("ix_candidate_live", "id", "listed_at", sqlite_where=text("anonymised_at IS NULL"),
              postgresql_where=text("anonymised_at IS NULL")),
        # The duplicate-person check by phone (records.duplicates): an indexed equality.
        Index("ix_candidate_phone_digits", "phone_digits"),
        # ... by email in any case and by name and role (migration 0014)
        Index("ix_candidate_email_key", "email_key"),
        Index("ix_candidate_name_role", "name", "role_applied"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(255))
    phone: Mapped[str | None] = mapped_column(String(64))
    # phone_digits(phone), or None without digits: kept by the "set" listener below (erasure clears it)
    phone_digits: Mapped[str | None] = mapped_column(String(64))
    email: Mapped[str | None] = mapped_column(String(320))
    # email_key(email): trimmed, lower case, or None; kept by the "set" listener below
    email_key: Mapped[str | None] = mapped_column(String(320))
    wecom_external_id: Mapped[str | None] = mapped_column(String(255))
    role_applied: Mapped[str | None] = mapped_column(String(255), index=True)
    needs: Mapped[list] = mapped_column(JSON)
    open_questions: Mapped[list] = mapped_column(JSON)
    interview_trail: Mapped[list] = mapped_column(JSON)      # [{round, interviewer, evaluation}]
    notes: Mapped[str | None] = mapped_column(Text)
    listed_at: Mapped[datetime] = mapped_column(UTCDateTime())   # latest decline date, else creation
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(255))
    # the current talent-pool consent (history in candidate_consents)
    consent_granted: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_scope: Mapped[str | None] = mapped_column(String(32))
    consent_source: Mapped[str | None] = mapped_column(String(255))
    consent_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    consent_withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consent_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consent_renewal_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    consent_lapsed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # when the retention period starts counting (consent end, or the last decline without consent)
    retention_from: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    anonymised_reason: Mapped[str | None] = mapped_column(String(32))   # erasure / retention


@event.listens_for(Candidate.phone, "set", propagate=True)
def _phone_set(candidate: Candidate, value, _old, _initiator) -> None:
    candidate.phone_digits = phone_digits(value) or None


def email_key(value: str | None) -> str:
    """An email as the duplicate-person check compares it: trimmed, in lower case."""
    return (value or "").strip().lower()


@event.listens_for(Candidate.email, "set", propagate=True)
def _email_set(candidate: Candidate, value, _old, _initiator) -> None:
    candidate.email_key = email_key(value) or None


class CandidateTag(Base):
    __tablename__ = "candidate_tags"
    __table_args__ = (Index("ix_candidate_tag_lookup", "tag", "candidate_id"),)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)


class CandidateDecline(Base):
    """A decline (or no-show) with its structured reason; recording one starts `offer_recall`."""

    __tablename__ = "candidate_declines"
    __table_args__ = (
        Index("ix_decline_reason_date", "reason", "decline_date", "candidate_id"),
        Index("ix_decline_candidate", "candidate_id", "reason", "decline_date"),
        Index("ix_decline_date", "decline_date", "candidate_id"),
        Index("ix_decline_role", "role", "candidate_id"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id"))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    decline_date: Mapped[datetime] = mapped_column(UTCDateTime())
    role: Mapped[str | None] = mapped_column(String(255))
    hiring_manager: Mapped[str | None] = mapped_column(String(255))
    needs: Mapped[list] = mapped_column(JSON)
    open_questions: Mapped[list] = mapped_column(JSON)
    lang: Mapped[str] = mapped_column(String(8))
    instance_id: Mapped[str | None] = mapped_column(String(36), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(255))


class CandidateSignal(Base):
    """Something new about a candidate ("open to work again"), with its source and consent note."""

    __tablename__ = "candidate_signals"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    text: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(255))
    consent_noted: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(255))
    delivered_to: Mapped[list] = mapped_column(JSON)          # instance ids that got `candidate_signal`


class CandidateConsent(Base):
    """Every consent decision, newest last; `audit_event_id` makes applying a task's answer idempotent."""

    __tablename__ = "candidate_consents"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id"), index=True)
    granted: Mapped[bool] = mapped_column(Boolean)
    scope: Mapped[str | None] = mapped_column(String(32))
    source: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_by: Mapped[str] = mapped_column(String(255))
    audit_event_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)


class CandidateSearch(Base):
    """The candidate's search document (normalised terms of notes, needs, questions, decline
    details, signals). Its integer id is the full-text row id (FTS5 needs an integer rowid)."""

    __tablename__ = "candidate_search"
    __table_args__ = (UniqueConstraint("candidate_id", name="uq_candidate_search_candidate_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id"))
    document: Mapped[str] = mapped_column(Text)


class ArchiveCursor(Base):
    """How far a job has read the audit trail (e.g. consent answers in completed tasks)."""

    __tablename__ = "archive_cursors"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())



class CandidateExternalId(Base):
    """A source system's own id for a candidate or a decline (engine/archive/sync.py): unique per
    (source, kind, external_id), where the source is the integrator's user name. A candidate may
    carry several (one per source, more after a merge); erasure deletes them."""

    __tablename__ = "candidate_external_ids"
    source: Mapped[str] = mapped_column(String(255), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)          # candidate / decline
    external_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(ForeignKey("candidates.id"), index=True)
    decline_id: Mapped[str | None] = mapped_column(String(36))                # kind decline: the decline
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
