"""The outbox: sends as side effects, written in the unit of work that asks for them, sent by the worker.

    outbox.enqueue(session, channel="wecom", kind="candidate_message", recipient={...},
                   payload={"text": ..., "subject": None, "link": None, "language": "zh"},
                   actor="hr.li", candidate_id=..., task_id=..., instance_id=..., dedupe_key=...)

The worker job (`run_outbox`, run each round: engine.channels.builtin.channel_jobs) does the rest, like engine/webhooks.py:

1. Lease: due rows — `pending` whose next attempt is due, `sending` whose lease expired (a worker died
   between the provider's answer and the record), `awaiting_confirmation` whose next look is due — are
   leased (PostgreSQL: FOR UPDATE SKIP LOCKED) for RECALL_CHANNEL_LEASE_SECONDS. A send's attempts grow
   by one at the lease, so a row sent again after a crash keeps its id and provider_id and the sender
   sees `attempts` > 0: it must then make sure the recipient does not get it twice (registry.py).
   A candidate message whose candidate has no talent-pool consent any more (withdrawn, expired, erased)
   is cancelled here instead of sent, whatever happened since it was asked for.
2. Send (or follow) outside any transaction: the channel's `send(engine, outgoing)` /
   `follow(engine, outgoing)`; an exception from it counts as `retry` with its message.
3. Record the Outcome only if the lease is still this worker's: `sent`, `failed` (final, with the
   reason), `awaiting_confirmation` (looked at again every RECALL_CHANNEL_FOLLOW_SECONDS), `retry`
   (after RECALL_CHANNEL_RETRY_SECONDS doubled per attempt, capped by RECALL_CHANNEL_RETRY_MAX_SECONDS, or
   the provider's retry_after; after RECALL_CHANNEL_MAX_ATTEMPTS attempts the row fails, reason
   `gave_up`). Each change is audited on the row's case (`channel_send_*`, ids and status only, never
   the text) so that it shows on the task and the candidate's timeline, and counted in
   `recall_channel_sends_total{channel, status}`.

A person retries a failed send (`retry`) or records that they sent it by hand (`mark_sent`).
"""
from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from ..errors import InvalidState, NotFound
from . import registry
from . import settings as channel_settings
from .archive_hooks import WORKER_ACTOR, audit_send
from .models import OutboxMessage

log = logging.getLogger("recall.channels")

_OUTBOX = OutboxMessage.__table__
DETAIL_MAX = 1000


# ---------------------------------------------------------------- views
@dataclass
class SendView:
    """One outbox row as the API shows it (the text only to whom the caller decides)."""

    id: str
    channel: str
    kind: str
    status: str
    candidate_id: str | None
    task_id: str | None
    instance_id: str | None
    text: str | None
    subject: str | None
    provider_id: str | None
    reason: str | None
    detail: str | None
    attempts: int
    next_attempt_at: datetime | None
    created_by: str | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None


def send_view(row) -> SendView:
    payload = row.payload or {}
    return SendView(row.id, row.channel, row.kind, row.status, row.candidate_id, row.task_id, row.instance_id,
                    payload.get("text"), payload.get("subject"), row.provider_id, row.reason, row.detail,
                    row.attempts, row.next_attempt_at if row.status in ("pending", "awaiting_confirmation") else None,
                    row.created_by, row.created_at, row.updated_at, row.sent_at)


def outgoing(row) -> registry.Outgoing:
    return registry.Outgoing(id=row.id, channel=row.channel, kind=row.kind, recipient=dict(row.recipient or {}),
                             payload=dict(row.payload or {}), candidate_id=row.candidate_id, task_id=row.task_id,
                             instance_id=row.instance_id, provider_id=row.provider_id, attempts=row.attempts,
                             created_by=row.created_by)


