"""Tables of the role profiles (issue 18): the facts HR stands behind — salary band, promotion path,
promotion figures, consented growth stories, mentors, policies, testimonials — per role, optionally per
team and location (engine/archive/roles.py reads and writes them).

- `role_profiles`: one row per scope (role_key, team, location; NULL = any). `scope_key` is the three
  joined ("backend_engineer||") so that the scope is unique on every database (a UNIQUE over NULLable
  columns lets NULLs repeat).
- `role_profile_versions`: every change is a new row (never updated): the facts in force at a date are
  the version with the latest `effective_from` on or before it (the highest version on a tie).
  `content_hash` lets a re-import of an unchanged row write nothing.
- `role_aliases`: the free texts HR typed for a role ("后端工程师", "Backend Engineer"), normalised
  (`alias_key`), each pointing at one role_key.
- `open_positions`: how many openings a role has now (not versioned; the ranking of issue 20 reads it).

They join `engine.models.Base.metadata` when imported (engine/migrate.py imports this module for the
schema comparison). Nothing here is about a candidate: a story names an employee only when they agreed.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .models import Base, UTCDateTime


class RoleProfileRow(Base):
    """One scope a role's facts are kept for: the role alone, or narrowed to a team and/or a location."""

    __tablename__ = "role_profiles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope_key: Mapped[str] = mapped_column(String(400), unique=True)
    role_key: Mapped[str] = mapped_column(String(64), index=True)
    team: Mapped[str | None] = mapped_column(String(128))
    location: Mapped[str | None] = mapped_column(String(128))
    latest_version: Mapped[int] = mapped_column(Integer)    # the ETag of the scope; bumped by every save
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RoleProfileVersion(Base):
    """One version of a scope's facts (append-only)."""

    __tablename__ = "role_profile_versions"
    __table_args__ = (
        UniqueConstraint("profile_id", "version", name="uq_role_profile_versions_profile_version"),
        Index("ix_role_profile_versions_in_force", "profile_id", "effective_from"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    profile_id: Mapped[int] = mapped_column(ForeignKey("role_profiles.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    effective_from: Mapped[date] = mapped_column(Date)
    title: Mapped[dict] = mapped_column(JSON)               # {"zh": ..., "en": ...}
    facts: Mapped[dict] = mapped_column(JSON)               # the validated facts document
    content_hash: Mapped[str] = mapped_column(String(64))   # title + facts + effective_from
    note: Mapped[str] = mapped_column(Text)
    changed_by: Mapped[str] = mapped_column(String(255))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RoleAlias(Base):
    """A free-text role name (normalised in `alias_key`) that means `role_key`."""

    __tablename__ = "role_aliases"
    alias_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    alias: Mapped[str] = mapped_column(String(255))
    role_key: Mapped[str] = mapped_column(String(64), index=True)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OpenPositions(Base):
    """How many openings a role has now (0 when no row)."""

    __tablename__ = "open_positions"
    role_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
