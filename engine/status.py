"""A case's statuses (defined here once), and the operational summary used by `recall status`
(and the tests): counts from the indexed tables."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select, text

from .models import ProcessInstance, WaitingTimer

# A case's status, defined once: running (work in progress), waiting (for a person, a timer or a
# message), completed, cancelled, error (an incident or a failed run; it can be retried).
STATUSES = ("running", "waiting", "completed", "cancelled", "error")
LIVE = ("running", "waiting")               # it goes on by itself or when someone acts
ACTIVE = (*LIVE, "error")                   # not ended: someone may still act on it
ENDED = ("completed", "cancelled")
OVERDUE_AFTER = timedelta(minutes=1)     # a due timer not fired after this: the workers are behind


def database_now(engine) -> datetime:
    """The engine's time; on PostgreSQL with the system clock, the database server's time."""
    if engine.db.dialect == "postgresql" and not getattr(engine.clock, "simulated", False):
        with engine.db.engine.connect() as conn:
            return conn.execute(text("SELECT clock_timestamp()")).scalar_one().astimezone(timezone.utc)
    return engine.clock.now()


def collect(engine, *, limit: int = 50, overdue_after: timedelta = OVERDUE_AFTER) -> dict:
    now = database_now(engine)
    with engine.db.read_transaction() as s:
        by_status = dict(s.execute(select(ProcessInstance.status, func.count())
                                   .group_by(ProcessInstance.status)).all())
        waiting = s.scalar(select(func.count()).select_from(WaitingTimer)) or 0
        due_live = (select(WaitingTimer.due_at)
                    .join(ProcessInstance, ProcessInstance.id == WaitingTimer.instance_id)
                    .where(WaitingTimer.due_at <= now, ProcessInstance.status.in_(LIVE)).subquery())
        due = s.scalar(select(func.count()).select_from(due_live)) or 0
        overdue = s.scalar(select(func.count()).select_from(due_live)
                           .where(due_live.c.due_at < now - overdue_after)) or 0
        oldest = s.scalar(select(func.min(due_live.c.due_at)))
        retrying = s.scalar(select(func.count()).select_from(WaitingTimer)
                            .join(ProcessInstance, ProcessInstance.id == WaitingTimer.instance_id)
                            .where(WaitingTimer.attempts > 0,
                                   ProcessInstance.status.in_(LIVE))) or 0
        incidents_total = s.scalar(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.status == "error", ProcessInstance.error["kind"].as_string() == "incident")) or 0
        failed = [
            {"id": r.id, "process_key": r.process_key, "updated_at": r.updated_at, **(r.error or {})}
            for r in s.execute(select(ProcessInstance.id, ProcessInstance.process_key, ProcessInstance.error,
                                      ProcessInstance.updated_at)
                               .where(ProcessInstance.status == "error")
                               .order_by(ProcessInstance.updated_at.desc(), ProcessInstance.id).limit(limit))
        ]
    return {
        "now": now,
        "instances": by_status,
        "timers_waiting": waiting,
        "timers_due": due,
        "timers_overdue": overdue,
        "overdue_after_seconds": int(overdue_after.total_seconds()),
        "oldest_due_at": oldest,
        "oldest_due_seconds": round((now - oldest).total_seconds(), 1) if oldest else None,
        "timers_retrying": retrying,
        "errors_total": by_status.get("error", 0),
        "errors": failed,
        "incidents_total": incidents_total,
        "incidents": [f for f in failed if f.get("kind") == "incident"],
    }