# ---------------------------------------------------------------- writing
def enqueue(session: Session, *, channel: str, kind: str, recipient: dict, payload: dict, actor: str | None,
            candidate_id: str | None = None, task_id: str | None = None, instance_id: str | None = None,
            dedupe_key: str | None = None, now: datetime | None = None, ops=None, id: str | None = None) -> str:
    """A new pending send in the caller's unit of work; its id. With `dedupe_key`, a second enqueue of the
    same key returns the first row's id and writes nothing. `ops` (engine.ops): audit it on its case.
    `id`: the caller's own (a service task hands it to its diagram before the row is written)."""
    registry.get(channel)
    if kind not in registry.KINDS:
        raise ValueError(f"kind {kind!r} is not one of {registry.KINDS}")
    if dedupe_key is not None:
        existing = session.scalar(select(_OUTBOX.c.id).where(_OUTBOX.c.dedupe_key == dedupe_key))
        if existing is not None:
            return existing
    now = now or _utcnow()
    row = OutboxMessage(id=id or str(uuid.uuid4()), channel=channel, kind=kind, status="pending",
                        candidate_id=candidate_id, task_id=task_id, instance_id=instance_id,
                        recipient=dict(recipient), payload=dict(payload), attempts=0, next_attempt_at=now,
                        dedupe_key=dedupe_key, created_by=actor, created_at=now, updated_at=now)
    session.add(row)
    session.flush()
    if ops is not None:
        audit_send(ops, session, row, "channel_send_requested", actor or WORKER_ACTOR)
    return row.id


def _utcnow() -> datetime:
    from datetime import timezone
    return datetime.now(timezone.utc)


def load(session: Session, send_id: str, *, for_update: bool = False) -> OutboxMessage:
    query = select(OutboxMessage).where(OutboxMessage.id == send_id)
    row = session.scalars(query.with_for_update() if for_update else query).first()
    if row is None:
        raise NotFound(f"no send {send_id}")
    return row


def of_task(session: Session, task_id: str) -> list[OutboxMessage]:
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.task_id == task_id)
                                .order_by(OutboxMessage.created_at, OutboxMessage.id)))


def retry(engine, session: Session, row: OutboxMessage, *, actor: str) -> OutboxMessage:
    """Send a failed row again now, with its attempts forgotten (the same id: a sender still dedupes)."""
    if row.status != "failed":
        raise InvalidState(f"send {row.id} is {row.status}; only a failed send is retried")
    now = engine.clock.now()
    row.status, row.attempts, row.next_attempt_at, row.reason, row.detail = "pending", 0, now, None, None
    row.lease_token, row.lease_until, row.updated_at = None, None, now
    session.flush()
    audit_send(engine.ops, session, row, "channel_send_retried", actor)
    return row


def mark_sent(engine, session: Session, row: OutboxMessage, *, actor: str) -> OutboxMessage:
    """The person sent it by hand: the row is sent, the worker leaves it (a lease in flight loses its record)."""
    if row.status in ("sent", "cancelled"):
        raise InvalidState(f"send {row.id} is already {row.status}")
    now = engine.clock.now()
    row.status, row.reason, row.detail = "sent", "by_hand", f"sent by hand by {actor}"
    row.sent_at = row.updated_at = now
    row.lease_token, row.lease_until, row.next_attempt_at = None, None, None
    session.flush()
    audit_send(engine.ops, session, row, "channel_send_sent", actor)
    engine.metrics.channel_sends.inc(channel=row.channel, status="sent")
    return row


# ---------------------------------------------------------------- counting (monthly limits)
def month_bounds(now: datetime, zone) -> tuple[datetime, datetime]:
    """The calendar month of `now` in `zone`: [start, next start), as aware datetimes."""
    local = now.astimezone(zone)
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start.replace(year=start.year + 1, month=1) if start.month == 12
                 else start.replace(month=start.month + 1))
    return start, following


