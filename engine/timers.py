"""Fire due timers: claim them in batches, fire each inside its instance's own transaction, once.

A round (`fire_due`, what `recall worker` loops on):

1. Time. On PostgreSQL the worker's clock is an `engine.clock.DatabaseClock`, synced
   to the server once per round, so "due" means due by the database's clock on every
   machine (a worker whose own clock runs ahead never fires early). Bound in
   SpiffWorkflow's timer module too, it is the time the diagram sees.
2. Claim a batch. PostgreSQL (several workers): one statement takes up to `limit` of
   the oldest due rows of live instances with `FOR UPDATE OF waiting_timers SKIP
   LOCKED` and leases them — their `due_at` moves to now + RECALL_TIMER_LEASE_SECONDS
   (30 s), so no other worker claims them while this one works through the batch. A
   claim is (timer row, its lease, the instance's version at the claim). If the worker
   dies, the lease runs out and another worker claims the timer. SQLite (one worker):
   the batch is read, not leased.
3. Fire each claimed timer in its own transaction: lock the timer row and the instance
   row (`FOR UPDATE SKIP LOCKED`: someone else holding either → skip) and check the
   claim still holds — same row, same lease, same instance version. A claim that went
   stale (the lease ran out and another worker took it; the instance changed — any
   save re-derives its timer rows, lease gone) applies nothing; the timer, if still
   due, is claimed afresh. Then load the instance, fire every timer of it that is due,
   save with the version check (`Runtime.change`: a concurrent change makes this
   transaction fail as a whole) and record one `timer_firings` row per timer fired
   (unique on instance, task, due time: a double firing cannot commit).
4. Failures. A diagram fault is the diagram's: the instance goes to `error` with the
   script's message (Runtime). Anything else — a bug, a database error — rolls the
   firing back; the timer is retried with exponential backoff (its row's `due_at` is
   pushed to the next attempt, in a small transaction of its own; the next successful
   save re-derives the true due time) and after `RECALL_TIMER_MAX_ATTEMPTS` attempts
   the instance goes to `error` with an *incident* (`error.kind == "incident"`) instead
   of being retried forever. `RecallEngine.retry_instance` fires it again. An instance whose
   stored state cannot be loaded at all gets its incident at once (`Runtime.quarantine`).

While a timer is leased or waiting for its next attempt, its row's `due_at` (what the
API lists as the instance's waiting timer) shows that time; the workflow state keeps
the true due time, which is what firing and the lateness figures use.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from . import sidetables
from .errors import ConflictError
from .instances import Change, InstanceRecord, UnloadableInstance, instance_columns
from .models import AuditEvent, ProcessInstance, TimerFiring, WaitingTimer
from .status import LIVE
from .views import FiringReport

log = logging.getLogger("recall.timers")

# PostgreSQL: serialization failure, deadlock, lock not available - lost races, not bugs.
RACE_SQLSTATES = {"40001", "40P01", "55P03"}


@dataclass
class DueTimer:
    id: int
    instance_id: str
    task_id: str
    element_id: str
    due_at: datetime
    attempts: int = 0
    version: int | None = None        # the instance's version when the timer was claimed


@dataclass(frozen=True)
class RetryPolicy:
    """How a timer whose firing failed (outside the diagram) is retried."""

    max_attempts: int = 5             # RECALL_TIMER_MAX_ATTEMPTS: then an incident
    base_seconds: float = 10.0        # RECALL_TIMER_RETRY_SECONDS: first delay, doubled per attempt
    max_seconds: float = 3600.0       # RECALL_TIMER_RETRY_MAX_SECONDS: delay cap
    lease_seconds: float = 30.0       # RECALL_TIMER_LEASE_SECONDS: how long a claim hides a timer

    @classmethod
    def from_settings(cls, settings) -> "RetryPolicy":
        """The policy of the one `engine.config.Settings` (read and checked there, once)."""
        return cls(max_attempts=settings.timer_max_attempts, base_seconds=settings.timer_retry_seconds,
                   max_seconds=settings.timer_retry_max_seconds, lease_seconds=settings.timer_lease_seconds)

    def delay(self, attempts: int) -> timedelta:
        """Wait before attempt `attempts + 1` (attempts: failures so far, >= 1)."""
        return timedelta(seconds=min(self.base_seconds * 2 ** max(attempts - 1, 0), self.max_seconds))


@dataclass
class TimerRoundReport(FiringReport):
    """A FiringReport with what else the round saw."""

    skipped: int = 0          # claimed by another worker meanwhile, or no longer due
    stale: int = 0            # the instance changed since the claim: nothing applied
    failed: int = 0           # firings that raised (outside the diagram): rolled back, retried later
    incidents: int = 0        # timers that ran out of attempts: their instance is in `error`
    claimed: int = 0
    lateness: list[float] = field(default_factory=list)    # seconds, one per timer fired


class NotFired(Enum):
    """Why a claimed timer was not fired (nothing was applied)."""

    SKIPPED = "skipped"         # fired or re-derived meanwhile, another worker holds it, or no longer due
    STALE = "stale"             # the instance changed since the claim
    UNLOADABLE = "unloadable"   # the instance's state cannot be loaded: put in error with an incident


@dataclass(frozen=True, slots=True)
class Fired:
    """What firing one claimed timer did (with any other due timer of its instance)."""

    timers: int
    lateness: list[float]
    status: str                 # the instance's status after the change


class FailureOutcome(Enum):
    RETRY = "retry"             # pushed to its next attempt
    INCIDENT = "incident"       # out of attempts: the instance is in `error` with an incident
    GONE = "gone"               # the timer row or the claimed instance version changed: nothing recorded


@dataclass(frozen=True, slots=True)
class RecordedFailure:
    outcome: FailureOutcome
    attempts: int
    next_attempt_at: datetime | None = None


def due_timers(session: Session, now: datetime, limit: int, *, skip_locked: bool = False) -> list[DueTimer]:
    """Due timers of live instances, oldest first, from the indexed timer table (a plain read)."""
    query = (
        select(WaitingTimer.id, WaitingTimer.instance_id, WaitingTimer.task_id, WaitingTimer.element_id,
               WaitingTimer.due_at, WaitingTimer.attempts, ProcessInstance.version)
        .join(ProcessInstance, ProcessInstance.id == WaitingTimer.instance_id)
        .where(WaitingTimer.due_at <= now, ProcessInstance.status.in_(LIVE))
        .order_by(WaitingTimer.due_at, WaitingTimer.id).limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(of=WaitingTimer, skip_locked=True)
    return [DueTimer(r.id, r.instance_id, r.task_id, r.element_id, r.due_at, r.attempts or 0, r.version)
            for r in session.execute(query)]


def lease_due_timers(session: Session, now: datetime, limit: int, lease: timedelta,
                     *, only: DueTimer | None = None) -> list[DueTimer]:
    """PostgreSQL: claim up to `limit` due timers nobody holds, leased until now + `lease`.

    One statement: `FOR UPDATE SKIP LOCKED` picks rows no concurrent claim is taking,
    and moving their `due_at` past now hides them from every other claim until the
    lease runs out (or the instance's next save re-derives them). `only`: that claimed
    row again (due, or still under the lease we hold).
    """
    until = now + lease
    due = (select(WaitingTimer.id, WaitingTimer.due_at.label("was_due"))
           .join(ProcessInstance, ProcessInstance.id == WaitingTimer.instance_id)
           .where(ProcessInstance.status.in_(LIVE)))
    if only is None:
        due = due.where(WaitingTimer.due_at <= now)
    else:
        due = due.where(WaitingTimer.id == only.id,
                        or_(WaitingTimer.due_at <= now, WaitingTimer.due_at == only.due_at))
    due = (due.order_by(WaitingTimer.due_at, WaitingTimer.id).limit(limit)
           .with_for_update(of=WaitingTimer, skip_locked=True).cte("due"))
    rows = session.execute(
        update(WaitingTimer)
        .where(WaitingTimer.id == due.c.id, ProcessInstance.id == WaitingTimer.instance_id)
        .values(due_at=until)
        .returning(WaitingTimer.id, WaitingTimer.instance_id, WaitingTimer.task_id, WaitingTimer.element_id,
                   WaitingTimer.attempts, ProcessInstance.version, due.c.was_due)
        .execution_options(synchronize_session=False)).all()
    rows = sorted(rows, key=lambda r: (r.was_due, r.id))         # oldest first, as claimed
    return [DueTimer(r.id, r.instance_id, r.task_id, r.element_id, until, r.attempts or 0, r.version)
            for r in rows]


_INSTANCES = ProcessInstance.__table__
_CLAIM = (select(*instance_columns())
          .join(WaitingTimer.__table__, WaitingTimer.__table__.c.instance_id == _INSTANCES.c.id)
          .where(WaitingTimer.__table__.c.id == bindparam("b_timer"),
                 WaitingTimer.__table__.c.due_at == bindparam("b_due")))
_CLAIM_LOCKED = _CLAIM.with_for_update(skip_locked=True)      # both rows; held until commit


def claim(session: Session, timer: DueTimer, *, lock: bool) -> InstanceRecord | NotFired:
    """Hold the claim inside the firing transaction: the instance's record, or why not."""
    row = session.connection().execute(_CLAIM_LOCKED if lock else _CLAIM,
                                       {"b_timer": timer.id, "b_due": timer.due_at}).first()
    if row is None or row.status not in LIVE:
        return NotFired.SKIPPED  # fired or re-derived meanwhile, or another worker holds it now
    if timer.version is not None and row.version != timer.version:
        return NotFired.STALE
    return InstanceRecord.of(row)


def fire_one(runtime, session: Session, timer: DueTimer, *, worker: str, lock: bool) -> Fired | NotFired:
    """Fire `timer` (and any other due timer of its instance) in this transaction."""
    row = claim(session, timer, lock=lock)
    if isinstance(row, NotFired):
        return row
    runtime.faults.fail("timer_fire")
    try:
        loaded = runtime.load(session, timer.instance_id, row=row)     # the row the claim checked
    except UnloadableInstance as exc:
        # Retrying cannot help: an incident now, in this transaction; the round goes on.
        runtime.quarantine(session, exc, actor=f"worker:{worker}")
        return NotFired.UNLOADABLE
    now = runtime.clock.now()
    # Due at or before now, as the engine's timer check sees it (engine/clock.py, _Reading).
    due = [t for t in sidetables.derive(loaded.workflow).timers if t.due_at <= now]
    if not due:
        return NotFired.SKIPPED
    lateness = [(now - t.due_at).total_seconds() for t in due]
    derived = runtime.change(session, loaded, None, Change(
        "timer_fired", f"worker:{worker}", due[0].element_id, due[0].task_id,
        {"timers": [{"element_id": t.element_id, "task_id": t.task_id, "due_at": t.due_at.isoformat()}
                    for t in due],
         "lateness_seconds": max(lateness)}))
    still_waiting = {(t.task_id, t.due_at) for t in derived.timers}
    fired = [(t, late) for t, late in zip(due, lateness) if (t.task_id, t.due_at) not in still_waiting]
    for t, _ in fired:
        session.add(TimerFiring(instance_id=timer.instance_id, task_id=t.task_id,
                                element_id=t.element_id, due_at=t.due_at, fired_at=now, worker=worker))
    session.flush()   # the unique key refuses a second firing: the whole transaction rolls back
    runtime.faults.pause("timer_before_commit")
    return Fired(len(fired), [late for _, late in fired], derived.status)


def fire_due(runtime, db, *, limit: int, worker: str, policy: RetryPolicy) -> TimerRoundReport:
    """One round: claim up to `limit` due timers and fire each in its own transaction."""
    report = TimerRoundReport()
    sync = getattr(runtime.clock, "sync", None)
    if sync is not None:
        sync()
    pg = db.dialect == "postgresql"
    if pg:
        with db.write_transaction() as session:
            batch = lease_due_timers(session, runtime.clock.now(), limit,
                                     timedelta(seconds=policy.lease_seconds))
    else:
        with db.read_transaction() as session:
            batch = due_timers(session, runtime.clock.now(), limit)
    report.claimed = len(batch)
    for timer in batch:
        _fire_claimed(runtime, db, report, timer, worker=worker, lock=pg, policy=policy)
    return report


def _reclaim(db, timer: DueTimer, now: datetime, policy: RetryPolicy) -> DueTimer | None:
    """A fresh claim on the same timer row, if it is still due (and, on PostgreSQL, free)."""
    if db.dialect == "postgresql":
        with db.write_transaction() as session:
            fresh = lease_due_timers(session, now, 1, timedelta(seconds=policy.lease_seconds), only=timer)
        return fresh[0] if fresh else None
    with db.read_transaction() as session:
        row = session.execute(
            select(WaitingTimer.due_at, WaitingTimer.attempts, ProcessInstance.version)
            .join(ProcessInstance, ProcessInstance.id == WaitingTimer.instance_id)
            .where(WaitingTimer.id == timer.id, WaitingTimer.due_at <= now,
                   ProcessInstance.status.in_(LIVE))).first()
    if row is None:
        return None
    return DueTimer(timer.id, timer.instance_id, timer.task_id, timer.element_id, row.due_at,
                    row.attempts or 0, row.version)


def _fire_claimed(runtime, db, report: TimerRoundReport, timer: DueTimer, *, worker: str, lock: bool,
                  policy: RetryPolicy) -> None:
    for attempt in (1, 2):
        try:
            with db.write_transaction() as session:
                outcome = fire_one(runtime, session, timer, worker=worker, lock=lock)
        except (ConflictError, IntegrityError) as exc:
            # The instance changed (or the firing was recorded) under us: its timers
            # were re-derived by the winner; a still-due timer is picked up next round.
            _conflict(runtime, report, timer, exc)
            return
        except DBAPIError as exc:
            if _sqlstate(exc) in RACE_SQLSTATES:
                _conflict(runtime, report, timer, exc)
            else:
                _failed(runtime, db, report, timer, exc, policy, worker)
            return
        except Exception as exc:  # noqa: BLE001 - one bad timer must not stop the others
            _failed(runtime, db, report, timer, exc, policy, worker)
            return
        if isinstance(outcome, Fired):
            report.fired += outcome.timers
            report.lateness.extend(outcome.lateness)
            runtime.metrics.timers_fired.inc(outcome.timers)
            for late in outcome.lateness:
                runtime.metrics.timer_lateness.observe(max(late, 0.0))
            if outcome.status == "error":
                report.errors += 1
            return
        if outcome is NotFired.UNLOADABLE:
            report.incidents += 1
            report.errors += 1
            runtime.metrics.timer_incidents.inc()
            return
        if outcome is not NotFired.STALE:
            report.skipped += 1
            return
        # The instance changed since the claim: nothing was applied. Claim it afresh, once.
        report.stale += 1
        runtime.metrics.conflicts.inc(source="worker", reason="stale_claim")
        fresh = _reclaim(db, timer, runtime.clock.now(), policy) if attempt == 1 else None
        if fresh is None:
            return
        timer = fresh


def _sqlstate(exc: DBAPIError) -> str | None:
    orig = getattr(exc, "orig", None)
    return getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)


