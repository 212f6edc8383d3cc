"""Tables of the channels: the company's channel settings (secrets sealed) and the outbox.

Both join `engine.models.Base.metadata` when imported (engine/migrate.py imports this module for
the schema comparison; the outbox and the settings import it to work)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, UTCDateTime

STATUSES = ("pending", "sending", "awaiting_confirmation", "sent", "failed", "cancelled")     # an outbox row's
OPEN = ("pending", "sending", "awaiting_confirmation")
FINAL = ("sent", "failed", "cancelled")


class ChannelSettings(Base):
    """One channel's settings: `values` by field key, secret fields sealed (engine/channels/secrets.py)."""

    __tablename__ = "channel_settings"
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    values: Mapped[dict] = mapped_column(JSON)
    enabled: Mapped[bool] = mapped_column(Boolean)
    updated_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OutboxMessage(Base):
    """One send (engine/channels/outbox.py): written in the unit of work that asks for it, sent by the
    worker under a lease, its outcome recorded with the provider's id. `recipient` and `payload` hold
    personal data: erasure empties them."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_candidate", "candidate_id", "channel", "created_at"),
        Index("ix_outbox_task", "task_id", "created_at"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(32))              # candidate_message / notification
    status: Mapped[str] = mapped_column(String(32))            # pending, sending, awaiting_confirmation, sent,
    #                                                            failed, cancelled
    candidate_id: Mapped[str | None] = mapped_column(String(36))
    task_id: Mapped[str | None] = mapped_column(String(36))
    instance_id: Mapped[str | None] = mapped_column(String(36))
    recipient: Mapped[dict] = mapped_column(JSON)
    payload: Mapped[dict] = mapped_column(JSON)
    provider_id: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_token: Mapped[str | None] = mapped_column(String(36))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