def sends_this_month(session: Session, *, channel: str, candidate_id: str, start: datetime, end: datetime) -> int:
    """Candidate messages on `channel` in [start, end) not failed or cancelled (what counts against a limit)."""
    from sqlalchemy import func
    return session.scalar(select(func.count()).select_from(_OUTBOX).where(
        _OUTBOX.c.channel == channel, _OUTBOX.c.candidate_id == candidate_id,
        _OUTBOX.c.kind == "candidate_message", _OUTBOX.c.status.not_in(("failed", "cancelled")),
        _OUTBOX.c.created_at >= start, _OUTBOX.c.created_at < end)) or 0


# ---------------------------------------------------------------- the worker's side
@dataclass
class OutboxReport:
    claimed: int = 0
    sent: int = 0
    awaiting: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0


def _consent_holds(session: Session, candidate_id: str, now: datetime) -> str | None:
    """None when the candidate may receive a message now; else why not (a short reason code)."""
    from ..archive_models import Candidate
    c = session.get(Candidate, candidate_id)
    if c is None or c.anonymised_at is not None:
        return "erased"
    if c.consent_withdrawn_at is not None:
        return "consent_withdrawn"
    if not c.consent_granted or (c.consent_expires_at is not None and c.consent_expires_at <= now):
        return "consent_missing"
    return None


def _claim(engine, *, limit: int) -> tuple[str, list, list]:
    """Lease due rows: (token, rows to send, rows to follow). Rows no longer allowed are cancelled."""
    settings = engine.settings
    now = engine.clock.now()
    token = str(uuid.uuid4())
    lease_end = now + timedelta(seconds=settings.channel_lease_seconds)
    due = or_(and_(_OUTBOX.c.status.in_(("pending", "awaiting_confirmation")), _OUTBOX.c.next_attempt_at <= now),
              and_(_OUTBOX.c.status == "sending", _OUTBOX.c.lease_until <= now))
    with engine.db.write_transaction() as s:
        rows = s.scalars(select(OutboxMessage).where(due).order_by(_OUTBOX.c.next_attempt_at).limit(limit)
                         .with_for_update(skip_locked=True)).all()
        sends, follows = [], []
        for row in rows:
            if row.kind == "candidate_message" and row.candidate_id:
                refused = _consent_holds(s, row.candidate_id, now)
                if refused is not None:
                    row.status, row.reason, row.updated_at = "cancelled", refused, now
                    row.lease_token = row.lease_until = row.next_attempt_at = None
                    audit_send(engine.ops, s, row, "channel_send_cancelled", WORKER_ACTOR)
                    engine.metrics.channel_sends.inc(channel=row.channel, status="cancelled")
                    continue
            row.lease_token, row.lease_until, row.updated_at = token, lease_end, now
            if row.status == "awaiting_confirmation":
                row.next_attempt_at = lease_end          # looked at again after the lease if this worker dies
                follows.append(outgoing(row))
            else:
                before = row.attempts
                row.status, row.attempts, row.next_attempt_at = "sending", before + 1, None
                view = outgoing(row)
                view.attempts = before
                sends.append(view)
        s.flush()
    return token, sends, follows


def retry_delay(settings, attempts: int, retry_after: float | None = None) -> float:
    """Seconds before the next attempt after `attempts` failed ones (doubling, capped; the provider's wish wins)."""
    delay = min(settings.channel_retry_seconds * 2 ** max(attempts - 1, 0), settings.channel_retry_max_seconds)
    return max(delay, retry_after or 0)


def _call(fn, engine, item: registry.Outgoing) -> registry.Outcome:
    try:
        outcome = fn(engine, item)
        if not isinstance(outcome, registry.Outcome):
            raise TypeError(f"{item.channel} answered {type(outcome).__name__}, not an Outcome")
        return outcome
    except registry.ChannelError as exc:
        return registry.Outcome("retry", reason="error", detail=str(exc)[:DETAIL_MAX])
    except Exception as exc:  # noqa: BLE001 - a sender's bug or a network error: retried, never lost
        log.warning(json.dumps({"event": "channel_send_error", "outbox_id": item.id, "channel": item.channel,
                                "error": type(exc).__name__}), exc_info=True)
        return registry.Outcome("retry", reason="error", detail=f"{type(exc).__name__}: {exc}"[:DETAIL_MAX])


