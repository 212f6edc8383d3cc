"""Which cases are a candidate's: reads in the caller's transaction.

Starting, signalling and cancelling them are the engine's own operations
(`engine.ops.start / signal / cancel`, engine/operations.py), which the archive calls
in its unit of work like any other caller.
"""
from __future__ import annotations

from sqlalchemy import or_, select, union
from sqlalchemy.orm import Session

from ..archive_models import CandidateDecline
from ..status import LIVE
from ..models import AuditEvent, BufferedMessage, MessageSubscription, ProcessInstance
from ..sidetables import correlation_key

RECALL_PROCESS = "offer_recall"
# A case is "in its cadence" while it listens for the candidate's reply (follow-ups or snooze).
CADENCE_MESSAGE = "candidate_replied"


def instance_ids(session: Session, candidate_id: str, *, thorough: bool = False) -> list[str]:
    """The candidate's cases: started by a recorded decline, or with the candidate id as business key.

    `thorough` (erasure, consent lapse): also cases started with the candidate id as the
    `candidate_id` start variable under any business key, and cases correlated on it (waiting for a
    message, or sent one: live or ended). It scans two kinds of audit events (docs/privacy.md has
    the measured cost), so the reads on every request use the indexed ways only."""
    by_decline = select(CandidateDecline.instance_id.label("id")).where(
        CandidateDecline.candidate_id == candidate_id, CandidateDecline.instance_id.is_not(None))
    by_key = select(ProcessInstance.id.label("id")).where(ProcessInstance.business_key == candidate_id)
    ways = [by_decline, by_key]
    if thorough:
        key = correlation_key({"candidate_id": candidate_id})
        ways.append(select(MessageSubscription.instance_id.label("id")).where(
            MessageSubscription.correlation_key == key))
        ways.append(select(BufferedMessage.delivered_to.label("id")).where(
            BufferedMessage.correlation_key == key, BufferedMessage.delivered_to.is_not(None)))
        ways.append(select(AuditEvent.instance_id.label("id")).where(
            AuditEvent.kind.in_(("instance_started", "message_delivered")), AuditEvent.instance_id.is_not(None),
            or_(AuditEvent.details["candidate_id"].as_string() == candidate_id,
                AuditEvent.details[("correlation", "candidate_id")].as_string() == candidate_id)))
    ids = union(*ways).subquery()
    return list(session.scalars(
        select(ProcessInstance.id).where(ProcessInstance.id.in_(select(ids.c.id)))
        .order_by(ProcessInstance.created_at, ProcessInstance.id)))


def live_cases(session: Session, ids: list[str]) -> list[str]:
    if not ids:
        return []
    return list(session.scalars(select(ProcessInstance.id).where(
        ProcessInstance.id.in_(ids), ProcessInstance.status.in_(LIVE)).order_by(ProcessInstance.created_at)))


def in_cadence(session: Session, ids: list[str]) -> list[str]:
    """Live cases waiting for the candidate's reply (read from the subscription side table)."""
    if not ids:
        return []
    return list(session.scalars(
        select(MessageSubscription.instance_id).distinct()
        .join(ProcessInstance, ProcessInstance.id == MessageSubscription.instance_id)
        .where(MessageSubscription.instance_id.in_(ids), MessageSubscription.message_name == CADENCE_MESSAGE,
               ProcessInstance.status.in_(LIVE))))
