"""Erasure and anonymisation: remove a person's data everywhere, keep anonymous counts.

What is removed (docs/privacy.md has the table):
- the archive: contact fields, notes, needs, open questions, interview trail, tags, decline
  details, signal texts, the search document (and, on SQLite, the FTS5 index segments);
- every case of the person (found by decline, business key, start variables, correlation —
  `cases.instance_ids`): all task data and internal data of every task, in every sub-process,
  scrubbed and saved through the engine's operations (`engine.ops.cancel(scrub=...)`: live cases
  are cancelled in the same change; `engine.ops.scrub_ended`: ended cases are saved unrun, with the
  same statement and version check as every save);
- `human_tasks.data` (prefill, including rendered suggested messages), `audit_events.details`
  of the cases, `process_instances.error`, buffered messages correlated on the candidate or
  delivered to the cases, and idempotency records whose stored answer names a case or the person.

Scrubbing is by field, not by string match (a name under an undeclared key, lower-cased, a phone
as a number all look like anything else): inside the person's cases every string is replaced by
"[erased]" unless its key says it is a code (`decline_reason`, `outcome`, `channel`...), an id
(`candidate_id`, `*_id`) or a date (`*_date`, `*_at`, `*_expiry`) and the value looks like one and
contains none of the person's identifiers. Numbers stay (counts, days) except pay and any that
spells the person's phone; keys, booleans and nulls stay, so structure and funnel counts survive.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import Text, cast, delete, func, or_, select, text, update
from sqlalchemy.orm import Session

from ..ranking_models import forget as forget_ranking
from ..archive_models import (
    ArchiveCursor, Candidate, CandidateConsent, CandidateDecline, CandidateSignal, CandidateTag,
)
from ..models import AuditEvent, BufferedMessage, HumanTask, IdempotencyRecord, ProcessInstance
from ..sidetables import all_tasks, correlation_key
from ..status import ACTIVE
from . import search

log = logging.getLogger("recall.privacy")

ERASED = "[erased]"
# Keys whose values are the person's own data, wherever they appear: always erased.
PERSONAL_KEYS = frozenset({
    "name", "candidate_name", "full_name", "phone", "mobile", "email", "wecom_external_id", "wechat",
    "address", "id_number",
})
# Codes the engine, the funnel and the history rely on (enum answers, DMN picks, message names).
CODE_KEYS = frozenset({
    "decline_reason", "outcome", "channel", "action", "contact_outcome", "consent_outcome", "consent_scope",
    "scope", "status", "decision", "stage", "suggestion_template_id", "template_id", "lang", "snooze_duration",
    "needs_approval", "approval_needed", "event", "kind", "type", "snooze_for",
})
# Structural keys of audit details (top level and `correlation`), written by the engine itself.
AUDIT_KEYS = CODE_KEYS | frozenset({
    "name", "process_key", "version", "business_key", "variables", "fields", "data_keys", "end_event",
    "element_id", "reason", "exception", "delivered_to", "cases", "cases_cancelled", "definition_version",
})
# Engine bookkeeping in a task's internal data (timer due times, multi-instance counters).
ENGINE_KEYS = frozenset({"event_value", "event_fired", "merged", "iteration", "key_or_index", "remaining",
                         "cardinality", "current", "seen_events"})
# Numbers about the person's pay are personal too.
SENSITIVE_NUMBER_KEYS = frozenset({"salary", "original_salary", "salary_increase_pct"})
_CODE = re.compile(r"^[A-Za-z0-9_:.+\-]{1,64}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+\-]\d{2}:?\d{2})?)?$")
_DATE_SUFFIXES = ("_date", "_at", "_expiry", "_until")
MIN_NEEDLE = 2


@dataclass(frozen=True)
class PrivacySettings:
    retention_days: int = 180            # RECALL_RETENTION_DAYS: anonymise this long after consent ended
    renewal_days: int = 30               # RECALL_CONSENT_RENEWAL_DAYS: ask for renewal this long before expiry

    @classmethod
    def from_settings(cls, settings) -> "PrivacySettings":
        """The archive's part of the one `engine.config.Settings` (read and checked there)."""
        return cls(retention_days=settings.retention_days, renewal_days=settings.consent_renewal_days)


