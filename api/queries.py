"""Read-only queries the engine's front door does not offer yet (process definitions).

Kept here, small and read-only, until RecallEngine has list_definitions / get_definition.
"""
from __future__ import annotations

import json

from sqlalchemy import func, select

from engine.errors import NotFound
from engine.models import ProcessDefinition


def _summary(row: ProcessDefinition) -> dict:
    return {"process_key": row.process_key, "latest_version": row.version,
            "deployed_at": row.deployed_at, "deployed_by": row.deployed_by}


def list_definitions(engine, *, limit: int, offset: int) -> list[dict]:
    """Latest version of each process, ordered by key."""
    latest = (select(ProcessDefinition.process_key, func.max(ProcessDefinition.version).label("version"))
              .group_by(ProcessDefinition.process_key).subquery())
    with engine.db.reading() as s:
        rows = s.scalars(
            select(ProcessDefinition)
            .join(latest, (ProcessDefinition.process_key == latest.c.process_key)
                  & (ProcessDefinition.version == latest.c.version))
            .order_by(ProcessDefinition.process_key).limit(limit).offset(offset)).all()
        return [_summary(r) for r in rows]


def get_definition(engine, process_key: str) -> dict:
    with engine.db.reading() as s:
        rows = s.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == process_key)
                         .order_by(ProcessDefinition.version.desc())).all()
        if not rows:
            raise NotFound(f"no deployed process definition {process_key}")
        latest = rows[0]
        return {**_summary(latest),
                "versions": [{"version": r.version, "content_hash": r.content_hash,
                              "deployed_at": r.deployed_at, "deployed_by": r.deployed_by} for r in rows],
                "files": sorted(json.loads(latest.files_json)),
                "forms": sorted(json.loads(latest.forms_json))}
