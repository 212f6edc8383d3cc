"""Tables. The workflow state is the truth; every other instance table is derived
from it in the same transaction after each save (see `engine.sidetables`)."""
from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, LargeBinary, MetaData, String,
    Text, UniqueConstraint, true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC in, timezone-aware UTC out, on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the engine stores timezone-aware UTC only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


# SQLite only auto-increments INTEGER PRIMARY KEY, not BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ProcessDefinition(Base):
    __tablename__ = "process_definitions"
    __table_args__ = (
        UniqueConstraint("process_key", "version", name="uq_definition_key_version"),
        Index("ix_definition_key_hash", "process_key", "content_hash"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    process_key: Mapped[str] = mapped_column(String(255))
    version: Mapped[int] = mapped_column(Integer)
    content_hash: Mapped[str] = mapped_column(String(64))
    spec_json: Mapped[str] = mapped_column(Text)        # process spec + called process specs
    forms_json: Mapped[str] = mapped_column(Text)       # form file name -> JSON, frozen with the version
    templates_json: Mapped[str] = mapped_column(Text, server_default="{}")  # "<lang>/<id>" -> Jinja2 source
    files_json: Mapped[str] = mapped_column(Text)       # source files of the bundle, for diagrams
    vocabulary_json: Mapped[str | None] = mapped_column(Text)  # workflows/vocabulary.json (engine/vocabulary.py)
    serializer_version: Mapped[str] = mapped_column(String(16))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deployed_by: Mapped[str] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)      # the change note of a studio deploy (issue 19)


class ProcessInstance(Base):
    __tablename__ = "process_instances"
    __table_args__ = (Index("ix_instance_key_status", "process_key", "status"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    definition_id: Mapped[int] = mapped_column(ForeignKey("process_definitions.id"))
    process_key: Mapped[str] = mapped_column(String(255))
    business_key: Mapped[str | None] = mapped_column(String(255), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    end_event: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)   # serialized workflow, no spec
    serializer_version: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)       # optimistic lock
    error: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_by: Mapped[str] = mapped_column(String(255))


class HumanTask(Base):
    __tablename__ = "human_tasks"
    __table_args__ = (
        Index("ix_task_status_group", "status", "candidate_group"),
        Index("ix_task_status_assignee", "status", "assignee"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)   # SpiffWorkflow task id
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"), index=True)
    element_id: Mapped[str] = mapped_column(String(255))
    process_key: Mapped[str] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(512))
    lane: Mapped[str | None] = mapped_column(String(255))
    candidate_group: Mapped[str | None] = mapped_column(String(255))
    assignee: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))               # ready / completed / cancelled
    form_schema: Mapped[str | None] = mapped_column(String(255))
    form_ui_schema: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[dict] = mapped_column(JSON, deferred=True)        # prefill: task data when it became ready
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_by: Mapped[str | None] = mapped_column(String(255))