# ---------------------------------------------------------------- scrubbing
class Scrubber:
    """Scrubs JSON-like values of the person's cases by field (see the module docstring).

    `identifiers` (name, phone, email, WeCom id) are matched case-insensitively in what would
    otherwise be kept (a code, an id, a key name); `free_texts` are accepted for compatibility and
    not needed: every string that is not a code, an id or a date is erased anyway.
    """

    def __init__(self, identifiers: Iterable[str], free_texts: Iterable[str] = ()):
        self.identifiers = [n.lower() for n in _needles(identifiers, MIN_NEEDLE)]
        self.changed = False

    def names_person(self, value: str) -> bool:
        lowered = value.lower()
        return any(needle in lowered for needle in self.identifiers)

    def _keeps(self, key: str | None, value: str, codes: frozenset) -> bool:
        if not value or value == ERASED:
            return True
        if key is None or (key in PERSONAL_KEYS and key not in codes):
            return False
        if self.names_person(value):
            return False
        if key in codes or key == "id" or key.endswith("_id") or key.endswith("_ids"):
            return bool(_CODE.match(value))
        if key.endswith(_DATE_SUFFIXES) or key in ("due", "expires"):
            return bool(_DATE.match(value))
        return False

    def value(self, value, key: str | None = None, *, codes: frozenset = CODE_KEYS, free: bool = False):
        """`value` scrubbed as if it sat under `key`; `codes`: keys whose code-like strings stay."""
        if isinstance(value, dict):
            return {k: self.value(v, k, codes=codes, free=free) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            out = [self.value(v, key, codes=codes, free=free) for v in value]
            return tuple(out) if isinstance(value, tuple) else out
        if isinstance(value, str):
            if not free and self._keeps(key, value, codes):
                return value
            if value and value != ERASED:
                self.changed = True
                return ERASED
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if key in SENSITIVE_NUMBER_KEYS or key in PERSONAL_KEYS or self.names_person(str(value)):
                self.changed = True
                return None
        return value

    def audit_details(self, details: dict) -> dict:
        """An audit event's details: engine-written structure kept, data and payloads by field."""
        out = {}
        for key, value in (details or {}).items():
            if key in ("data", "payload", "message", "previous_error", "variables_data"):
                out[key] = self.value(value, key)
            else:
                out[key] = self.value(value, key, codes=AUDIT_KEYS)
        return out

    def dict_in_place(self, data: dict, *, internal: bool = False) -> None:
        for key in list(data):
            if internal and key in ENGINE_KEYS:
                continue
            data[key] = self.value(data[key], key)


def _needles(values: Iterable, min_length: int) -> list[str]:
    unique = {v.strip() for v in values if isinstance(v, str) and len(v.strip()) >= min_length}
    return sorted(unique, key=len, reverse=True)


def scrubber_for(session: Session, candidate: Candidate) -> Scrubber:
    """A scrubber that knows the person's identifying strings, as recorded in the archive."""
    identifiers = [candidate.name, candidate.phone, candidate.email, candidate.wecom_external_id]
    if candidate.phone:
        digits = re.sub(r"\D", "", candidate.phone)
        if len(digits) >= 6:
            identifiers.append(digits)
    if candidate.email and "@" in candidate.email:
        identifiers.append(candidate.email.split("@", 1)[0])
    return Scrubber(identifiers)


def scrub_workflow(workflow, scrubber: Scrubber) -> None:
    """Scrub the data of every task (and sub-process) of a workflow in memory."""
    for task in all_tasks(workflow):
        scrubber.dict_in_place(task.data)
        scrubber.dict_in_place(task.internal_data, internal=True)
    for sub in [workflow, *workflow.subprocesses.values()]:
        data = getattr(sub, "data", None)
        if isinstance(data, dict):
            scrubber.dict_in_place(data)
    for event in getattr(workflow, "bpmn_events", []) or []:
        if isinstance(getattr(event, "payload", None), (dict, list)):
            event.payload = scrubber.value(event.payload)


def scrub_cases(engine, session: Session, ids: list[str], scrubber: Scrubber, *, actor: str,
                reason: str) -> tuple[list[str], list[str]]:
    """Cancel live cases and scrub every case's state; returns (cancelled, scrubbed)."""
    cancelled, scrubbed = [], []
    for instance_id in ids:
        status = session.scalar(select(ProcessInstance.status).where(ProcessInstance.id == instance_id))
        if status in ACTIVE:
            engine.ops.cancel(session, instance_id, actor=actor, reason=reason, only_if_active=True,
                              scrub=lambda wf: scrub_workflow(wf, scrubber))
            cancelled.append(instance_id)
        else:
            engine.ops.scrub_ended(session, instance_id, lambda wf: scrub_workflow(wf, scrubber), actor=actor,
                                   error=scrubber.audit_details)
        scrubbed.append(instance_id)
    return cancelled, scrubbed


# Audit kinds written by the engine alone (element names, timer due times): nothing of the person.
ENGINE_ONLY_KINDS = frozenset({"element_completed", "timer_fired", "instance_completed", "task_claimed",
                               "data_erased"})


def scrub_side_rows(session: Session, ids: list[str], candidate_id: str, scrubber: Scrubber) -> tuple[int, int, int]:
    """human_tasks.data, audit_events.details, process errors, buffered messages and idempotency
    records of the person's cases; returns (tasks, audit events, buffered messages) changed."""
    tasks = audits = buffered = 0
    if ids:
        for task_id, data in session.execute(select(HumanTask.id, HumanTask.data).where(HumanTask.instance_id.in_(ids))):
            clean = scrubber.value(data or {})
            if clean != data:
                session.execute(update(HumanTask).where(HumanTask.id == task_id).values(data=clean)
                                .execution_options(synchronize_session=False))
                tasks += 1
        for event_id, details in session.execute(
                select(AuditEvent.id, AuditEvent.details)
                .where(AuditEvent.instance_id.in_(ids), AuditEvent.kind.not_in(ENGINE_ONLY_KINDS))):
            clean = scrubber.audit_details(details or {})
            if clean != details:
                session.execute(update(AuditEvent).where(AuditEvent.id == event_id).values(details=clean)
                                .execution_options(synchronize_session=False))
                audits += 1
        for instance_id, error in session.execute(select(ProcessInstance.id, ProcessInstance.error)
                                                  .where(ProcessInstance.id.in_(ids), ProcessInstance.error.is_not(None))):
            clean = scrubber.audit_details(error)
            if clean != error:
                session.execute(update(ProcessInstance).where(ProcessInstance.id == instance_id).values(error=clean)
                                .execution_options(synchronize_session=False))
    key = correlation_key({"candidate_id": candidate_id})
    messages = select(BufferedMessage).where(BufferedMessage.correlation_key == key)
    if ids:
        messages = messages.union_all(select(BufferedMessage).where(BufferedMessage.delivered_to.in_(ids),
                                                                    BufferedMessage.correlation_key != key))
    for message in session.scalars(select(BufferedMessage).from_statement(messages)):
        clean = scrubber.value(message.payload or {})
        if clean != message.payload:
            session.execute(update(BufferedMessage).where(BufferedMessage.id == message.id).values(payload=clean)
                            .execution_options(synchronize_session=False))
            buffered += 1
    scrub_idempotency_records(session, [candidate_id, *ids], scrubber)
    return tasks, audits, buffered


def scrub_idempotency_records(session: Session, needles: list[str], scrubber: Scrubber) -> int:
    """Stored answers (replayed on a retried request) that name one of the cases or the person."""
    if not needles:
        return 0
    body = cast(IdempotencyRecord.response_body, Text)
    changed = 0
    for record_id, stored in session.execute(
            select(IdempotencyRecord.id, IdempotencyRecord.response_body)
            .where(IdempotencyRecord.response_body.is_not(None),
                   or_(*(body.contains(n, autoescape=True) for n in needles)))):
        if not _mentions(stored, set(needles)):
            continue            # the id only as part of another string: someone else's answer
        clean = scrubber.value(stored, codes=AUDIT_KEYS)
        if clean != stored:
            session.execute(update(IdempotencyRecord).where(IdempotencyRecord.id == record_id)
                            .values(response_body=clean).execution_options(synchronize_session=False))
            changed += 1
    return changed


def _mentions(value, needles: set[str]) -> bool:
    if isinstance(value, dict):
        return any(_mentions(v, needles) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, needles) for v in value)
    return isinstance(value, str) and value in needles


