"""Mail coming back: the IMAP poll (a worker job), pushed raw messages, replies matched to
candidates, HR's queue of unmatched mail, bounces, and erasure.

`receive(engine, raw, source=...)` is one unit of work per mail:
- a mail already received (same Message-ID, by poll or push) is not recorded again;
- a bounce (a DSN, or MAILER-DAEMON quoting our Message-ID) marks the address failing and the send
  failed (`bounced`);
- a reply is matched through In-Reply-To/References to the outbox row we sent (our Message-IDs carry
  the row's id) and so to its candidate, or else by its From address when exactly one candidate has
  it; it becomes the `candidate_replied` message — text with the quoted history cut off, `channel`
  email, `replied_at` the Date header (never later than now) — delivered to the candidate's case or
  kept for it like any reply;
- anything else waits in HR's queue (`unmatched`) until someone assigns it to a candidate (`assign`);
  so does an automatic answer (out of office: Auto-Submitted, X-Autoreply, Precedence auto_reply),
  which is not the candidate's reply however well it matches.
A reply is recorded whatever the consent (it is the candidate's own act); sending is another matter.

The poll (`poll_mailbox`, run by the worker every RECALL_EMAIL_POLL_SECONDS) reads the folder's new
UIDs in order; each mail's record and the folder's "read up to" UID (`email_mailbox_state`, per
UIDVALIDITY) are committed together, so a restart reads nothing twice; the mail is then marked \\Seen
and, when a processed folder is set, moved there.

Everything received is personal data: audited (ids only), on the candidate's timeline through the
reply, never shown to a hiring manager, and deleted with the person (`forget`).
"""
from __future__ import annotations

import imaplib
import json
import logging
import time
import uuid
import weakref
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..archive_models import Candidate, email_key
from ..errors import InvalidState, NotFound
from ..messages import MessageNotAwaited, MessageRejected
from ..runtime import again_on_conflict
from ..worker import PeriodicJob
from . import email as channel
from . import email_parse
from .email_models import EmailInbound, EmailMailboxState

log = logging.getLogger("recall.channels.email")

ACTOR = "channel:email"
POLL_BATCH = 50


@dataclass
class InboundView:
    id: str
    status: str                     # recorded / unmatched / assigned / bounce / ignored
    source: str
    from_address: str | None
    from_name: str | None
    subject: str | None
    text: str | None
    sent_at: datetime | None
    received_at: datetime
    candidate_id: str | None
    matched_by: str | None
    delivered_to: list = field(default_factory=list)
    duplicate: bool = False


def _view(row: EmailInbound, *, duplicate: bool = False) -> InboundView:
    return InboundView(row.id, row.status, row.source, row.from_address, row.from_name, row.subject, row.text,
                       row.sent_at, row.received_at, row.candidate_id, row.matched_by, list(row.delivered_to or []),
                       duplicate)


# ---------------------------------------------------------------- receiving
def receive(engine, raw: bytes, *, source: str, actor: str = ACTOR,
            mailbox: tuple[str, int, int] | None = None) -> InboundView | None:
    """Record one received mail (see the module's docstring). `mailbox` (key, uidvalidity, uid): the
    poll's bookkeeping, advanced in the same transaction; None when another worker got there first."""
    parsed = email_parse.parse(raw)
    return again_on_conflict(lambda: _receive(engine, parsed, source=source, actor=actor, mailbox=mailbox),
                             pinned=False)


