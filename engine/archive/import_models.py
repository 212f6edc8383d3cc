"""Tables of the ATS import (issue 20, engine/archive/imports.py): the column mapping saved per source,
each import run with its progress, and its rows as the dry run read them.

They join `engine.models.Base.metadata` when imported (engine/migrate.py imports this module for the
schema comparison). A row's `data` (the normalised candidate and decline) holds personal data only
while its run is open: a finished or discarded run keeps each row's number, status, candidate id and
the names of the columns in error, never the values (imports.finish)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, update
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base, UTCDateTime


class ImportMapping(Base):
    """The columns of one source's export mapped to our fields, and the choices made, for next time."""

    __tablename__ = "import_mappings"
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    mapping: Mapped[dict] = mapped_column(JSON)         # our field -> the file's header
    options: Mapped[dict] = mapped_column(JSON)         # reason_map, unmapped_reason, duplicates, consent_*
    updated_by: Mapped[str] = mapped_column(String(255))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ImportRun(Base):
    """One file imported from one source: checked (`checked`), confirmed and being written (`running`),
    `done`, or `discarded`. `rows_done` counts the rows written or refused so far (the progress)."""

    __tablename__ = "import_runs"
    __table_args__ = (Index("ix_import_runs_created", "created_at"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    filename: Mapped[str] = mapped_column(String(255))
    file_sha256: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    mapping: Mapped[dict] = mapped_column(JSON)
    options: Mapped[dict] = mapped_column(JSON)
    total_rows: Mapped[int] = mapped_column(Integer)
    valid_rows: Mapped[int] = mapped_column(Integer)
    rows_done: Mapped[int] = mapped_column(Integer)
    counts: Mapped[dict] = mapped_column(JSON)          # created / updated / unchanged / failed / skipped
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    confirmed_by: Mapped[str | None] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ImportRow(Base):
    """One row of a run's file (`row_no`: its line in the sheet, the header is 1): `error` (the dry run
    refused it: `errors` per column), `pending` (to be written), `written` or `failed` (the write refused
    it), with the candidate it became."""

    __tablename__ = "import_rows"
    __table_args__ = (Index("ix_import_rows_status", "run_id", "status", "row_no"),
                      Index("ix_import_rows_candidate", "candidate_id"))
    run_id: Mapped[str] = mapped_column(ForeignKey("import_runs.id", ondelete="CASCADE"), primary_key=True)
    row_no: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16))
    data: Mapped[dict | None] = mapped_column(JSON)
    errors: Mapped[list] = mapped_column(JSON)          # [{column, field, code, message, params}]
    notes: Mapped[list] = mapped_column(JSON)           # [{field, code, message, params}]: mapped "other", merge...
    result: Mapped[str | None] = mapped_column(String(16))   # created / updated / unchanged
    candidate_id: Mapped[str | None] = mapped_column(String(36))
    message: Mapped[str | None] = mapped_column(Text)


def forget(session, candidate_id: str) -> None:
    """Erasure: the import rows that became the person keep nothing of them but their row number."""
    session.execute(update(ImportRow).where(ImportRow.candidate_id == candidate_id)
                    .values(candidate_id=None, external_id=None, data=None, message=None)
                    .execution_options(synchronize_session=False))