def erase_archive(session: Session, candidate: Candidate, *, now, reason: str) -> None:
    """Blank the candidate's personal data in the archive; keep the anonymous facts."""
    candidate.name = candidate.phone = candidate.email = candidate.wecom_external_id = None
    candidate.notes = None
    candidate.needs, candidate.open_questions, candidate.interview_trail = [], [], []
    candidate.consent_source = ERASED if candidate.consent_source else None
    candidate.anonymised_at, candidate.anonymised_reason = now, reason
    candidate.updated_at = now
    session.execute(delete(CandidateTag).where(CandidateTag.candidate_id == candidate.id))
    session.execute(update(CandidateDecline).where(CandidateDecline.candidate_id == candidate.id)
                    .values(detail=None, needs=[], open_questions=[]).execution_options(synchronize_session=False))
    session.execute(update(CandidateSignal).where(CandidateSignal.candidate_id == candidate.id)
                    .values(text=None, source=None).execution_options(synchronize_session=False))
    session.execute(update(CandidateConsent).where(CandidateConsent.candidate_id == candidate.id,
                                                   CandidateConsent.source.is_not(None))
                    .values(source=ERASED).execution_options(synchronize_session=False))
    search.drop_document(session, candidate.id)
    forget_ranking(session, candidate.id)       # the score, its reasons and a pin (engine/ranking_models.py)


