"""What the talent archive reaches in the channels: their personal data on erasure, a merge and a consent
withdrawal, and a completed task's sends. The archive calls these in every process (an API, a worker, the
command line), whether or not anything loaded a channel, so privacy never depends on which channels a
process registered.

This module imports tables only (no channel, no archive module): the channels are a layer above the
archive and import it; the archive imports nothing of theirs but this (tests/unit/test_import_graph.py).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from ..archive_models import Candidate, email_key
from ..models import HumanTask
from ..notification_models import forget as forget_notifications
from .email_models import EmailFailingAddress, EmailInbound
from .models import OPEN, OutboxMessage
from .wecom_models import CandidateWecomContact, CandidateWecomState

WORKER_ACTOR = "worker:channels"


def audit_send(ops, session: Session, row: OutboxMessage, kind: str, actor: str, **more) -> None:
    """A send's change (`channel_send_*`) on its case: ids and status only, never the text."""
    ops.audit(session, row.instance_id, kind, actor, None, row.task_id, {
        "outbox_id": row.id, "channel": row.channel, "kind": row.kind, "candidate_id": row.candidate_id,
        "status": row.status, **({"reason": row.reason} if row.reason else {}), **more})


def cancel_sends(session: Session, candidate_id: str, *, reason: str, ops=None, now: datetime,
                 actor: str = WORKER_ACTOR, erase: bool = False) -> int:
    """Cancel the candidate's open sends (consent withdrawn, erased); `erase` also empties recipient and
    payload of every row of theirs (the outcome rows stay, with no personal data). Returns the number cancelled."""
    rows = list(session.scalars(select(OutboxMessage).where(OutboxMessage.candidate_id == candidate_id)
                                .with_for_update()))
    cancelled = 0
    for row in rows:
        if row.status in OPEN:
            row.status, row.reason, row.detail = "cancelled", reason, None
            row.lease_token, row.lease_until, row.next_attempt_at, row.updated_at = None, None, None, now
            cancelled += 1
            if ops is not None:
                audit_send(ops, session, row, "channel_send_cancelled", actor)
        if erase:
            row.recipient, row.payload, row.detail, row.dedupe_key = {}, {}, None, None
    session.flush()
    return cancelled


def forget(session: Session, candidate: Candidate, instance_ids: list[str], *, now: datetime) -> None:
    """Erasure, before the archive blanks the person's address: their received mail (matched to them or from
    their address) and failing address deleted; their open sends cancelled and every send's recipient and
    text emptied; their WeCom contact links and "contact me" state deleted; what the diagrams told employees
    about their cases (`instance_ids`) deleted."""
    address = email_key(candidate.email)
    mine = EmailInbound.candidate_id == candidate.id
    session.execute(delete(EmailInbound).where(or_(mine, EmailInbound.from_address == address) if address
                                               else mine).execution_options(synchronize_session=False))
    failing = EmailFailingAddress.candidate_id == candidate.id
    session.execute(delete(EmailFailingAddress).where(
        or_(failing, EmailFailingAddress.address == address) if address else failing)
        .execution_options(synchronize_session=False))
    cancel_sends(session, candidate.id, reason="erased", now=now, erase=True)
    session.execute(delete(CandidateWecomContact).where(CandidateWecomContact.candidate_id == candidate.id))
    session.execute(delete(CandidateWecomState).where(CandidateWecomState.candidate_id == candidate.id))
    forget_notifications(session, instance_ids)


def move(session: Session, absorbed_id: str, survivor_id: str) -> None:
    """A merge: the absorbed record's WeCom contact links go to the survivor, its QR state too unless the
    survivor has one (the survivor's stays; a contact made through the other one then links nobody)."""
    session.execute(update(CandidateWecomContact).where(CandidateWecomContact.candidate_id == absorbed_id)
                    .values(candidate_id=survivor_id).execution_options(synchronize_session=False))
    has_state = session.scalar(select(CandidateWecomState.state).where(CandidateWecomState.candidate_id == survivor_id))
    states = delete(CandidateWecomState) if has_state else update(CandidateWecomState).values(candidate_id=survivor_id)
    session.execute(states.where(CandidateWecomState.candidate_id == absorbed_id)
                    .execution_options(synchronize_session=False))


def record_sends(session: Session, ops, *, instance_id: str, element_id: str, data: dict, actor: str,
                 definition=None) -> None:
    """Completion hook (engine.archive.install): the completed task's sends and their status, audited on the
    case (`channel_sends_recorded`), with whether the recorded `message_sent` is the text that went out."""
    task_ids = select(HumanTask.id).where(HumanTask.instance_id == instance_id, HumanTask.element_id == element_id,
                                          HumanTask.status == "completed", HumanTask.completed_by == actor)
    rows = session.scalars(select(OutboxMessage).where(OutboxMessage.instance_id == instance_id,
                                                       OutboxMessage.task_id.in_(task_ids))
                           .order_by(OutboxMessage.created_at)).all()
    if not rows:
        return
    recorded = data.get("message_sent")
    ops.audit(session, instance_id, "channel_sends_recorded", actor, element_id, rows[-1].task_id, {
        "sends": [{"outbox_id": r.id, "channel": r.channel, "status": r.status, "reason": r.reason,
                   "text_recorded": recorded is not None and recorded == (r.payload or {}).get("text")}
                  for r in rows]})
