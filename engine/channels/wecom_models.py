"""Tables of the WeCom channel: the shared access token, the customer message tasks it made, candidates'
WeCom contacts and their "contact me" states (migration 0013).

`channel_tokens` holds one row per channel whose API needs a token fetched with the app's secret
(WeCom's lasts 7200 s and may be fetched only so often): every process and worker uses the one row,
and one of them refreshes it under a lease (engine/channels/wecom_client.py `TokenStore`). The token
is sealed (AES-GCM) with a key derived from the app secret itself, so a database reader without the
secret (sealed at rest by engine/channels/secrets.py) cannot use it, and a row fetched with another
secret (`key_id` differs) is ignored after a rotation.

Contacts are personal data: erasure deletes the person's rows (engine/channels/archive_hooks.forget).
`candidate_id` carries no foreign key on purpose: an unmatched contact has none, and a link outlives
nothing (erasure deletes it; a merge moves it).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, BigId, UTCDateTime


class ChannelToken(Base):
    __tablename__ = "channel_tokens"
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_sealed: Mapped[str | None] = mapped_column(Text)
    key_id: Mapped[str | None] = mapped_column(String(32))          # which secret sealed (and fetched) it
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refresh_until: Mapped[datetime | None] = mapped_column(UTCDateTime())   # a refresher's lease
    version: Mapped[int] = mapped_column(Integer, default=0)                # compare-and-set


class WecomMessageTask(Base):
    """A customer message task asked of WeCom for one outbox row, written BEFORE add_msg_template is
    called: after a crash the sender knows since when to look for the task WeCom may have made."""

    __tablename__ = "wecom_message_tasks"
    outbox_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    msgid: Mapped[str | None] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CandidateWecomContact(Base):
    """A WeCom external contact (`external_userid`) of one employee (`follow_userid`), linked to a
    candidate when matched (by state, phone or by hand), or waiting for HR to link it."""

    __tablename__ = "candidate_wecom_contacts"
    __table_args__ = (Index("ix_wecom_contact_candidate", "candidate_id", "removed_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    external_userid: Mapped[str] = mapped_column(String(128), unique=True)
    follow_userid: Mapped[str] = mapped_column(String(64))
    candidate_id: Mapped[str | None] = mapped_column(String(36))
    matched_by: Mapped[str | None] = mapped_column(String(16))     # state / phone / hand
    state: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(255))          # unmatched only: for HR to recognise them
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    signalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())   # the "added us" signal recorded
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removed_by: Mapped[str | None] = mapped_column(String(32))     # del_external_contact / del_follow_user
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CandidateWecomState(Base):
    """The opaque `state` of a candidate's "contact me" QR code (WeCom returns it with the new contact)."""

    __tablename__ = "candidate_wecom_states"
    state: Mapped[str] = mapped_column(String(32), primary_key=True)
    candidate_id: Mapped[str] = mapped_column(String(36), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
