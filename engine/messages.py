"""Message delivery by name + correlation values, with a buffer for early messages."""
from __future__ import annotations

import logging
from types import SimpleNamespace

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from . import sidetables
from .errors import MessageNotRoutable
from .models import BufferedMessage, MessageSubscription, ProcessInstance
from .views import Delivery

log = logging.getLogger("recall.messages")
_SUBSCRIPTION_COLUMNS = tuple(MessageSubscription.__table__.c[name].label(f"subscription_{name}")
                              for name in ("id", "instance_id", "task_id", "element_id"))


def deliver(runtime, session: Session, name: str, correlation: dict, payload: dict, *, actor: str,
            instance_id: str | None = None, ttl=None, exclude_instance: str | None = None) -> Delivery:
    """Deliver to every instance waiting for `name` with exactly these correlation values.

    Nobody waiting yet: buffer it until `ttl` (default: the runtime's message TTL).
    """
    from .runtime import Change, UnloadableInstance

    if not name:
        raise MessageNotRoutable("message name is required")
    if not correlation and instance_id is None:
        raise MessageNotRoutable(
            f"message {name!r} needs correlation values (e.g. {{\"candidate_id\": ...}}) or an instance id")
    key = sidetables.correlation_key(correlation)
    # Only live instances receive: one in `error` gets the message after its retry (buffered).
    # Each subscription comes with its instance's whole row: the load does not read it again.
    query = (select(*_SUBSCRIPTION_COLUMNS, ProcessInstance.__table__)
             .join(ProcessInstance, ProcessInstance.id == MessageSubscription.instance_id)
             .where(MessageSubscription.message_name == name,
                    ProcessInstance.status.in_(("running", "waiting"))))
    if instance_id is not None:
        query = query.where(MessageSubscription.instance_id == instance_id)
    if correlation or instance_id is None:
        query = query.where(MessageSubscription.correlation_key == key)
    if exclude_instance is not None:
        query = query.where(MessageSubscription.instance_id != exclude_instance)
    found = session.execute(query.order_by(MessageSubscription.instance_id, MessageSubscription.id)).all()
    delivered: list[str] = []
    for row in found:
        sub = SimpleNamespace(id=row.subscription_id, instance_id=row.subscription_instance_id,
                              task_id=row.subscription_task_id, element_id=row.subscription_element_id)
        if sub.instance_id in delivered:
            continue
        try:
            loaded = runtime.load(session, sub.instance_id, row=row)
        except UnloadableInstance as exc:      # one broken case must not stop delivery to the others
            runtime.quarantine(session, exc, actor=actor)
            continue
        runtime.change(session, loaded, runtime.message_action(name, correlation, payload, sub),
                       Change("message_delivered", actor, sub.element_id, sub.task_id,
                              {"name": name, "correlation": correlation, "payload": payload}))
        delivered.append(sub.instance_id)
    if delivered:
        return Delivery(delivered_to=delivered)
    now = runtime.clock.now()
    expires_at = now + (ttl if ttl is not None else runtime.message_ttl)
    message = BufferedMessage(name=name, correlation_key=key, correlation=correlation,
                              payload=payload or {}, status="buffered", received_at=now,
                              expires_at=expires_at, sent_by=actor)
    session.add(message)
    session.flush()
    runtime.audit(session, instance_id, "message_buffered", actor, None, None,
                  {"name": name, "correlation": correlation, "buffered_id": message.id,
                   "expires_at": expires_at.isoformat()})
    return Delivery(delivered_to=[], buffered_id=message.id, expires_at=expires_at)


def expire_buffered(runtime, session: Session) -> int:
    """Drop buffered messages past their expiry; each is logged and audited."""
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
                       "buffered_id": message.id})
    return len(expired)
