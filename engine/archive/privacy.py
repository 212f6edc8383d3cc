"""Erasure and anonymisation: remove a person's data everywhere, keep anonymous counts.

What is removed (docs/privacy.md has the table):
- the archive: contact fields, notes, needs, open questions, interview trail, tags, decline
  details, signal texts, the search document (and, on SQLite, the FTS5 index segments);
- every case's stored workflow state: all task data and internal data of every task, in every
  sub-process, scrubbed and saved through `Runtime.change` (live cases are cancelled in the
  same change); ended cases are rewritten with the same optimistic version check;
- `human_tasks.data` (prefill, including rendered suggested messages), `audit_events.details`
  of the cases, `process_instances.error`, and buffered messages correlated on the candidate.

Scrubbing replaces every string under a free-text key (message_sent, text, notes, needs...)
and every string containing one of the person's identifying strings or free texts with
"[erased]"; structured codes (decline_reason, outcome, channel, decision, template id...) stay,
which is what keeps the funnel counts unchanged.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from ..archive_models import (
    Candidate, CandidateConsent, CandidateDecline, CandidateSignal, CandidateTag,
)
from ..models import AuditEvent, BufferedMessage, HumanTask, ProcessInstance
from ..serialization import SERIALIZER_VERSION
from ..sidetables import all_tasks, correlation_key
from ..errors import StaleVersion
from . import cases, search

log = logging.getLogger("recall.privacy")

ERASED = "[erased]"
# Keys whose values are free text about the person, wherever they appear (task data, payloads,
# audit details, prefill). Their string leaves are erased whatever they contain.
FREE_TEXT_KEYS = frozenset({
    "message_sent", "suggested_message", "text", "decline_detail", "detail", "needs", "open_questions",
    "notes", "note", "talking_points", "comment", "feedback", "skip_reason", "concerns_addressed",
    "reason", "goals", "progress", "check_ins", "evaluation", "interview_trail", "phone",
    "email", "wecom_external_id", "candidate_name", "suggestion_error", "message",
})
# Numbers about the person's pay are personal too.
SENSITIVE_NUMBER_KEYS = frozenset({"salary", "original_salary", "salary_increase_pct"})
# Codes analytics and the engine rely on: never erased by key (still checked for the person's strings).
_CODE = re.compile(r"^[a-z0-9_:.\-]{1,64}$")
MIN_NEEDLE = 2


@dataclass(frozen=True)
class PrivacySettings:
    retention_days: int = 180            # RECALL_RETENTION_DAYS: anonymise this long after consent ended
    renewal_days: int = 30               # RECALL_CONSENT_RENEWAL_DAYS: ask for renewal this long before expiry

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None = None) -> "PrivacySettings":
        values = os.environ if values is None else values
        kwargs = {}
        for var, name in (("RECALL_RETENTION_DAYS", "retention_days"),
                          ("RECALL_CONSENT_RENEWAL_DAYS", "renewal_days")):
            raw = values.get(var)
            if raw not in (None, ""):
                try:
                    kwargs[name] = int(raw)
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"{var}={raw!r} is not a whole number of days") from exc
                if kwargs[name] < 0:
                    raise ValueError(f"{var} must not be negative")
        return cls(**kwargs)


# ---------------------------------------------------------------- scrubbing
class Scrubber:
    """Erases free text and the person's own strings from JSON-like values.

    `identifiers` (name, phone, email, WeCom id) are erased wherever they occur, even as a
    whole code-like value; `free_texts` (notes, needs, questions...) only inside prose, so
    that a need spelled like a code ("counter_offer") never erases the decline reason.
    """

    def __init__(self, identifiers: Iterable[str], free_texts: Iterable[str] = ()):
        self.identifiers = _needles(identifiers, MIN_NEEDLE)
        self.free_texts = [n for n in _needles(free_texts, MIN_NEEDLE) if n not in self.identifiers]
        self.changed = False

    def text(self, value: str) -> str:
        hit = any(needle in value for needle in self.identifiers) or (
            not _CODE.match(value) and any(needle in value for needle in self.free_texts))
        if hit:
            self.changed = True
            return ERASED
        return value

    def value(self, value, key: str | None = None, *, free: bool = False):
        free = free or (key in FREE_TEXT_KEYS)
        if isinstance(value, dict):
            return {k: self.value(v, k, free=free) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v, key, free=free) for v in value]
        if isinstance(value, tuple):
            return tuple(self.value(v, key, free=free) for v in value)
        if isinstance(value, str):
            if free and value and value != ERASED:
                self.changed = True
                return ERASED
            return self.text(value)
        if key in SENSITIVE_NUMBER_KEYS and isinstance(value, (int, float)) and not isinstance(value, bool):
            self.changed = True
            return None
        return value

    def dict_in_place(self, data: dict) -> None:
        for key in list(data):
            data[key] = self.value(data[key], key)


def _needles(values: Iterable, min_length: int) -> list[str]:
    unique = {v.strip() for v in values if isinstance(v, str) and len(v.strip()) >= min_length}
    return sorted(unique, key=len, reverse=True)


def scrubber_for(session: Session, candidate: Candidate) -> Scrubber:
    """A scrubber for the person's identifying strings and free texts, as recorded in the archive."""
    identifiers = [candidate.name, candidate.phone, candidate.email, candidate.wecom_external_id]
    if candidate.phone:
        digits = re.sub(r"\D", "", candidate.phone)
        if len(digits) >= 6:
            identifiers.append(digits)
    values: list = [candidate.notes, *(candidate.needs or []), *(candidate.open_questions or [])]
    for round_ in candidate.interview_trail or []:
        if isinstance(round_, dict):
            values.append(round_.get("evaluation"))
    for decline in session.scalars(select(CandidateDecline).where(CandidateDecline.candidate_id == candidate.id)):
        values.extend([decline.detail, *(decline.needs or []), *(decline.open_questions or [])])
    values.extend(session.scalars(select(CandidateSignal.text).where(CandidateSignal.candidate_id == candidate.id)))
    return Scrubber(identifiers, [v for v in values if isinstance(v, str)])


