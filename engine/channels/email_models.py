"""Tables of the email channel: what the mailbox poll has read, every mail received (the unmatched
ones are HR's queue) and addresses that bounce.

They join `engine.models.Base.metadata` when imported (engine/migrate.py imports this module for the
schema comparison). `email_inbound` and `email_failing_addresses` hold personal data: erasure deletes
a person's rows (engine/channels/email.py `erase_person`)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, UTCDateTime


class EmailMailboxState(Base):
    """How far the poll has read one IMAP folder: UIDs up to `last_uid` under `uidvalidity` are done.
    A new UIDVALIDITY (the folder was rebuilt) starts again from 0; received mails are deduplicated
    by Message-ID, so nothing is recorded twice even then."""

    __tablename__ = "email_mailbox_state"
    mailbox: Mapped[str] = mapped_column(String(512), primary_key=True)     # "user@host:port/folder"
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    last_uid: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EmailInbound(Base):
    """One mail received (IMAP poll or pushed): `recorded` as the candidate's reply, `unmatched` (HR's
    queue), `assigned` (by hand, then recorded), `bounce`, or `ignored` (a bounce of nothing we sent)."""

    __tablename__ = "email_inbound"
    __table_args__ = (
        Index("ix_email_inbound_status", "status", "received_at"),
        Index("ix_email_inbound_candidate", "candidate_id"),
        Index("ix_email_inbound_from", "from_address"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    message_id: Mapped[str] = mapped_column(String(512), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))               # imap / push
    from_address: Mapped[str | None] = mapped_column(String(320))
    from_name: Mapped[str | None] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())   # the Date header
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    candidate_id: Mapped[str | None] = mapped_column(String(36))
    outbox_id: Mapped[str | None] = mapped_column(String(36))
    matched_by: Mapped[str | None] = mapped_column(String(16))     # reply_to_message / from_address / hand
    delivered_to: Mapped[list] = mapped_column(JSON)              # the cases the reply reached
    assigned_by: Mapped[str | None] = mapped_column(String(255))
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EmailFailingAddress(Base):
    """An address mail to which was refused (5xx) or bounced: not sent to again until it changes."""

    __tablename__ = "email_failing_addresses"
    __table_args__ = (Index("ix_email_failing_candidate", "candidate_id"),)
    address: Mapped[str] = mapped_column(String(320), primary_key=True)     # lower-cased
    candidate_id: Mapped[str | None] = mapped_column(String(36))
    reason: Mapped[str] = mapped_column(String(32))               # refused / bounced
    detail: Mapped[str | None] = mapped_column(Text)
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime())
