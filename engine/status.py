"""Operational summary used by `recall status`."""
from __future__ import annotations

from sqlalchemy import func, select

from .models import ProcessInstance, WaitingTimer


def collect(engine) -> dict:
    now = engine.clock.now()
    with engine.db.reading() as s:
        by_status = dict(s.execute(select(ProcessInstance.status, func.count())
                                   .group_by(ProcessInstance.status)).all())
        waiting = s.scalar(select(func.count()).select_from(WaitingTimer)) or 0
        due = s.scalar(select(func.count()).select_from(WaitingTimer).where(WaitingTimer.due_at < now)) or 0
        errors = [
            {"id": r.id, "process_key": r.process_key, **(r.error or {})}
            for r in s.execute(select(ProcessInstance.id, ProcessInstance.process_key, ProcessInstance.error)
                               .where(ProcessInstance.status == "error").limit(50))
        ]
    return {"instances": by_status, "timers_waiting": waiting, "timers_due": due, "errors": errors}
