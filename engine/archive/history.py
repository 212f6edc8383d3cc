"""A candidate's cases, messages and timeline, read from the audit trail of their cases.

Sent messages are the follow-ups HR (or a manager) recorded when completing a task;
received ones are the candidate's messages delivered to the case. Nothing is kept by hand.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import days
from ..archive_models import Candidate, CandidateConsent, CandidateDecline, CandidateSignal
from ..models import AuditEvent, ProcessInstance, User
from ..vocabulary import Vocabulary
from .views import CaseView, MessageView, TimelineEntry

# the channels' sends (engine/channels/outbox.py): ids and status only, never the text
SEND_KINDS = ("channel_send_requested", "channel_send_awaiting", "channel_send_sent", "channel_send_failed",
              "channel_send_cancelled", "channel_send_retrying", "channel_send_retried")
TIMELINE_KINDS = ("instance_started", "task_completed", "timer_fired", "message_delivered", "instance_completed",
                  "instance_cancelled", "instance_error", "contact_viewed", "data_erased", "decline_recorded",
                  "consent_changed", "decline_changed", *SEND_KINDS)


def name_people(session: Session, view) -> None:
    """A candidate view's people by name: each timeline entry's `actor_name` and each decline's
    `hiring_manager_name` (the directory's display name, else the user name); the engine, a worker or
    'system' keep None. One statement."""
    wanted = sorted({e.actor for e in view.timeline if e.actor} | {d.hiring_manager for d in view.declines
                                                                   if d.hiring_manager})
    known = {name: display or name for name, display in session.execute(
        select(User.name, User.display_name).where(User.name.in_(wanted)))} if wanted else {}
    for entry in view.timeline:
        entry.actor_name = known.get(entry.actor)
    for decline in view.declines:
        decline.hiring_manager_name = known.get(decline.hiring_manager) if decline.hiring_manager else None


def cases(session: Session, ids: list[str]) -> list[CaseView]:
    if not ids:
        return []
    rows = session.execute(select(ProcessInstance.id, ProcessInstance.process_key, ProcessInstance.status,
                                  ProcessInstance.end_event, ProcessInstance.created_at,
                                  ProcessInstance.completed_at)
                           .where(ProcessInstance.id.in_(ids)).order_by(ProcessInstance.created_at)).all()
    return [CaseView(*r) for r in rows]


def case_events(session: Session, ids: list[str]) -> list[AuditEvent]:
    if not ids:
        return []
    return list(session.scalars(select(AuditEvent).where(AuditEvent.instance_id.in_(ids),
                                                         AuditEvent.kind.in_(TIMELINE_KINDS))
                                .order_by(AuditEvent.id)))


def sent_message(event: AuditEvent, vocabulary: Vocabulary) -> MessageView | None:
    """A follow-up of a cadence stage, a reaction to a signal or a re-offer that HR sent (the stages
    of workflows/vocabulary.json; a hand-off call is not a message in the candidate's history)."""
    stage = vocabulary.sent_stage(event.element_id) if event.kind == "task_completed" else None
    if stage is None or stage == "handoff":
        return None
    data = (event.details or {}).get("data") or {}
    if data.get("outcome") == "skipped" or data.get("action") == "no_action":
        return None
    return MessageView(at=event.at, direction="sent", stage=stage, element_id=event.element_id,
                       channel=data.get("channel"), text=data.get("message_sent"),
                       instance_id=event.instance_id, actor=event.actor)


def received_message(event: AuditEvent, stage: str | None, vocabulary: Vocabulary) -> MessageView | None:
    details = event.details or {}
    if event.kind != "message_delivered" or details.get("name") not in vocabulary.message("from_candidate"):
        return None
    payload = details.get("payload") or {}
    text = payload.get("text")
    if text is None and "decision" in payload:
        text = str(payload["decision"])
    if details.get("name") == "candidate_signal":
        stage, channel = "signal", payload.get("source")
    else:
        channel = payload.get("channel")
    given = _given_at(payload.get("replied_at"), event.at)
    return MessageView(at=given or event.at, direction="received", stage=stage, element_id=event.element_id,
                       channel=channel, text=text, instance_id=event.instance_id, actor=event.actor,
                       name=details.get("name"), recorded_at=event.at if given else None)


def _given_at(value, recorded: datetime) -> datetime | None:
    """When the candidate answered, as the person recording it said (`replied_at`, checked when it was
    delivered: a date-time not after then); None if not said or the same as the recording."""
    if not isinstance(value, str):
        return None
    try:
        given = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if given.tzinfo is None or given >= recorded:
        return None
    return given.astimezone(recorded.tzinfo)


def messages(events: list[AuditEvent], signals: list[CandidateSignal], vocabulary: Vocabulary) -> list[MessageView]:
    """Sent follow-ups and received messages (replies, offer answers, signals); a reply carries the
    stage of the message it answers."""
    out: list[MessageView] = []
    last_stage: dict[str | None, str | None] = {}
    for event in events:
        sent = sent_message(event, vocabulary)
        if sent is not None:
            last_stage[event.instance_id] = sent.stage
            out.append(sent)
            continue
        received = received_message(event, last_stage.get(event.instance_id), vocabulary)
        if received is not None:
            out.append(received)
    for s in signals:
        if not s.delivered_to:          # delivered ones are in their case's trail already
            out.append(MessageView(at=s.received_at, direction="received", stage="signal", element_id=None,
                                   channel=s.source, text=s.text, instance_id=None, actor=s.recorded_by,
                                   name="candidate_signal"))
    out.sort(key=lambda m: m.at)        # stable: the trail's order among equal times
    return out


def _summary(event: AuditEvent) -> str:
    details = event.details or {}
    if event.kind == "task_completed":
        return f"{event.element_id} completed"
    if event.kind == "timer_fired":
        return "timer " + ", ".join(t.get("element_id", "?") for t in details.get("timers", []))
    if event.kind == "message_delivered":
        return f"{details.get('name')} delivered"
    if event.kind == "instance_completed":
        return f"case ended at {details.get('end_event')}"
    if event.kind == "instance_cancelled":
        return f"case cancelled ({details.get('reason') or 'no reason'})"
    if event.kind == "contact_viewed":
        return "contact details read by the hiring manager"
    if event.kind == "decline_recorded":
        return f"decline recorded ({details.get('decline_reason')})"
    if event.kind == "decline_changed":
        return f"decline confirmed with changes in {event.element_id} by {event.actor} " \
               f"({', '.join(details.get('fields') or [])})"
    if event.kind in SEND_KINDS:
        return _send_summary(event.kind, details)
    if event.kind == "consent_changed":
        changes = "; ".join(f"{name}: {before!r} -> {after!r}" for name, (before, after)
                            in sorted((details.get("fields") or {}).items()))
        return f"consent changed in {event.element_id} by {event.actor} ({changes})"
    return event.kind.replace("_", " ")


_SEND_WORDS = {"channel_send_requested": "queued, to be sent", "channel_send_awaiting": "awaiting the sender's confirmation",
               "channel_send_sent": "sent", "channel_send_failed": "failed", "channel_send_cancelled": "cancelled",
               "channel_send_retrying": "failed for now, will retry", "channel_send_retried": "sent again on request"}


def _send_summary(kind: str, details: dict) -> str:
    reason = f" ({details['reason']})" if details.get("reason") and kind != "channel_send_sent" else ""
    return f"message via {details.get('channel')}: {_SEND_WORDS[kind]}{reason}"


def timeline(candidate: Candidate, declines: list[CandidateDecline], consents: list[CandidateConsent],
             signals: list[CandidateSignal], events: list[AuditEvent]) -> list[TimelineEntry]:
    entries = [TimelineEntry(candidate.created_at, "candidate_created", candidate.created_by, "added to the archive")]
    for d in declines:
        entries.append(TimelineEntry(d.decline_date, "declined", d.created_by, f"declined ({d.reason})",
                                     instance_id=d.instance_id))
    for c in consents:
        if c.withdrawn_at is not None:
            summary, kind = "talent-pool consent withdrawn", "consent_withdrawn"
        elif c.granted:
            summary, kind = f"talent-pool consent ({c.scope}) until {days.iso_day(c.expires_at)}", "consent_granted"
        else:
            summary, kind = "no talent-pool consent", "consent_refused"
        entries.append(TimelineEntry(c.recorded_at, kind, c.recorded_by, summary))
    for s in signals:
        entries.append(TimelineEntry(s.received_at, "signal", s.recorded_by, f"signal: {s.kind}"))
    for e in events:
        if e.kind == "decline_recorded":
            continue            # shown from the decline itself
        entries.append(TimelineEntry(e.at, e.kind, e.actor, _summary(e), instance_id=e.instance_id,
                                     element_id=e.element_id))
    entries.sort(key=lambda t: t.at)
    return entries
