"""Send from a task, with the person's confirmation: "send via WeCom / email" on a follow-up.

    sends = TaskSends(engine)
    sends.send(task_id, channel="email", text="...", subject="...", actor="hr.li", authorize=...)

The person who may complete the task (its assignee) confirms the final text in the web's dialog; the
send is an outbox row written in one unit of work with its audit on the case (`channel_send_requested`),
then the worker sends it (engine/channels/outbox.py). Refused, each with a problem naming why:

- `consent-required` (409): the candidate has no talent-pool consent (never given, withdrawn, expired);
- `channel-not-configured` (409): the admin has not configured (or has disabled) the channel;
- `no-address` (422): the candidate has no address on the channel (no email; no linked WeCom contact),
  or the sender has no WeCom user id in the user directory;
- `monthly-limit-reached` (409): the channel's limit per candidate and calendar month (WeCom: 4) is
  reached, counting sends not failed or cancelled; the problem names the month and when it resets.

The same text on the same task and channel while a send of it is open or done answers that send
(a second click sends nothing twice); `Idempotency-Key` is honoured by the API as for other POSTs.
Completing the task afterwards audits `channel_sends_recorded` with the task's sends and their
status (engine/channels/archive_hooks.record_sends, a completion hook), so the case's trail keeps what went out by which channel.
"""
from __future__ import annotations

from datetime import datetime
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import days
from ..archive_models import Candidate, CandidateDecline
from ..errors import FieldError, FormValidationError, InvalidState, NotAssignee, NotFound, RecallError
from ..models import HumanTask, User
from . import outbox, registry
from . import settings as channel_settings
from .models import OutboxMessage

MAX_TEXT = 4000
MAX_SUBJECT = 255


class SendRefused(RecallError):
    """A send the rules do not allow; `slug` is the problem type, `status` the HTTP status."""

    slug = "send-refused"
    status = 409


class ConsentRequired(SendRefused):
    slug = "consent-required"


class ChannelNotConfigured(SendRefused):
    slug = "channel-not-configured"


class NoAddress(SendRefused):
    slug = "no-address"
    status = 422


class MonthlyLimitReached(SendRefused):
    slug = "monthly-limit-reached"


# ---------------------------------------------------------------- addresses per channel
# fn(session, candidate, sender: User) -> recipient dict for registry.Outgoing; raises NoAddress.
AddressOf = Callable[[Session, Candidate, User], dict]
_addresses: dict[str, AddressOf] = {}


def register_address(channel: str, fn: AddressOf) -> None:
    """How a candidate is reached on `channel` (the email and WeCom ones are below; a test adds its own)."""
    _addresses[channel] = fn


def _email_address(session: Session, candidate: Candidate, sender: User) -> dict:
    if not (candidate.email or "").strip():
        raise NoAddress("the candidate has no email address in the archive: add it on their page first")
    return {"email": candidate.email.strip(), "name": candidate.name}


def _wecom_address(session: Session, candidate: Candidate, sender: User) -> dict:
    contact_of = None
    try:
        from . import wecom
        contact_of = getattr(wecom, "contact_of", None)
    except ImportError:
        pass
    contact = contact_of(session, candidate.id) if contact_of is not None else None
    if not contact or not contact.get("external_userid"):
        raise NoAddress("the candidate is not linked to a WeCom contact: they must add you on WeCom first")
    if not sender.wecom_user_id:
        raise NoAddress(f"{sender.name} has no WeCom user id in the user directory: an admin sets it")
    return {"external_userid": contact["external_userid"], "sender_userid": sender.wecom_user_id}


register_address("email", _email_address)
register_address("wecom", _wecom_address)


# ---------------------------------------------------------------- checks
def consent_problem(candidate: Candidate | None, now: datetime) -> str | None:
    """Why the candidate may not be written to now, or None."""
    if candidate is None or candidate.anonymised_at is not None:
        return "the task's candidate is not in the archive (erased)"
    if candidate.consent_withdrawn_at is not None:
        return f"the candidate withdrew their talent-pool consent on {days.iso_day(candidate.consent_withdrawn_at)}"
    if not candidate.consent_granted:
        return "the candidate has not given talent-pool consent"
    if candidate.consent_expires_at is not None and candidate.consent_expires_at <= now:
        return f"the candidate's talent-pool consent expired on {days.iso_day(candidate.consent_expires_at)}"
    return None


