"""Fire due timers: claim indexed rows, fire each inside its instance's transaction, once."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import faults, sidetables
from .errors import ConflictError
from .models import ProcessInstance, TimerFiring, WaitingTimer
from .views import FiringReport

log = logging.getLogger("recall.timers")


@dataclass
class DueTimer:
    id: int
    instance_id: str
    task_id: str
    element_id: str
    due_at: datetime


def due_timers(session: Session, now: datetime, limit: int) -> list[DueTimer]:
    """Due timers of live instances, oldest first, from the indexed timer table."""
    rows = session.execute(
        select(WaitingTimer.id, WaitingTimer.instance_id, WaitingTimer.task_id,
               WaitingTimer.element_id, WaitingTimer.due_at)
        .join(ProcessInstance, ProcessInstance.id == WaitingTimer.instance_id)
        .where(WaitingTimer.due_at < now, ProcessInstance.status.in_(("running", "waiting")))
        .order_by(WaitingTimer.due_at, WaitingTimer.id).limit(limit)
    ).all()
    return [DueTimer(*r) for r in rows]


def fire_one(runtime, session: Session, timer: DueTimer, *, worker: str, skip_locked: bool) -> bool:
    """Fire `timer` (and any other due timer of its instance) in this transaction.

    Returns False when there is nothing to do: another worker holds or already fired it.
    """
    from .runtime import Change

    claim = select(WaitingTimer.id).where(WaitingTimer.id == timer.id)
    if skip_locked:
        claim = claim.with_for_update(skip_locked=True)
    if session.execute(claim).first() is None:
        return False
    loaded = runtime.load(session, timer.instance_id)
    if loaded.row.status not in ("running", "waiting"):
        return False
    now = runtime.clock.now()
    # Strictly before now, as SpiffWorkflow's own timer check is.
    due = [t for t in sidetables.derive(loaded.workflow).timers if t.due_at < now]
    if not due:
        return False
    derived = runtime.change(session, loaded, None, Change(
        "timer_fired", f"worker:{worker}", due[0].element_id, due[0].task_id,
        {"timers": [{"element_id": t.element_id, "task_id": t.task_id, "due_at": t.due_at.isoformat()}
                    for t in due],
         "lateness_seconds": (now - min(t.due_at for t in due)).total_seconds()}))
    still_waiting = {(t.task_id, t.due_at) for t in derived.timers}
    for t in due:
        if (t.task_id, t.due_at) not in still_waiting:
            session.add(TimerFiring(instance_id=timer.instance_id, task_id=t.task_id,
                                    element_id=t.element_id, due_at=t.due_at, fired_at=now, worker=worker))
    session.flush()   # the unique key refuses a second firing: the whole transaction rolls back
    faults.pause("timer_before_commit")
    return True


def fire_due(runtime, db, *, limit: int, worker: str) -> FiringReport:
    report = FiringReport()
    with db.reading() as session:
        batch = due_timers(session, runtime.clock.now(), limit)
    skip_locked = db.dialect == "postgresql"
    for timer in batch:
        try:
            with db.transaction() as session:
                if fire_one(runtime, session, timer, worker=worker, skip_locked=skip_locked):
                    report.fired += 1
                    status = session.scalar(select(ProcessInstance.status)
                                            .where(ProcessInstance.id == timer.instance_id))
                    if status == "error":
                        report.errors += 1
        except (ConflictError, IntegrityError) as exc:
            # The instance changed (or the firing was recorded) under us: its timers
            # were re-derived by the winner; a still-due timer is picked up next round.
            report.conflicts += 1
            log.info("timer %s of instance %s skipped: %s", timer.element_id, timer.instance_id,
                     type(exc).__name__)
    return report
