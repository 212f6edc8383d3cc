"""Messages: accepted only when they can mean something, delivered by name + correlation values,
kept for later only when their declaration lets them wait, and never applied twice.

`receive` is the front door for messages from outside (`POST /messages`):
- the name must be caught by a deployed process (latest versions), else 422 naming `name`;
- correlation keys and payload fields must be the ones `workflows/messages.json` declares
  (engine/message_rules.py), and no payload may carry a reserved engine variable (422 per field);
- `mode="deliver_or_fail"`: 404 when no live case has these correlation values, 409 when cases
  exist but none waits for this message now;
- `mode="buffer"` (default): nobody waits yet -> kept until the declared `buffer` duration runs
  out, unless the message never waits (`"buffer": false`: 409) or names a candidate nobody knows
  (no such candidate in the talent archive and no case correlates on it: 422 naming
  `correlation.candidate_id`);
- `message_id` (the sender's own id): a second delivery of the same id for the same name answers
  like the first and changes nothing (remembered in `received_messages`, delivered or buffered).
`deliver` routes messages thrown by one case to another (no checks: the diagram is trusted).
"""
from __future__ import annotations

import difflib
import hashlib
import json
import logging
import threading
import weakref
from collections import OrderedDict
from datetime import datetime
from typing import Callable

from sqlalchemy import exists, func, or_, select, true, update
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.event_types import CatchingEvent

from . import message_rules, sidetables
from .forms import reserved_in
from .errors import ConflictError, FieldError, FormValidationError, MessageNotRoutable, NotFound
from .instances import Change, InstanceRecord, UnloadableInstance
from .models import BufferedMessage, MessageSubscription, ProcessDefinition, ProcessInstance, ReceivedMessage
from .status import ACTIVE, LIVE
from .views import Delivery

log = logging.getLogger("recall.messages")
_SUBSCRIPTION_COLUMNS = tuple(MessageSubscription.__table__.c[name].label(f"subscription_{name}")
                              for name in ("task_id", "element_id"))
MODES = ("buffer", "deliver_or_fail")
CASE_STATUSES = ACTIVE      # a case that can still take a message (error: after retry)
MAX_CORRELATION_VALUE = 255


class MessageRejected(FormValidationError):
    """The message is not one the deployed bundle can take (HTTP 422, one entry per field)."""

    def __init__(self, errors: list[FieldError]):
        super().__init__(errors)
        self.detail = "message refused, nothing delivered: " + "; ".join(str(e) for e in errors)


class NoCaseForMessage(NotFound):
    """deliver_or_fail: no case has these correlation values (HTTP 404)."""


class MessageNotAwaited(ConflictError):
    """No case waits for this message now, and it may not wait (HTTP 409)."""


class MessageIdReused(ConflictError):
    """The sender's message_id was already used for a different message (HTTP 409)."""