def check_monthly_limit(session: Session, channel: registry.Channel, candidate_id: str, *, now: datetime) -> None:
    limit = channel.monthly_limit_per_candidate
    if not limit:
        return
    zone = days.zone()
    start, end = outbox.month_bounds(now, zone)
    used = outbox.sends_this_month(session, channel=channel.name, candidate_id=candidate_id, start=start, end=end)
    if used >= limit:
        raise MonthlyLimitReached(
            f"{channel.label_en} allows {limit} messages per candidate per calendar month; {used} went to this "
            f"candidate in {start:%Y-%m}. The limit resets on {end.date().isoformat()} ({zone.key})")


def _check_text(channel: str, text, subject) -> tuple[str, str | None]:
    errors = []
    if not isinstance(text, str) or not text.strip():
        errors.append(FieldError("text", "give the message to send"))
    elif len(text) > MAX_TEXT:
        errors.append(FieldError("text", f"at most {MAX_TEXT} characters"))
    if subject is not None and (not isinstance(subject, str) or len(subject) > MAX_SUBJECT or "\n" in subject):
        errors.append(FieldError("subject", f"one line of at most {MAX_SUBJECT} characters"))
    if channel == "email" and not (subject or "").strip():
        errors.append(FieldError("subject", "an email needs a subject"))
    if errors:
        raise FormValidationError(errors)
    return text.strip(), (subject.strip() or None) if subject else None


def _candidate_of(session: Session, instance_id: str) -> Candidate | None:
    from ..archive.consent import candidate_of_case
    return candidate_of_case(session, instance_id)


def _language(session: Session, candidate_id: str) -> str:
    lang = session.scalar(select(CandidateDecline.lang).where(CandidateDecline.candidate_id == candidate_id)
                          .order_by(CandidateDecline.decline_date.desc()).limit(1))
    return "en" if (lang or "").startswith("en") else "zh"


