"""Tables of the process owner's studio (issue 19, docs/studio.md): each person's drafts of the bundle and
the record of every migration of running cases (a move, not a dry run).

They join `engine.models.Base.metadata` when imported (engine/migrate.py imports this module for the
schema comparison). A draft holds diagrams, forms and templates, no personal data."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, BigId, UTCDateTime


class StudioDraft(Base):
    """One person's draft of the whole bundle: `files` {path under workflows/: text}, `forms` {name: text},
    `based_on` {process key: deployed version} it was made from, `version` (its ETag), who/when."""

    __tablename__ = "studio_drafts"
    __table_args__ = (Index("ix_studio_drafts_owner", "owner", "updated_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    owner: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))                 # deployed | workflows | empty
    based_on: Mapped[dict] = mapped_column(JSON)                    # {process_key: version}
    files: Mapped[dict] = mapped_column(JSON)
    forms: Mapped[dict] = mapped_column(JSON)
    size_bytes: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    deployed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deployed_versions: Mapped[dict | None] = mapped_column(JSON)    # {process_key: version} of its last deploy


class StudioMigrationRun(Base):
    """One move of running cases from a version to another: the plan and what became of each case."""

    __tablename__ = "studio_migration_runs"
    __table_args__ = (Index("ix_studio_migration_runs_key", "process_key", "started_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    process_key: Mapped[str] = mapped_column(String(255))
    from_version: Mapped[int] = mapped_column(Integer)
    to_version: Mapped[int] = mapped_column(Integer)
    mapping: Mapped[dict] = mapped_column(JSON)
    timers: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    moved: Mapped[int] = mapped_column(Integer)
    refused: Mapped[int] = mapped_column(Integer)
    results: Mapped[list] = mapped_column(JSON)      # [{instance_id, outcome, reason}]
    note: Mapped[str | None] = mapped_column(Text)