# ---------------------------------------------------------------- what the deployed bundle says
class _Catalogues:
    """Per definition version (immutable once deployed): message names caught, declarations."""

    def __init__(self, size: int = 256):
        self._items: OrderedDict[int, tuple[frozenset, dict]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def of(self, runtime, session: Session, definition_id: int) -> tuple[frozenset, dict]:
        with self._lock:
            hit = self._items.get(definition_id)
        if hit is not None:
            return hit
        loaded = runtime.specs.get(session, definition_id)
        caught = frozenset(
            spec.event_definition.name
            for process in (loaded.spec, *loaded.subprocess_specs.values())
            for spec in process.task_specs.values()
            if isinstance(spec, CatchingEvent) and isinstance(getattr(spec, "event_definition", None),
                                                               MessageEventDefinition))
        files = json.loads(session.scalar(select(ProcessDefinition.files_json)
                                          .where(ProcessDefinition.id == definition_id)) or "{}")
        entry = (caught, message_rules.declarations_from_files(files))
        with self._lock:
            self._items[definition_id] = entry
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return entry


# One catalogue per engine (its SpecCache): definition ids are per database, and several engines
# (databases) may live in one process.
_CATALOGUES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_CATALOGUES_LOCK = threading.Lock()


def _catalogues(runtime) -> _Catalogues:
    with _CATALOGUES_LOCK:
        found = _CATALOGUES.get(runtime.specs)
        if found is None:
            found = _CATALOGUES[runtime.specs] = _Catalogues()
        return found


def catalogue(runtime, session: Session) -> tuple[set[str], dict[str, message_rules.Declaration]]:
    """(names caught, declarations) of the latest version of every deployed process."""
    latest = session.scalars(select(func.max(ProcessDefinition.id)).group_by(ProcessDefinition.process_key)).all()
    caught: set[str] = set()
    declarations: dict[str, message_rules.Declaration] = {}
    for definition_id in sorted(latest):                 # the newest deployment's declaration wins
        names, declared = _catalogues(runtime).of(runtime, session, definition_id)
        caught |= names
        declarations.update(declared)
    return caught, declarations


# ---------------------------------------------------------------- checks
def check_message(name: str, correlation: dict, payload: dict, *, caught: set[str],
                  declaration: message_rules.Declaration | None, instance_id: str | None,
                  now: datetime | None = None) -> None:
    """Raise MessageRejected naming every bad field; return when the message is well formed.
    `now`: the engine's time; a declared date-time (a moment the message reports) may not be after it."""
    if name not in caught:
        close = difflib.get_close_matches(name, sorted(caught), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else (
            f"; caught: {', '.join(sorted(caught))}" if caught else "; nothing is deployed")
        raise MessageRejected([FieldError("name", f"no deployed process catches a message named {name!r}{hint}")])
    errors: list[FieldError] = []
    for key, value in correlation.items():
        if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "" or (
                isinstance(value, str) and len(value) > MAX_CORRELATION_VALUE):
            errors.append(FieldError(f"correlation.{key}", f"a correlation value is a non-empty string of at most "
                                     f"{MAX_CORRELATION_VALUE} characters or an integer"))
    if declaration is not None and (correlation or instance_id is None):
        for key in declaration.correlation:
            if key not in correlation:
                errors.append(FieldError(f"correlation.{key}", f"required: {name!r} correlates on "
                                         f"{', '.join(declaration.correlation)}"))
        for key in sorted(set(correlation) - set(declaration.correlation)):
            errors.append(FieldError(f"correlation.{key}", f"not a correlation key of {name!r} (expected: "
                                     f"{', '.join(declaration.correlation)})"))
    errors += [FieldError(f"payload.{k}", f"{k!r} is set by the engine; a message may not carry it")
               for k in reserved_in(payload)]
    errors += [FieldError(f"payload.{k}", f"{k!r} is a correlation key: give it in correlation, not in the payload")
               for k in sorted(set(payload) & set(correlation))]
    if declaration is not None:
        declared = declaration.payload_fields
        for key in sorted(set(payload) - set(declared) - set(reserved_in(payload)) - set(correlation)):
            errors.append(FieldError(f"payload.{key}", f"{name!r} does not carry a field {key!r} (declared: "
                                     f"{', '.join(declared) or 'none'})"))
        known = {k: v for k, v in payload.items() if k in declared}
        for error in declaration.payload_validator().iter_errors(known):
            path = ".".join(str(p) for p in error.absolute_path)
            errors.append(FieldError(f"payload.{path}" if path else "payload", error.message))
        errors += _future_moments(declaration, known, now, {e.field for e in errors})
    if errors:
        raise MessageRejected(errors)


def _future_moments(declaration: message_rules.Declaration, known: dict, now: datetime | None,
                    refused: set[str]) -> list[FieldError]:
    """A moment the message reports (a declared date-time, well formed) that is after `now`."""
    out = []
    for key in declaration.moments if now is not None else ():
        value = known.get(key)
        if not isinstance(value, str) or f"payload.{key}" in refused:
            continue
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            continue
        if at.tzinfo is not None and at > now:
            out.append(FieldError(f"payload.{key}", f"{value} is in the future (now: {now.isoformat()}); "
                                  "a message reports what already happened"))
    return out


def _single_value(correlation: dict) -> str | None:
    values = [v for v in correlation.values() if isinstance(v, (str, int)) and not isinstance(v, bool)]
    return str(values[0]) if len(values) == 1 and len(correlation) == 1 else None


# The ids of every case about a candidate, found the thorough way (the talent archive registers it:
# engine.archive.install; by start variable and past messages too, an audit scan).
CandidateCases = Callable[[Session, str], list[str]]


def _cases_exist(session: Session, correlation: dict, instance_id: str | None, *, live: bool,
                 cases_of_candidate: CandidateCases | None) -> bool:
    """A case of these correlation values: one waiting on them for any message, one whose business
    key is the one value, one started by the candidate's recorded decline; failing those, for a
    candidate, any case `cases_of_candidate` finds for them (an audit scan: docs/privacy.md
    measures it, so it runs last)."""
    from .archive_models import CandidateDecline

    if instance_id is not None:
        row = session.get(ProcessInstance, instance_id)
        return row is not None and (not live or row.status in CASE_STATUSES)
    statuses = ProcessInstance.status.in_(CASE_STATUSES) if live else true()
    conditions = [exists().where(MessageSubscription.instance_id == ProcessInstance.id,
                                 MessageSubscription.correlation_key == sidetables.correlation_key(correlation))]
    value = _single_value(correlation)
    candidate = value is not None and "candidate_id" in correlation
    if value is not None:
        conditions.append(ProcessInstance.business_key == value)
    if candidate:
        conditions.append(ProcessInstance.id.in_(select(CandidateDecline.instance_id)
                                                 .where(CandidateDecline.candidate_id == value)))
    if session.scalar(select(ProcessInstance.id).where(statuses, or_(*conditions)).limit(1)) is not None:
        return True
    if not candidate or cases_of_candidate is None:
        return False
    ids = cases_of_candidate(session, value)
    return bool(ids) and session.scalar(select(ProcessInstance.id).where(ProcessInstance.id.in_(ids), statuses)
                                        .limit(1)) is not None


def _candidate_known(session: Session, correlation: dict, cases_of_candidate: CandidateCases | None) -> bool:
    from .archive_models import Candidate

    value = correlation.get("candidate_id")
    if session.scalar(select(Candidate.id).where(Candidate.id == str(value))) is not None:
        return True
    return _cases_exist(session, correlation, None, live=False, cases_of_candidate=cases_of_candidate)


# ---------------------------------------------------------------- front door
def receive(runtime, session: Session, name: str, correlation: dict, payload: dict, *, actor: str,
            instance_id: str | None = None, mode: str = "buffer", message_id: str | None = None,
            ttl=None, cases_of_candidate: CandidateCases | None = None) -> Delivery:
    """A message from outside: checked, delivered now, kept for later, or refused (see module doc).

    `cases_of_candidate`: the thorough lookup of a candidate's cases, if the engine has one (the archive)."""
    if mode not in MODES:
        raise MessageRejected([FieldError("mode", f"must be one of {', '.join(MODES)}")])
    if not name:
        raise MessageNotRoutable("message name is required")
    caught, declarations = catalogue(runtime, session)
    declaration = declarations.get(name)
    check_message(name, correlation, payload, caught=caught, declaration=declaration, instance_id=instance_id,
                  now=runtime.clock.now())
    remembered = None
    if message_id is not None:
        remembered = _remember(runtime, session, name, message_id, correlation, payload, instance_id, actor)
        if isinstance(remembered, Delivery):
            runtime.metrics.messages.inc(name=name, outcome="replayed")
            return remembered
    delivered = _deliver_now(runtime, session, name, correlation, payload, actor=actor, instance_id=instance_id)
    if delivered:
        delivery = Delivery(delivered_to=delivered)
    elif mode == "deliver_or_fail":
        if not _cases_exist(session, correlation, instance_id, live=True, cases_of_candidate=cases_of_candidate):
            raise NoCaseForMessage(f"no case correlates on {_describe(correlation, instance_id)}: "
                                   f"{name!r} was not delivered")
        raise MessageNotAwaited(f"no case with {_describe(correlation, instance_id)} waits for {name!r} now; "
                                "nothing was delivered")
    else:
        if "candidate_id" in correlation and instance_id is None and not _candidate_known(
                session, correlation, cases_of_candidate):
            raise MessageRejected([FieldError("correlation.candidate_id", f"no candidate "
                                              f"{correlation['candidate_id']!r} in the talent archive and no case "
                                              "correlates on it: the message would never be delivered")])
        if declaration is not None and declaration.buffer_for is None and ttl is None:
            raise MessageNotAwaited(f"no case with {_describe(correlation, instance_id)} waits for {name!r} now, "
                                    f"and {name!r} never waits (messages.json: \"buffer\": false); nothing was kept")
        wait = ttl if ttl is not None else declaration.buffer_for if declaration is not None else None
        delivery = _buffer(runtime, session, name, correlation, payload, actor=actor, instance_id=instance_id,
                           ttl=wait)
    runtime.metrics.messages.inc(name=name, outcome="delivered" if delivery.delivered_to else "buffered")
    if remembered is not None:
        remembered.answer = {"delivered_to": delivery.delivered_to, "buffered_id": delivery.buffered_id,
                             "expires_at": delivery.expires_at.isoformat() if delivery.expires_at else None}
        session.flush()
    return delivery


def _describe(correlation: dict, instance_id: str | None) -> str:
    return f"instance {instance_id}" if instance_id and not correlation else json.dumps(correlation, ensure_ascii=False)


def _remember(runtime, session, name, message_id, correlation, payload, instance_id, actor):
    """The first answer to this (name, message_id), or a new claim on it (a ReceivedMessage row).

    The claim is inserted before anything is delivered: a concurrent duplicate waits on the unique
    constraint and fails when this unit commits (the service then retries and replays)."""
    digest = hashlib.sha256(json.dumps({"correlation": correlation, "payload": payload, "instance_id": instance_id},
                                       sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
    row = session.scalar(select(ReceivedMessage).where(ReceivedMessage.name == name,
                                                       ReceivedMessage.message_id == message_id))
    if row is None:
        row = ReceivedMessage(name=name, message_id=message_id, request_hash=digest, answer=None,
                              received_at=runtime.clock.now(), sent_by=actor)
        session.add(row)
        session.flush()
        return row
    if row.request_hash != digest:
        raise MessageIdReused(f"message_id {message_id!r} was already used for another {name!r} message "
                              f"(received {row.received_at:%Y-%m-%d %H:%M} UTC); use a new id for a new message")
    answer = row.answer or {}
    runtime.audit(session, None, "message_replayed", actor, None, None,
                  {"name": name, "message_id": message_id, "first_received_at": row.received_at.isoformat()})
    expires = answer.get("expires_at")
    return Delivery(delivered_to=list(answer.get("delivered_to") or []), buffered_id=answer.get("buffered_id"),
                    expires_at=datetime.fromisoformat(expires) if expires else None, replayed=True)


# ---------------------------------------------------------------- delivery
def deliver(runtime, session: Session, name: str, correlation: dict, payload: dict, *, actor: str,
            instance_id: str | None = None, ttl=None, exclude_instance: str | None = None) -> Delivery:
    """Deliver to every instance waiting for `name` with exactly these correlation values.

    Nobody waiting yet: buffer it until `ttl` (default: the runtime's message TTL). Used for
    messages one case throws to another; messages from outside go through `receive`.
    """
    if not name:
        raise MessageNotRoutable("message name is required")
    delivered = _deliver_now(runtime, session, name, correlation, payload, actor=actor, instance_id=instance_id,
                             exclude_instance=exclude_instance)
    if delivered:
        return Delivery(delivered_to=delivered)
    return _buffer(runtime, session, name, correlation, payload, actor=actor, instance_id=instance_id, ttl=ttl)


def _deliver_now(runtime, session, name, correlation, payload, *, actor, instance_id=None,
                 exclude_instance=None) -> list[str]:
    if not correlation and instance_id is None:
        raise MessageNotRoutable(
            f"message {name!r} needs correlation values (e.g. {{\"candidate_id\": ...}}) or an instance id")
    key = sidetables.correlation_key(correlation)
    # Only live instances receive: one in `error` gets the message after its retry (buffered).
    # Each subscription comes with its instance's whole row: the load does not read it again.
    query = (select(*_SUBSCRIPTION_COLUMNS, ProcessInstance.__table__)
             .join(ProcessInstance, ProcessInstance.id == MessageSubscription.instance_id)
             .where(MessageSubscription.message_name == name, ProcessInstance.status.in_(LIVE)))
    if instance_id is not None:
        query = query.where(MessageSubscription.instance_id == instance_id)
    if correlation or instance_id is None:
        query = query.where(MessageSubscription.correlation_key == key)
    if exclude_instance is not None:
        query = query.where(MessageSubscription.instance_id != exclude_instance)
    found = session.execute(query.order_by(MessageSubscription.instance_id, MessageSubscription.id)).all()
    delivered: list[str] = []
    for row in found:
        if row.id in delivered:
            continue
        try:
            loaded = runtime.load(session, row.id, row=InstanceRecord.of(row))
        except UnloadableInstance as exc:      # one broken case must not stop delivery to the others
            runtime.quarantine(session, exc, actor=actor)
            continue
        action = runtime.message_action(name, correlation, payload, row.subscription_task_id)
        runtime.change(session, loaded, action, Change(
            "message_delivered", actor, row.subscription_element_id, row.subscription_task_id,
            {"name": name, "correlation": correlation, "payload": payload}))
        delivered.append(row.id)
    return delivered


def _buffer(runtime, session, name, correlation, payload, *, actor, instance_id=None, ttl=None) -> Delivery:
    now = runtime.clock.now()
    expires_at = now + (ttl if ttl is not None else runtime.message_ttl)
    message = BufferedMessage(name=name, correlation_key=sidetables.correlation_key(correlation),
                              correlation=correlation, payload=payload or {}, status="buffered", received_at=now,
                              expires_at=expires_at, sent_by=actor)
    session.add(message)
    session.flush()
    runtime.audit(session, instance_id, "message_buffered", actor, None, None,
                  {"name": name, "correlation": correlation, "buffered_id": message.id,
                   "expires_at": expires_at.isoformat()})
    return Delivery(delivered_to=[], buffered_id=message.id, expires_at=expires_at)


def expire_buffered(runtime, session: Session) -> int:
    """Drop buffered messages past their expiry; each is audited (`message_expired`, no instance),
    counted (`recall_messages_expired_total`) and logged."""
    now = runtime.clock.now()
    expired = session.scalars(
        select(BufferedMessage).where(BufferedMessage.status == "buffered",
                                      BufferedMessage.expires_at <= now)
        .order_by(BufferedMessage.id).limit(1000)).all()
    for message in expired:
        session.execute(update(BufferedMessage).where(BufferedMessage.id == message.id)
                        .values(status="expired").execution_options(synchronize_session=False))
        log.info("buffered message %s %s (correlation %s) expired undelivered",
                 message.id, message.name, message.correlation)
        runtime.audit(session, None, "message_expired", "engine", None, None,
                      {"name": message.name, "correlation": message.correlation,
                       "buffered_id": message.id, "received_at": message.received_at.isoformat(),
                       "expires_at": message.expires_at.isoformat(), "sent_by": message.sent_by})
        runtime.metrics.messages_expired.inc(name=message.name)
    return len(expired)
