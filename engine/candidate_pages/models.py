"""The table of signed candidate links (migration 0018).

Only a hash of a link's token is stored (SHA-256 of the random token): whoever reads the database cannot
open a candidate's page. `candidate_id` carries no foreign key, like the WeCom contacts: erasure deletes the
person's links and a merge moves them (engine/candidate_pages/archive_hooks.py).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, UTCDateTime


class CandidateLink(Base):
    """One link HR issued to one candidate: a kind of page (growth, goals), a language, a lifetime, and what
    opening it did (views, seconds read, the last signal recorded, a "let's talk" delivered)."""

    __tablename__ = "candidate_links"
    __table_args__ = (Index("ix_candidate_links_candidate", "candidate_id", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    candidate_id: Mapped[str] = mapped_column(String(36))
    instance_id: Mapped[str | None] = mapped_column(String(36))
    role_key: Mapped[str | None] = mapped_column(String(64))
    lang: Mapped[str] = mapped_column(String(8))
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_by: Mapped[str | None] = mapped_column(String(255))
    revoked_reason: Mapped[str | None] = mapped_column(String(32))     # hand / consent_withdrawn
    first_viewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_viewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    view_seconds: Mapped[int] = mapped_column(Integer, default=0)      # summed from the page's beacons
    signalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())   # the last growth_page_viewed
    signal_id: Mapped[int | None] = mapped_column(BigInteger)             # ... and its row (duration added)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())     # "I'd like to talk" delivered