def _conflict(runtime, report: TimerRoundReport, timer: DueTimer, exc: Exception) -> None:
    report.conflicts += 1
    runtime.metrics.conflicts.inc(source="worker", reason=type(exc).__name__)
    log.info("timer %s of instance %s skipped: %s", timer.element_id, timer.instance_id, type(exc).__name__)


def _failed(runtime, db, report: TimerRoundReport, timer: DueTimer, exc: Exception,
            policy: RetryPolicy, worker: str) -> None:
    report.failed += 1
    runtime.metrics.timer_failures.inc()
    try:
        recorded = record_failure(runtime, db, timer, exc, policy, worker=worker)
    except Exception:  # noqa: BLE001 - e.g. the database is gone: the timer stays due, retried next round
        log.exception("timer %s of instance %s failed and the failure could not be recorded",
                      timer.element_id, timer.instance_id)
        return
    incident = recorded.outcome is FailureOutcome.INCIDENT
    if incident:
        report.incidents += 1
        report.errors += 1
        runtime.metrics.timer_incidents.inc()
    log.warning("timer %s of instance %s failed (attempt %s of %s, %s): %s: %s",
                timer.element_id, timer.instance_id, recorded.attempts, policy.max_attempts,
                "incident: instance in error" if incident
                else f"next attempt at {recorded.next_attempt_at.isoformat()}" if recorded.next_attempt_at
                else recorded.outcome.value,
                type(exc).__name__, exc, exc_info=incident)