def _record(engine, token: str, item: registry.Outgoing, outcome: registry.Outcome, *, following: bool,
            report: OutboxReport) -> None:
    settings = engine.settings
    now = engine.clock.now()
    with engine.db.write_transaction() as s:
        row = s.scalars(select(OutboxMessage).where(OutboxMessage.id == item.id, OutboxMessage.lease_token == token)
                        .with_for_update()).first()
        if row is None:
            return              # marked sent by hand, cancelled or re-leased meanwhile: not ours to record
        row.lease_token, row.lease_until, row.updated_at = None, None, now
        if outcome.provider_id:
            row.provider_id = outcome.provider_id
        row.detail = (outcome.detail or "")[:DETAIL_MAX] or None
        status = outcome.status
        if status == "retry" and following:
            status = "awaiting_confirmation"       # a failed look is no failed send: look again later
        if status == "retry" and row.attempts >= settings.channel_max_attempts:
            status, outcome.reason = "failed", "gave_up"
        kind = None
        if status == "sent":
            row.status, row.reason, row.sent_at, row.next_attempt_at = "sent", outcome.reason, now, None
            kind, report.sent = "channel_send_sent", report.sent + 1
        elif status == "failed":
            row.status, row.reason, row.next_attempt_at = "failed", outcome.reason or "failed", None
            kind, report.failed = "channel_send_failed", report.failed + 1
        elif status == "awaiting_confirmation":
            was = row.status
            row.status, row.reason = "awaiting_confirmation", outcome.reason
            row.next_attempt_at = now + timedelta(seconds=max(settings.channel_follow_seconds,
                                                              outcome.retry_after or 0))
            report.awaiting += 1
            kind = None if following and was == "awaiting_confirmation" else "channel_send_awaiting"
        else:
            row.status, row.reason = "pending", outcome.reason
            row.next_attempt_at = now + timedelta(seconds=retry_delay(settings, row.attempts, outcome.retry_after))
            report.retried += 1
            kind = "channel_send_retrying"
        s.flush()
        if kind is not None:
            audit_send(engine.ops, s, row, kind, WORKER_ACTOR, attempts=row.attempts)
            engine.metrics.channel_sends.inc(channel=row.channel, status=row.status)


def _fail_unsendable(engine, token: str, item: registry.Outgoing, reason: str, detail: str,
                     report: OutboxReport) -> None:
    _record(engine, token, item, registry.Outcome("failed", reason=reason, detail=detail), following=False,
            report=report)


def send_due(engine, *, limit: int | None = None) -> OutboxReport:
    """Lease due rows, send or follow each outside a transaction, record each outcome."""
    token, sends, follows = _claim(engine, limit=limit or engine.settings.channel_batch_size)
    report = OutboxReport(claimed=len(sends) + len(follows))
    for item, following in [(x, False) for x in sends] + [(x, True) for x in follows]:
        try:
            channel = registry.get(item.channel)
        except NotFound:
            _fail_unsendable(engine, token, item, "unknown_channel",
                             f"channel {item.channel} is not installed in this worker", report)
            continue
        with engine.db.read_transaction() as s:
            configured = not channel.fields or channel_settings.is_configured(s, item.channel)
        if not configured:
            _fail_unsendable(engine, token, item, "not_configured",
                             f"{channel.label_en} is not configured (or disabled) in the channel settings", report)
            continue
        fn = channel.follow if following else channel.send
        if fn is None:      # a channel that cannot be followed: what it said at send time stands
            _record(engine, token, item, registry.Outcome("sent", reason="unfollowed"), following=True, report=report)
            continue
        _record(engine, token, item, _call(fn, engine, item), following=following, report=report)
    return report


def run_outbox(engine) -> OutboxReport:
    channel_settings.install(engine)        # the senders' settings.load() unseal with this engine's keys
    report = send_due(engine)
    if report.claimed:
        log.info(json.dumps({"event": "channel_outbox", **vars(report)}))
    return report