def _receive(engine, parsed: email_parse.ParsedMail, *, source: str, actor: str,
             mailbox: tuple[str, int, int] | None) -> InboundView | None:
    with engine.db.write_transaction() as s:
        if mailbox is not None and not _advance(s, *mailbox, now=engine.clock.now()):
            return None
        existing = s.scalar(select(EmailInbound).where(EmailInbound.message_id == parsed.message_id[:512]))
        if existing is not None:
            return _view(existing, duplicate=True)
        row = EmailInbound(id=str(uuid.uuid4()), message_id=parsed.message_id[:512], source=source,
                           from_address=(parsed.from_address or "")[:320] or None,
                           from_name=(parsed.from_name or "")[:255] or None,
                           subject=parsed.subject or None, text=parsed.text or None, sent_at=parsed.date,
                           received_at=engine.clock.now(), delivered_to=[], status="unmatched")
        s.add(row)
        if parsed.is_bounce:
            _bounce(engine, s, row, parsed)
        elif parsed.is_auto_reply:
            row.status = "unmatched"        # an out-of-office is not the candidate's answer: HR reads it
        else:
            candidate_id, outbox_id, matched_by = _match(s, parsed)
            row.outbox_id = outbox_id
            if candidate_id is not None:
                row.candidate_id, row.matched_by = candidate_id, matched_by
                _record_reply(engine, s, row, actor=actor)
        s.flush()
        engine.ops.audit(s, None, "email_received", actor, None, None,
                         {"inbound_id": row.id, "candidate_id": row.candidate_id, "status": row.status,
                          "matched_by": row.matched_by, "source": source})
        return _view(row)


def _advance(s: Session, key: str, uidvalidity: int, uid: int, *, now: datetime) -> bool:
    state = s.get(EmailMailboxState, key, with_for_update=True)
    if state is None:
        s.add(EmailMailboxState(mailbox=key, uidvalidity=uidvalidity, last_uid=uid, updated_at=now))
        return True
    if state.uidvalidity == uidvalidity and state.last_uid >= uid:
        return False
    if state.uidvalidity != uidvalidity:
        state.uidvalidity = uidvalidity
    state.last_uid, state.updated_at = uid, now
    return True


def _outbox_row(s: Session, message_id: str):
    from .models import OutboxMessage
    outbox_id = channel.outbox_id_of(message_id)
    if outbox_id is not None:
        row = s.get(OutboxMessage, outbox_id)
        if row is not None:
            return row
    return s.scalar(select(OutboxMessage).where(OutboxMessage.channel == channel.NAME,
                                                OutboxMessage.provider_id == message_id).limit(1))


def _live(s: Session, candidate_id: str | None) -> bool:
    return candidate_id is not None and s.scalar(select(Candidate.id).where(
        Candidate.id == candidate_id, Candidate.anonymised_at.is_(None))) is not None


def _match(s: Session, parsed: email_parse.ParsedMail) -> tuple[str | None, str | None, str | None]:
    """(candidate id, outbox id, how): by the mail it answers, else by a From address only one candidate has."""
    for message_id in parsed.answers:
        row = _outbox_row(s, message_id)
        if row is not None and _live(s, row.candidate_id):
            return row.candidate_id, row.id, "reply_to_message"
    if parsed.from_address:
        found = list(s.scalars(select(Candidate.id).where(Candidate.email_key == email_key(parsed.from_address),
                                                          Candidate.anonymised_at.is_(None)).limit(2)))
        if len(found) == 1:
            return found[0], None, "from_address"
    return None, None, None


def _record_reply(engine, s: Session, row: EmailInbound, *, actor: str) -> None:
    """The reply as `candidate_replied`; a refusal (no case ever, say) leaves it in HR's queue."""
    now = engine.clock.now()
    when = min(row.sent_at, now) if row.sent_at is not None else now
    payload = {"text": row.text or "", "channel": channel.NAME, "replied_at": when.isoformat()}
    try:        # its refusals come before it writes anything (engine/messages.py); a conflict is retried whole
        delivery = engine.ops.receive_message(s, "candidate_replied", {"candidate_id": row.candidate_id},
                                              payload, actor=actor, message_id=f"email:{row.id}")
    except (MessageRejected, MessageNotAwaited) as exc:
        log.info("email %s not recorded as a reply of %s: %s", row.id, row.candidate_id, exc)
        row.status, row.candidate_id, row.matched_by = "unmatched", None, None
        return
    row.status = "recorded" if row.assigned_by is None else "assigned"
    row.delivered_to = list(delivery.delivered_to or [])