def secure_delete_on(session: Session) -> None:
    """SQLite: overwrite deleted content with zeros in this transaction (pages freed by erasure)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA secure_delete = ON"))


# ---------------------------------------------------------------- SQLite: the bytes leave the files
CHECKPOINT_TRIES = 5
CHECKPOINT_BUSY_MS = 100            # each try waits this long for readers and writers to let go
CHECKPOINT_PAUSE_SECONDS = 0.05     # then pauses a growing step before the next try
PENDING = "erasure_checkpoint"      # archive_cursors row: an erasure whose bytes may still be in the WAL


def checkpoint(db, *, tries: int = CHECKPOINT_TRIES) -> bool:
    """SQLite in WAL mode: copy every page into the main file and truncate the log, so the erased
    bytes leave the `-wal` file; True when done (always on PostgreSQL).

    `PRAGMA wal_checkpoint(TRUNCATE)` cannot finish while a reader still uses an older snapshot
    in the log (it answers busy); it runs outside any transaction, on a raw connection, with a
    short busy wait, retried a few times (about a second in all) before giving up."""
    if db.dialect != "sqlite":
        return True
    for attempt in range(tries):
        if attempt:
            time.sleep(CHECKPOINT_PAUSE_SECONDS * attempt)
        raw = db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA busy_timeout")
            (previous,) = cursor.fetchone()
            cursor.execute(f"PRAGMA busy_timeout = {CHECKPOINT_BUSY_MS}")
            try:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                busy, _frames, _copied = cursor.fetchone()
            finally:
                cursor.execute(f"PRAGMA busy_timeout = {int(previous)}")
                cursor.close()
        except Exception as exc:  # noqa: BLE001 - "database is locked" and the like: try again
            log.info("WAL checkpoint after erasure: %s", exc)
            busy = 1
        finally:
            raw.close()
        if not busy:
            return True
    log.warning("WAL checkpoint after erasure postponed (database busy): erasure pending, the worker retries")
    return False


def mark_pending(engine, candidate_id: str) -> None:
    """Record (audit and a marker the worker reads) that an erasure's bytes may still be in the WAL."""
    with engine.db.write_transaction() as s:
        engine.ops.audit(s, None, "erasure_pending", "engine", None, None,
                             {"candidate_id": candidate_id, "reason": "wal_checkpoint_busy"})
        if s.get(ArchiveCursor, PENDING) is None:
            first = s.scalar(select(func.max(AuditEvent.id)).where(AuditEvent.kind == "erasure_pending"))
            s.add(ArchiveCursor(name=PENDING, last_event_id=first, updated_at=engine.clock.now()))


def finish_pending(engine) -> int:
    """The worker's retry: checkpoint if an erasure is pending; returns how many erasures completed."""
    with engine.db.read_transaction() as s:
        marker = s.get(ArchiveCursor, PENDING)
        since = marker.last_event_id if marker is not None else None
    if since is None or not checkpoint(engine.db):
        return 0
    with engine.db.write_transaction() as s:
        pending = s.scalars(select(AuditEvent.details).where(AuditEvent.kind == "erasure_pending",
                                                             AuditEvent.id >= since).order_by(AuditEvent.id)).all()
        for details in pending:
            engine.ops.audit(s, None, "erasure_completed", "worker:privacy", None, None,
                                 {"candidate_id": (details or {}).get("candidate_id"), "wal": "checkpointed"})
        s.execute(delete(ArchiveCursor).where(ArchiveCursor.name == PENDING))
    checkpoint(engine.db, tries=1)      # best effort: the rows just written hold nothing of the person
    return len(pending)