# ---------------------------------------------------------------- the person's operations
class TaskSends:
    """Sends from one task (api/resources/sends.py); each method one unit of work. `authorize(view)` is the
    API's check that the caller may see (and, to send, act on) the task; it raises to refuse."""

    def __init__(self, engine):
        self.engine = engine
        channel_settings.install(engine)

    def _task(self, task_id: str, authorize):
        return self.engine.get_task(task_id, authorize=authorize)

    def send(self, task_id: str, *, channel: str, text, subject=None, actor: str,
             authorize=None) -> tuple[outbox.SendView, bool]:
        """Queue the confirmed text for the task's candidate: (the send, True if new / False if the same send
        was asked for before)."""
        self._task(task_id, authorize)
        chosen = registry.get(channel)
        text, subject = _check_text(channel, text, subject)
        now = self.engine.clock.now()
        with self.engine.db.write_transaction() as s:
            task = s.scalars(select(HumanTask).where(HumanTask.id == task_id).with_for_update()).first()
            if task is None:
                raise NotFound(f"no task {task_id}")
            if task.status != "ready":
                raise InvalidState(f"task {task_id} ({task.element_id}) is {task.status}: nothing is sent from it")
            if task.assignee != actor:
                raise NotAssignee(f"task {task_id} is {'assigned to ' + task.assignee if task.assignee else 'not claimed'}"
                                  f": only the person holding it sends from it (claim it first)")
            candidate = _candidate_of(s, task.instance_id)
            refused = consent_problem(candidate, now)
            if refused:
                raise ConsentRequired(f"{refused}: nothing may be sent to them")
            if not channel_settings.is_configured(s, channel):
                raise ChannelNotConfigured(f"{chosen.label_en} is not configured: an admin sets it up under "
                                           f"channel settings (the copy-and-paste path still works)")
            same = s.scalars(select(OutboxMessage).where(
                OutboxMessage.task_id == task_id, OutboxMessage.channel == channel,
                OutboxMessage.status.not_in(("failed", "cancelled")))).all()
            for row in same:
                if (row.payload or {}).get("text") == text and (row.payload or {}).get("subject") == subject:
                    return outbox.send_view(row), False
            sender = s.scalars(select(User).where(User.name == actor)).first()
            resolve = _addresses.get(channel)
            if resolve is None or sender is None:
                raise NoAddress(f"no way to address a candidate on {chosen.label_en}")
            recipient = resolve(s, candidate, sender)
            check_monthly_limit(s, chosen, candidate.id, now=now)
            send_id = outbox.enqueue(
                s, channel=channel, kind="candidate_message", recipient=recipient,
                payload={"text": text, "subject": subject, "link": None, "language": _language(s, candidate.id)},
                actor=actor, candidate_id=candidate.id, task_id=task_id, instance_id=task.instance_id, now=now,
                ops=self.engine.ops)
            return outbox.send_view(outbox.load(s, send_id)), True

    def list(self, task_id: str, *, authorize=None) -> tuple[list[outbox.SendView], list[dict]]:
        """The task's sends, and the channels one may send through now with this month's count per candidate
        where the channel has a limit (for the task page's buttons and the cadence's "2 of 4 this month")."""
        task = self._task(task_id, authorize)
        now = self.engine.clock.now()
        with self.engine.db.read_transaction() as s:
            sent = [outbox.send_view(r) for r in outbox.of_task(s, task_id)]
            candidate = _candidate_of(s, task.instance_id)
            usable = []
            for channel in registry.all_channels():
                if channel.name not in _addresses or not channel_settings.is_configured(s, channel.name):
                    continue
                entry = {"name": channel.name, "label_zh": channel.label_zh, "label_en": channel.label_en,
                         "monthly_limit": channel.monthly_limit_per_candidate, "used_this_month": None,
                         "resets_on": None}
                if channel.monthly_limit_per_candidate and candidate is not None:
                    start, end = outbox.month_bounds(now, days.zone())
                    entry["used_this_month"] = outbox.sends_this_month(
                        s, channel=channel.name, candidate_id=candidate.id, start=start, end=end)
                    entry["resets_on"] = end.date()
                usable.append(entry)
            return sent, usable

    def _own(self, s, task_id: str, send_id: str, actor: str) -> OutboxMessage:
        row = outbox.load(s, send_id, for_update=True)
        if row.task_id != task_id:
            raise NotFound(f"no send {send_id} on task {task_id}")
        task = s.get(HumanTask, task_id)
        if task is None or (task.assignee != actor and task.completed_by != actor):
            raise NotAssignee(f"send {send_id} belongs to the task's holder ({task.assignee if task else 'nobody'})")
        return row

    def retry(self, task_id: str, send_id: str, *, actor: str, authorize=None) -> outbox.SendView:
        """Send a failed send again now (consent is checked again; the monthly limit too)."""
        self._task(task_id, authorize)
        now = self.engine.clock.now()
        with self.engine.db.write_transaction() as s:
            row = self._own(s, task_id, send_id, actor)
            refused = consent_problem(s.get(Candidate, row.candidate_id) if row.candidate_id else None, now)
            if refused:
                raise ConsentRequired(f"{refused}: nothing may be sent to them")
            check_monthly_limit(s, registry.get(row.channel), row.candidate_id, now=now)
            return outbox.send_view(outbox.retry(self.engine, s, row, actor=actor))

    def mark_sent(self, task_id: str, send_id: str, *, actor: str, authorize=None) -> outbox.SendView:
        """The person sent it themselves (copy and paste): recorded as sent by hand."""
        self._task(task_id, authorize)
        with self.engine.db.write_transaction() as s:
            return outbox.send_view(outbox.mark_sent(self.engine, s, self._own(s, task_id, send_id, actor),
                                                     actor=actor))