def _bounce(engine, s: Session, row: EmailInbound, parsed: email_parse.ParsedMail) -> None:
    row.status = "ignored"
    detail = f"bounced ({parsed.bounce_status})" if parsed.bounce_status else "bounced"
    for message_id in parsed.bounced_message_ids:
        sent = _outbox_row(s, message_id)
        if sent is None:
            continue
        row.status, row.outbox_id, row.candidate_id = "bounce", sent.id, sent.candidate_id
        address = (sent.recipient or {}).get("email") or next(iter(parsed.bounced_recipients), None)
        if address:
            channel.mark_failing(engine, address, candidate_id=sent.candidate_id, reason="bounced", detail=detail,
                                 session=s)
        if sent.status == "sent":
            sent.status, sent.reason, sent.detail = "failed", "bounced", detail
            sent.updated_at = engine.clock.now()
            engine.ops.audit(s, sent.instance_id, "channel_send_bounced", ACTOR, None, sent.task_id,
                             {"send_id": sent.id, "candidate_id": sent.candidate_id, "channel": channel.NAME,
                              "status": "failed", "reason": "bounced"})


# ---------------------------------------------------------------- HR's queue
def unmatched(engine, *, limit: int = 100) -> list[InboundView]:
    """Mail no candidate could be found for, oldest first."""
    with engine.db.read_transaction() as s:
        return [_view(r) for r in s.scalars(select(EmailInbound).where(EmailInbound.status == "unmatched")
                                             .order_by(EmailInbound.received_at, EmailInbound.id).limit(limit))]


def assign(engine, inbound_id: str, candidate_id: str, *, actor: str) -> InboundView:
    """A person says whose reply this is: recorded as that candidate's `candidate_replied` (audited)."""
    return again_on_conflict(lambda: _assign(engine, inbound_id, candidate_id, actor=actor), pinned=False)


def _assign(engine, inbound_id: str, candidate_id: str, *, actor: str) -> InboundView:
    with engine.db.write_transaction() as s:
        row = s.get(EmailInbound, inbound_id, with_for_update=True)
        if row is None:
            raise NotFound(f"no received email {inbound_id}")
        if row.status != "unmatched":
            raise InvalidState(f"received email {inbound_id} is {row.status}, not waiting to be assigned")
        if not _live(s, candidate_id):
            raise NotFound(f"no candidate {candidate_id}")
        row.candidate_id, row.matched_by = candidate_id, "hand"
        row.assigned_by, row.assigned_at = actor, engine.clock.now()
        _record_reply(engine, s, row, actor=actor)
        if row.status == "unmatched":
            raise InvalidState(f"the reply could not be recorded for candidate {candidate_id}: no case takes it")
        engine.ops.audit(s, None, "email_assigned", actor, None, None,
                         {"inbound_id": row.id, "candidate_id": candidate_id, "delivered_to": row.delivered_to})
        return _view(row)



# ---------------------------------------------------------------- the poll
@dataclass
class PollReport:
    read: int = 0
    recorded: int = 0
    unmatched: int = 0
    bounces: int = 0


def mailbox_key(settings: dict) -> str:
    return (f"{settings.get('imap_username') or ''}@{settings['imap_host']}:{settings.get('imap_port') or 993}"
            f"/{settings.get('imap_folder') or 'INBOX'}")[:512]


def _last_uid(engine, key: str, uidvalidity: int) -> int:
    """How far the folder was read; its state row is made first if missing (on its own, so that two
    workers polling at once then queue on that row's lock instead of racing to insert it)."""
    try:
        with engine.db.write_transaction() as s:
            if s.get(EmailMailboxState, key) is None:
                s.add(EmailMailboxState(mailbox=key, uidvalidity=uidvalidity, last_uid=0,
                                        updated_at=engine.clock.now()))
    except IntegrityError:
        pass                                # the other worker made it
    with engine.db.read_transaction() as s:
        state = s.get(EmailMailboxState, key)
        return state.last_uid if state is not None and state.uidvalidity == uidvalidity else 0


