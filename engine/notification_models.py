"""Tables of the internal notifications (engine/notifications.py): each person's preferences, every
notification made (one row per event and person: the dedupe key and the daily digest's queue) and the
producer's place in the event feed.

They join `engine.models.Base.metadata` when imported (engine/migrate.py imports this module for the
schema comparison). The producer's texts name the task and its deadline, never the candidate; a diagram's
`notify` text is the process owner's and might: erasure empties the texts of the person's cases
(`forget`)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UTCDateTime


class NotificationPreference(Base):
    """How one person wants to hear of work for them. No row: the defaults (engine/notifications.py)."""

    __tablename__ = "notification_preferences"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))        # wecom | email | none
    mode: Mapped[str] = mapped_column(String(16))           # immediate | digest
    digest_hour: Mapped[int] = mapped_column(Integer)       # 0-23, in RECALL_TIMEZONE
    language: Mapped[str] = mapped_column(String(8))        # zh | en
    group_tasks: Mapped[bool] = mapped_column(Boolean)      # also tasks landing in my groups' queue
    updated_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Notification(Base):
    """One notification of one person about one event: sent at once (`queued`, with its outbox row),
    waiting for the person's daily digest (`pending`, due at `digest_at`), or sent in one (`digested`).
    `dedupe_key` (event and person) makes a second run of the producer write nothing."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index("ix_notifications_digest", "status", "digest_at"),
        Index("ix_notifications_user", "user_name", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    user_name: Mapped[str] = mapped_column(String(255))
    event: Mapped[str] = mapped_column(String(32))          # task_assigned, group_task, follow_up_due, ...
    instance_id: Mapped[str | None] = mapped_column(String(36))
    task_id: Mapped[str | None] = mapped_column(String(36))
    element_id: Mapped[str | None] = mapped_column(String(255))
    channel: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))         # queued | pending | digested
    text: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(1024))
    language: Mapped[str] = mapped_column(String(8))
    outbox_id: Mapped[str | None] = mapped_column(String(36))
    digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class NotificationCursor(Base):
    """How far the producer has read the event feed (engine/events.py position), moved compare-and-set."""

    __tablename__ = "notification_cursor"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    cursor_txid: Mapped[int] = mapped_column(BigInteger)
    cursor_id: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


def forget(session, instance_ids: list[str]) -> int:
    """Erasure: the diagram-written (`connector`) notifications of these cases lose their text, here and in
    their outbox rows (open ones are cancelled). Returns how many notifications were emptied."""
    from .channels.models import OutboxMessage
    if not instance_ids:
        return 0
    rows = list(session.scalars(select(Notification).where(Notification.instance_id.in_(list(instance_ids)),
                                                           Notification.event == "connector")))
    sends = {row.outbox_id for row in rows if row.outbox_id}
    for row in rows:
        row.text = ""
    for send in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(sends))) if sends else ():
        send.payload = {**(send.payload or {}), "text": "", "subject": ""}
        if send.status in ("pending", "sending", "awaiting_confirmation"):
            send.status, send.reason, send.next_attempt_at, send.lease_token = "cancelled", "erased", None, None
    session.flush()
    return len(rows)