class WaitingTimer(Base):
    __tablename__ = "waiting_timers"
    __table_args__ = (UniqueConstraint("instance_id", "task_id", name="uq_timer_instance_task"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(255))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class TimerFiring(Base):
    """One row per timer firing; the unique key makes a double firing impossible."""

    __tablename__ = "timer_firings"
    __table_args__ = (
        UniqueConstraint("instance_id", "task_id", "due_at", name="uq_firing_once"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(String(36), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(255))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    worker: Mapped[str] = mapped_column(String(255))


class MessageSubscription(Base):
    __tablename__ = "message_subscriptions"
    __table_args__ = (Index("ix_subscription_lookup", "message_name", "correlation_key"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instances.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(36))
    element_id: Mapped[str] = mapped_column(String(255))
    message_name: Mapped[str] = mapped_column(String(255))
    correlation_key: Mapped[str] = mapped_column(String(1024))     # canonical JSON of the values
    correlation: Mapped[dict] = mapped_column(JSON)


class BufferedMessage(Base):
    """A message nobody waited for yet; delivered when someone subscribes, until it expires."""

    __tablename__ = "buffered_messages"
    __table_args__ = (Index("ix_buffer_lookup", "status", "name", "correlation_key"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    correlation_key: Mapped[str] = mapped_column(String(1024))
    correlation: Mapped[dict] = mapped_column(JSON)
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))                 # buffered / delivered / expired
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_to: Mapped[str | None] = mapped_column(String(36))
    sent_by: Mapped[str] = mapped_column(String(255))


class ReceivedMessage(Base):
    """A message sent with a `message_id`: its first answer, replayed to a second delivery."""

    __tablename__ = "received_messages"
    __table_args__ = (UniqueConstraint("name", "message_id", name="uq_received_messages_name_message_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(255))
    message_id: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))        # sha256 of correlation + payload
    answer: Mapped[dict | None] = mapped_column(JSON)           # delivered_to, buffered_id, expires_at
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    sent_by: Mapped[str] = mapped_column(String(255))


class AuditEvent(Base):
    """Append-only history: who did what, when, to which instance and element."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    instance_id: Mapped[str | None] = mapped_column(String(36), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(64), index=True)
    element_id: Mapped[str | None] = mapped_column(String(255))
    task_id: Mapped[str | None] = mapped_column(String(36))
    details: Mapped[dict] = mapped_column(JSON)


class User(Base):
    """A person or an integrator in the directory; only the sha256 of the bearer token and the
    scrypt hash of the password are stored (see `engine.users`). A user with history is
    deactivated (`active` false), not deleted: their name stays in the audit trail and cases."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[str] = mapped_column(String(32))
    groups: Mapped[list] = mapped_column(JSON)
    # Unused since migration 0010 (the tokens are in api_tokens): a random placeholder that matches no
    # token; kept because SQLite cannot drop a UNIQUE column without copying the table.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    token_issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    display_name: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, server_default=true(), default=True)
    email: Mapped[str | None] = mapped_column(String(320))
    wecom_user_id: Mapped[str | None] = mapped_column(String(64))
    password_hash: Mapped[str | None] = mapped_column(String(255))     # scrypt$n$r$p$salt$hash


class ApiToken(Base):
    """A user's bearer token (engine/tokens.py): several per user, each named, scoped (`read`: GET
    only; `write`: what the role allows) and optionally expiring; only the sha256 of the secret is
    stored. Revoking deletes the row at once (the audit trail keeps `token_revoked` with its id)."""

    __tablename__ = "api_tokens"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_api_tokens_user_id_name"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(String(255))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class UserSession(Base):
    """A signed-in browser (engine/signin.py): the cookie's random id is stored as its sha256 only."""

    __tablename__ = "user_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SigninLink(Base):
    """A one-time sign-in link (`recall users add --link`): sha256 of the token, single use, expiring."""

    __tablename__ = "signin_links"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SigninFailure(Base):
    """Failed password sign-ins per key ("user:<name>" or "address:<ip>") for the lockout."""

    __tablename__ = "signin_failures"
    key: Mapped[str] = mapped_column(String(320), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime())
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IdempotencyRecord(Base):
    """One claimed `Idempotency-Key` per (scope, user, key): in progress, then the response to replay."""

    __tablename__ = "idempotency_records"
    __table_args__ = (
        UniqueConstraint("scope", "user_name", "key", name="uq_idempotency_scope_user_key"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scope: Mapped[str] = mapped_column(String(255))                # e.g. "POST /process-instances"
    user_name: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))                # in_progress / done
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict | list | None] = mapped_column(JSON)
    response_headers: Mapped[dict | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Event(Base):
    """The integrators' event feed (engine/events.py): what happened, by ids only, written in the
    same transaction as the change it describes. Ordered by (txid, id): on PostgreSQL `txid` is
    the writing transaction's id and the feed serves only events older than the oldest writing
    transaction still in flight; on SQLite (one writer at a time) it is 0 and `id` is commit order.
    Kept RECALL_EVENT_RETENTION_DAYS, then pruned by the worker."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_position", "txid", "id"), {"sqlite_autoincrement": True})
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    txid: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor: Mapped[str | None] = mapped_column(String(255))
    instance_id: Mapped[str | None] = mapped_column(String(36))
    task_id: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(255))
    candidate_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSON)


class EventPrune(Base):
    """The newest feed position the retention job removed: an older cursor has missed events (410)."""

    __tablename__ = "event_prunes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    up_to_txid: Mapped[int] = mapped_column(BigInteger)
    up_to_id: Mapped[int] = mapped_column(BigInteger)
    pruned: Mapped[int] = mapped_column(Integer)


class WebhookSubscription(Base):
    """An admin's webhook (engine/webhooks.py): the event kinds it wants, its signing secret and how far
    through the feed its deliveries were made (cursor_txid, cursor_id)."""

    __tablename__ = "webhook_subscriptions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    url: Mapped[str] = mapped_column(String(2048))
    kinds: Mapped[list] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(255))
    secret: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))                 # active / disabled
    disabled_reason: Mapped[str | None] = mapped_column(String(255))
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failures_in_row: Mapped[int] = mapped_column(Integer)
    cursor_txid: Mapped[int] = mapped_column(BigInteger)
    cursor_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookDelivery(Base):
    """One event for one subscription: its attempts so far, the next one, the last answer (an excerpt)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("subscription_id", "event_id", name="uq_webhook_deliveries_subscription_event"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("webhook_subscriptions.id", ondelete="CASCADE"),
                                                 index=True)
    event_id: Mapped[int] = mapped_column(BigInteger)
    event_kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON)                      # the event as sent (ids only)
    status: Mapped[str] = mapped_column(String(16))                 # pending / delivered / failed
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    retry_until: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_token: Mapped[str | None] = mapped_column(String(36))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(String(512))
    error: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