def record_failure(runtime, db, timer: DueTimer, exc: BaseException, policy: RetryPolicy, *,
                   worker: str) -> RecordedFailure:
    """Count a failed firing: push the timer to its next attempt, or raise an incident."""
    now = runtime.clock.now()
    message = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    with db.write_transaction() as session:
        row = session.execute(
            select(WaitingTimer.attempts).where(WaitingTimer.id == timer.id,
                                                WaitingTimer.due_at == timer.due_at)).first()
        if row is None:
            return RecordedFailure(FailureOutcome.GONE, timer.attempts)
        attempts = (row.attempts or 0) + 1
        if attempts < policy.max_attempts:
            next_at = now + policy.delay(attempts)
            session.execute(update(WaitingTimer).where(WaitingTimer.id == timer.id)
                            .values(attempts=attempts, due_at=next_at)
                            .execution_options(synchronize_session=False))
            return RecordedFailure(FailureOutcome.RETRY, attempts, next_at)
        incident = {
            "kind": "incident",
            "message": f"timer {timer.element_id} could not be fired after {attempts} attempts: {message}",
            "element_id": timer.element_id,
            "task_id": timer.task_id,
            "line": None,
            "exception": type(exc).__name__,
            "attempts": attempts,
            "due_at": timer.due_at.isoformat(),
            "failed_at": now.isoformat(),
            "worker": worker,
        }
        seen = timer.version
        if seen is None:
            seen = session.scalar(select(ProcessInstance.version).where(ProcessInstance.id == timer.instance_id))
        changed = session.execute(
            update(ProcessInstance)
            .where(ProcessInstance.id == timer.instance_id, ProcessInstance.version == seen,
                   ProcessInstance.status.in_(LIVE))
            .values(status="error", error=incident, version=ProcessInstance.version + 1, updated_at=now)
            .execution_options(synchronize_session=False))
        if changed.rowcount != 1:
            return RecordedFailure(FailureOutcome.GONE, attempts)   # the instance moved on: timers re-derived
        session.execute(update(WaitingTimer).where(WaitingTimer.id == timer.id)
                        .values(attempts=attempts).execution_options(synchronize_session=False))
        session.execute(insert(AuditEvent), [dict(
            instance_id=timer.instance_id, at=now, actor=f"worker:{worker}", kind="instance_error",
            element_id=timer.element_id, task_id=timer.task_id, details=incident)])
    return RecordedFailure(FailureOutcome.INCIDENT, attempts)


def round_fields(report: TimerRoundReport, started: float) -> dict:
    """Figures for the worker's round log line."""
    late = sorted(report.lateness)
    return {
        "claimed": report.claimed, "fired": report.fired, "conflicts": report.conflicts,
        "stale": report.stale, "skipped": report.skipped, "failed": report.failed,
        "incidents": report.incidents, "errors": report.errors,
        "max_lateness_s": round(late[-1], 3) if late else None,
        "duration_ms": round((time.monotonic() - started) * 1000, 1),
    }