def poll_mailbox(engine, *, limit: int = POLL_BATCH) -> PollReport:
    """Read the mailbox's new mail (at most `limit`), record each, mark it read or move it."""
    report = PollReport()
    settings = channel.load_settings(engine)
    if settings is None or not settings.get("imap_host"):
        return report
    folder, processed = settings.get("imap_folder") or "INBOX", settings.get("processed_folder") or ""
    key = mailbox_key(settings)
    with channel.imap_connection(settings) as imap:
        typ, _ = imap.select(channel._quoted(folder))
        if typ != "OK":
            raise channel.ChannelError(f"IMAP: cannot open folder {folder!r}")
        uidvalidity = int((imap.response("UIDVALIDITY")[1] or [b"0"])[0] or 0)
        last = _last_uid(engine, key, uidvalidity)
        typ, data = imap.uid("SEARCH", "UID", f"{last + 1}:*")
        uids = sorted(u for u in (int(x) for x in (data[0] or b"").split()) if u > last)[:limit]
        if processed and uids:
            imap.create(channel._quoted(processed))         # "already exists" is a NO: harmless
        for uid in uids:
            typ, fetched = imap.uid("FETCH", str(uid), "(BODY.PEEK[])")
            raw = next((part[1] for part in fetched or [] if isinstance(part, tuple)), None)
            if typ != "OK" or raw is None:
                continue                                    # expunged meanwhile
            view = receive(engine, raw, source="imap", mailbox=(key, uidvalidity, uid))
            if view is not None:
                report.read += 1
                report.recorded += view.status == "recorded"
                report.unmatched += view.status == "unmatched"
                report.bounces += view.status == "bounce"
            _done(imap, uid, processed)
    return report


def _done(imap: imaplib.IMAP4, uid: int, processed: str) -> None:
    imap.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Seen)")
    if not processed:
        return
    if b"MOVE" in (imap.capabilities or ()) or "MOVE" in (imap.capabilities or ()):
        imap.uid("MOVE", str(uid), channel._quoted(processed))
    else:
        imap.uid("COPY", str(uid), channel._quoted(processed))
        imap.uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Deleted)")
        imap.expunge()


_last_poll: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()     # engine -> time.monotonic()


def run_poll(engine) -> PollReport | None:
    """The worker's job: poll when RECALL_EMAIL_POLL_SECONDS (the engine's setting) have passed."""
    now = time.monotonic()
    last = _last_poll.get(engine)
    if last is not None and now - last < engine.settings.email_poll_seconds:
        return None
    _last_poll[engine] = now
    from . import settings as channel_settings
    channel_settings.install(engine)        # settings.load() unseals with this engine's keys
    try:
        report = poll_mailbox(engine)
    except (OSError, imaplib.IMAP4.error, channel.ChannelError) as exc:
        _poll_failed(engine, f"{type(exc).__name__}: {exc}", now)
        return None
    if _poll_failure.pop(engine, None) is not None:
        log.info(json.dumps({"event": "email_poll_recovered"}))
    if report.read:
        log.info(json.dumps({"event": "email_poll", **vars(report)}))
    return report


# A mailbox that cannot be reached (host down, refused sign-in, TLS) is an operator's matter, not a bug:
# one warning line, no traceback, again only when the error changes or POLL_FAILURE_REPEAT_SECONDS passed.
POLL_FAILURE_REPEAT_SECONDS = 600.0
_poll_failure: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()       # engine -> (error, time.monotonic())


def _poll_failed(engine, error: str, now: float) -> None:
    previous = _poll_failure.get(engine)
    if previous is not None and previous[0] == error and now - previous[1] < POLL_FAILURE_REPEAT_SECONDS:
        return
    _poll_failure[engine] = (error, now)
    log.warning(json.dumps({"event": "email_poll_failed", "error": error[:300],
                            "retry_seconds": engine.settings.email_poll_seconds}, ensure_ascii=False))


# Each round the worker asks; run_poll itself keeps to the engine's poll interval (engine.channels.builtin).
POLL_JOB = PeriodicJob("email_poll", 0.0, run_poll)