def scrub_workflow(workflow, scrubber: Scrubber) -> None:
    """Scrub the data of every task (and sub-process) of a workflow in memory."""
    for task in all_tasks(workflow):
        scrubber.dict_in_place(task.data)
        scrubber.dict_in_place(task.internal_data)
    for sub in [workflow, *workflow.subprocesses.values()]:
        data = getattr(sub, "data", None)
        if isinstance(data, dict):
            scrubber.dict_in_place(data)
    for event in getattr(workflow, "bpmn_events", []) or []:
        if isinstance(getattr(event, "payload", None), (dict, list)):
            event.payload = scrubber.value(event.payload)


def _rewrite_ended_case(engine, session: Session, instance_id: str, scrubber: Scrubber, *, actor: str) -> None:
    """Scrub a completed or cancelled case and save it with the optimistic version check.

    Not through Runtime.change: re-running an ended workflow there would re-stamp its
    completion time and append a second `instance_completed`; an ended case has no side rows
    to re-derive, so this save is all Runtime.change would have done.
    """
    runtime = engine.runtime
    loaded = runtime.load(session, instance_id)
    scrub_workflow(loaded.workflow, scrubber)
    row = loaded.row
    error = scrubber.value(row.error) if row.error else row.error
    result = session.execute(
        update(ProcessInstance).where(ProcessInstance.id == instance_id, ProcessInstance.version == row.version)
        .values(state=runtime.serializer.dump_state(loaded.workflow), serializer_version=SERIALIZER_VERSION,
                version=row.version + 1, error=error, updated_at=runtime.clock.now())
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise StaleVersion(f"instance {instance_id} changed during erasure; retry")
    runtime.audit(session, instance_id, "data_erased", actor, None, None, {"scope": "workflow_state"})


def scrub_cases(engine, session: Session, ids: list[str], scrubber: Scrubber, *, actor: str,
                reason: str) -> tuple[list[str], list[str]]:
    """Cancel live cases and scrub every case's state; returns (cancelled, scrubbed)."""
    cancelled, scrubbed = [], []
    for instance_id in ids:
        status = session.scalar(select(ProcessInstance.status).where(ProcessInstance.id == instance_id))
        if status in ("running", "waiting", "error"):
            cases.cancel_case(engine, session, instance_id, actor=actor, reason=reason,
                              also=lambda wf: scrub_workflow(wf, scrubber))
            cancelled.append(instance_id)
        else:
            _rewrite_ended_case(engine, session, instance_id, scrubber, actor=actor)
        scrubbed.append(instance_id)
    return cancelled, scrubbed


def scrub_side_rows(session: Session, ids: list[str], candidate_id: str, scrubber: Scrubber) -> tuple[int, int, int]:
    """human_tasks.data, audit_events.details, process error and buffered messages of the person."""
    tasks = audits = buffered = 0
    if ids:
        for task_id, data in session.execute(select(HumanTask.id, HumanTask.data).where(HumanTask.instance_id.in_(ids))):
            clean = scrubber.value(data or {})
            if clean != data:
                session.execute(update(HumanTask).where(HumanTask.id == task_id).values(data=clean)
                                .execution_options(synchronize_session=False))
                tasks += 1
        for event_id, details in session.execute(select(AuditEvent.id, AuditEvent.details)
                                                 .where(AuditEvent.instance_id.in_(ids))):
            clean = scrubber.value(details or {})
            if clean != details:
                session.execute(update(AuditEvent).where(AuditEvent.id == event_id).values(details=clean)
                                .execution_options(synchronize_session=False))
                audits += 1
        for instance_id, error in session.execute(select(ProcessInstance.id, ProcessInstance.error)
                                                  .where(ProcessInstance.id.in_(ids), ProcessInstance.error.is_not(None))):
            clean = scrubber.value(error)
            if clean != error:
                session.execute(update(ProcessInstance).where(ProcessInstance.id == instance_id).values(error=clean)
                                .execution_options(synchronize_session=False))
    key = correlation_key({"candidate_id": candidate_id})
    for message in session.scalars(select(BufferedMessage).where(BufferedMessage.correlation_key == key)):
        clean = scrubber.value(message.payload or {}, free=False)
        clean = {k: (ERASED if isinstance(v, str) and k not in ("candidate_id",) and not _CODE.match(v) else v)
                 for k, v in clean.items()}
        if clean != message.payload:
            message.payload = clean
            buffered += 1
    return tasks, audits, buffered


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


def secure_delete_on(session: Session) -> None:
    """SQLite: overwrite deleted content with zeros in this transaction (pages freed by erasure)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(text("PRAGMA secure_delete = ON"))


def checkpoint(db) -> None:
    """SQLite in WAL mode: copy the erased pages into the main file and truncate the log (best effort)."""
    if db.dialect != "sqlite":
        return
    try:
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    except Exception:  # noqa: BLE001 - a busy reader only delays it to the next checkpoint
        log.info("WAL checkpoint after erasure postponed (database busy)")
