"""Timers: due times read from the indexed table, fired once when the clock passes them."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.models import TimerFiring, WaitingTimer
from engine.timers import due_timers
from tests.support import ENGINE_BUNDLE


@pytest.fixture
def waiting(engine):
    engine.deploy([ENGINE_BUNDLE])
    inst = engine.start_instance("approval", variables={"candidate_id": "c-1"})
    return engine.complete_task(inst.ready_tasks[0].id,
                                {"decision": "yes", "reason": "salary", "manager": "wang"}, actor="hr")


def test_p30d_timer_due_time_is_in_the_timer_table(waiting, engine, db, clock):
    assert waiting.status == "waiting"
    with db.read_transaction() as s:
        rows = s.scalars(select(WaitingTimer)).all()
    assert [(r.instance_id, r.element_id, r.due_at) for r in rows] == [
        (waiting.id, "wait_day_30", clock.now() + timedelta(days=30))]
    # The worker's query reads only that table (no instance is deserialized).
    with db.read_transaction() as s:
        assert due_timers(s, clock.now(), 10) == []
        assert [t.element_id for t in due_timers(s, clock.now() + timedelta(days=30, seconds=1), 10)] == ["wait_day_30"]


def test_timer_fires_exactly_once_when_the_clock_passes_it(waiting, engine, db, clock):
    clock.advance(timedelta(days=29, hours=23))
    assert engine.fire_due_timers().fired == 0
    clock.advance(timedelta(hours=2))
    assert engine.fire_due_timers().fired == 1
    assert engine.fire_due_timers().fired == 0
    clock.advance(timedelta(days=1))
    assert engine.fire_due_timers().fired == 0           # the 2-day reminder is not due yet
    with db.read_transaction() as s:
        firings = s.scalars(select(TimerFiring)).all()
    assert [(f.element_id, f.instance_id) for f in firings] == [("wait_day_30", waiting.id)]
    inst = engine.get_instance(waiting.id)
    assert [t.element_id for t in inst.ready_tasks] == ["follow_up"]
    assert [e.kind for e in engine.history(waiting.id)].count("timer_fired") == 1


def test_non_interrupting_boundary_timer_keeps_the_task(waiting, engine, clock):
    clock.advance(timedelta(days=30, seconds=1))
    engine.fire_due_timers()
    clock.advance(timedelta(days=2, seconds=1))
    assert engine.fire_due_timers().fired == 1
    inst = engine.get_instance(waiting.id)
    assert [t.element_id for t in inst.ready_tasks] == ["follow_up"]    # reminder did not cancel it
    assert inst.waiting_timers == []
    assert any(e.element_id == "end_reminded" for e in engine.history(waiting.id))


def test_overdue_timer_fires_once_after_downtime_and_later_timers_start_from_then(waiting, engine, clock):
    clock.advance(timedelta(days=40))                # the worker was down for ten days
    assert engine.run_until_idle().fired == 1
    inst = engine.get_instance(waiting.id)
    assert [(t.element_id, t.due_at) for t in inst.waiting_timers] == [
        ("remind_after_2_days", clock.now() + timedelta(days=2))]
    history = [e for e in engine.history(waiting.id) if e.kind == "timer_fired"]
    assert history[0].details["lateness_seconds"] == timedelta(days=10).total_seconds()


def test_a_timer_fires_at_exactly_its_due_time(waiting, engine, db, clock):
    """Due means due at or before now, for the worker's query and the engine's own check alike
    (engine/clock.py): a simulated clock set exactly to the due time fires it (it used to wait for
    the next tick, which a clock that stands still never gives; model-based suite, M2). Had the two
    disagreed, the worker would record a firing that never happened and block the timer for good."""
    due = engine.get_instance(waiting.id).waiting_timers[0].due_at
    clock.set(due - timedelta(microseconds=1))
    assert engine.fire_due_timers().fired == 0
    clock.set(due)
    assert engine.fire_due_timers().fired == 1
    assert engine.fire_due_timers().fired == 0
    with db.read_transaction() as s:
        assert len(s.scalars(select(TimerFiring)).all()) == 1


# ---------- claims, failures, backoff, incidents ----------
from sqlalchemy import update  # noqa: E402

from engine.models import ProcessInstance  # noqa: E402
from engine.status import collect  # noqa: E402
from engine.timers import NotFired, RetryPolicy, fire_due, fire_one  # noqa: E402


def _due_now(engine, clock):
    clock.advance(timedelta(days=30, seconds=1))
    with engine.db.read_transaction() as s:
        return due_timers(s, clock.now(), 10)


def _firings(db):
    with db.read_transaction() as s:
        return s.scalars(select(TimerFiring)).all()


def test_a_claim_that_went_stale_applies_nothing_and_the_timer_fires_once_later(waiting, engine, db, clock):
    [claimed] = _due_now(engine, clock)
    assert claimed.version == 2
    # Someone changes the instance between the claim and the firing.
    with db.write_transaction() as s:
        s.execute(update(ProcessInstance).where(ProcessInstance.id == waiting.id)
                  .values(version=ProcessInstance.version + 1))
    with db.write_transaction() as s:
        assert fire_one(engine.runtime, s, claimed, worker="slow", lock=db.dialect == "postgresql") is NotFired.STALE
    assert _firings(db) == [] and engine.get_instance(waiting.id).ready_tasks == []
    report = engine.fire_due_timers(worker="next")
    assert (report.fired, report.stale) == (1, 0)
    with db.write_transaction() as s:      # the old claim again: the row it names is gone
        assert fire_one(engine.runtime, s, claimed, worker="slow", lock=db.dialect == "postgresql") is NotFired.SKIPPED
    assert [(f.element_id, f.worker) for f in _firings(db)] == [("wait_day_30", "next")]


def test_a_stale_claim_is_counted_and_claimed_afresh(waiting, engine, db, clock, monkeypatch):
    clock.advance(timedelta(days=30, seconds=1))
    import engine.timers as timers_mod
    name = "lease_due_timers" if db.dialect == "postgresql" else "due_timers"
    real = getattr(timers_mod, name)

    def claim_then_someone_changes_it(*args, **kw):
        batch = real(*args, **kw)
        if kw.get("only") is None:
            for t in batch:
                t.version -= 1        # as if claimed just before another change committed
        return batch
    monkeypatch.setattr(timers_mod, name, claim_then_someone_changes_it)
    report = engine.fire_due_timers()
    # the stale claim applied nothing; the timer was claimed afresh and fired, once
    assert (report.fired, report.stale) == (1, 1)
    assert engine.fire_due_timers().fired == 0
    assert len(_firings(db)) == 1


def test_a_failing_firing_is_retried_with_backoff_then_becomes_an_incident(waiting, engine, db, clock):
    policy = RetryPolicy(max_attempts=3, base_seconds=60, max_seconds=3600)
    clock.advance(timedelta(days=30, seconds=1))
    with engine.faults.injected("timer_fire"):
        first = fire_due(engine.runtime, db, limit=10, worker="w", policy=policy)
        assert (first.fired, first.failed, first.incidents) == (0, 1, 0)
        [timer] = engine.get_instance(waiting.id).waiting_timers
        assert timer.due_at == clock.now() + timedelta(seconds=60)        # next attempt
        assert fire_due(engine.runtime, db, limit=10, worker="w", policy=policy).claimed == 0
        clock.advance(timedelta(seconds=61))
        second = fire_due(engine.runtime, db, limit=10, worker="w", policy=policy)
        assert second.failed == 1
        assert engine.get_instance(waiting.id).waiting_timers[0].due_at == clock.now() + timedelta(seconds=120)
        clock.advance(timedelta(seconds=121))
        third = fire_due(engine.runtime, db, limit=10, worker="w", policy=policy)
        assert (third.failed, third.incidents, third.errors) == (1, 1, 1)
        clock.advance(timedelta(days=1))
        assert fire_due(engine.runtime, db, limit=10, worker="w", policy=policy).claimed == 0   # no loop
    inst = engine.get_instance(waiting.id)
    assert inst.status == "error" and inst.row_version == 3
    assert inst.error["kind"] == "incident" and inst.error["attempts"] == 3
    assert inst.error["element_id"] == "wait_day_30" and "InjectedFault" in inst.error["message"]
    assert [e.kind for e in engine.history(waiting.id)][-1] == "instance_error"
    report = collect(engine)
    assert report["incidents_total"] == 1 and report["errors_total"] == 1
    assert report["incidents"][0]["id"] == waiting.id
    assert _firings(db) == []

    retried = engine.retry_instance(waiting.id, actor="admin")           # the cause is gone
    assert retried.status == "running" and [t.element_id for t in retried.ready_tasks] == ["follow_up"]
    assert collect(engine)["incidents_total"] == 0


def test_a_transient_failure_recovers_on_the_next_attempt_and_fires_once(waiting, engine, db, clock):
    policy = RetryPolicy(max_attempts=3, base_seconds=5)
    clock.advance(timedelta(days=30, seconds=1))
    with engine.faults.injected("timer_fire", times=1):
        assert fire_due(engine.runtime, db, limit=10, worker="w", policy=policy).failed == 1
    assert collect(engine)["timers_retrying"] == 1
    clock.advance(timedelta(seconds=6))
    report = fire_due(engine.runtime, db, limit=10, worker="w", policy=policy)
    assert (report.fired, report.failed) == (1, 0)
    assert len(_firings(db)) == 1
    inst = engine.get_instance(waiting.id)
    assert [t.element_id for t in inst.ready_tasks] == ["follow_up"]
    # the re-derived row carries the true due time of the next timer and no attempts
    assert inst.waiting_timers[0].due_at == clock.now() + timedelta(days=2)
    assert collect(engine)["timers_retrying"] == 0


def test_one_failing_timer_does_not_hold_up_the_others(engine, db, clock):
    engine.deploy([ENGINE_BUNDLE])
    ids = []
    for n in range(3):
        inst = engine.start_instance("approval", variables={"candidate_id": f"c-{n}"})
        ids.append(engine.complete_task(inst.ready_tasks[0].id,
                                        {"decision": "yes", "reason": "salary", "manager": "m"}, actor="hr").id)
        clock.advance(timedelta(seconds=1))
    clock.advance(timedelta(days=30))
    with engine.faults.injected("timer_fire", times=1):        # the oldest one fails
        report = engine.fire_due_timers()
    assert (report.fired, report.failed) == (2, 1)
    assert [engine.get_instance(i).status for i in ids] == ["waiting", "running", "running"]


def test_the_retry_policy_comes_from_the_settings():
    from engine.config import Settings
    policy = RetryPolicy.from_settings(Settings.from_env(
        {"RECALL_TIMER_MAX_ATTEMPTS": "7", "RECALL_TIMER_RETRY_SECONDS": "2", "RECALL_TIMER_RETRY_MAX_SECONDS": "10"}))
    assert policy.max_attempts == 7
    assert [policy.delay(n).total_seconds() for n in (1, 2, 3, 4, 5)] == [2, 4, 8, 10, 10]
    assert RetryPolicy.from_settings(Settings()) == RetryPolicy()
    with pytest.raises(ValueError, match="RECALL_TIMER_MAX_ATTEMPTS='many': expected an integer >= 1"):
        Settings.from_env({"RECALL_TIMER_MAX_ATTEMPTS": "many"})


def test_a_fault_before_the_commit_leaves_the_instance_as_it_was(waiting, engine, db, clock):
    clock.advance(timedelta(days=30, seconds=1))
    before = engine.get_instance(waiting.id)
    with engine.faults.injected("before_commit", times=1):
        report = engine.fire_due_timers()
    assert (report.fired, report.failed) == (0, 1)
    after = engine.get_instance(waiting.id)
    assert (after.row_version, after.status, after.ready_tasks) == (before.row_version, "waiting", [])
    assert _firings(db) == []
    with db.read_transaction() as s:
        assert s.scalar(select(WaitingTimer.attempts)) == 1
    clock.advance(timedelta(seconds=11))              # the default first retry delay
    assert engine.fire_due_timers().fired == 1
    assert len(_firings(db)) == 1


# ---------- the database's clock ----------
def test_database_clock_follows_the_server_not_the_machine(db):
    from datetime import datetime, timezone

    from engine.clock import DatabaseClock, SystemClock

    skewed = SystemClock(skew=timedelta(minutes=10))
    clock = DatabaseClock(db, base=skewed)
    offset = clock.sync()
    real = datetime.now(timezone.utc)
    if db.dialect == "postgresql":
        assert abs(offset + timedelta(minutes=10)) < timedelta(seconds=5)
        assert abs(clock.now() - real) < timedelta(seconds=5)
        assert clock.now() <= skewed.now()
    else:                                     # no server clock on SQLite: the machine's
        assert offset == timedelta(0) and clock.now() - real > timedelta(minutes=9)


def test_a_worker_with_a_clock_ten_minutes_ahead_fires_nothing_early_on_postgresql(database_url, db):
    from datetime import datetime, timezone

    from engine.clock import DatabaseClock, SimulatedClock, SystemClock
    from engine.service import RecallEngine
    from engine.worker import Worker

    if db.dialect != "postgresql":
        pytest.skip("several workers and a server clock: PostgreSQL")
    real = datetime.now(timezone.utc)
    setup = RecallEngine(db, clock=SimulatedClock(real - timedelta(days=30) + timedelta(minutes=5)))
    setup.deploy([ENGINE_BUNDLE])
    inst = setup.start_instance("approval", variables={"candidate_id": "c-early"})
    setup.complete_task(inst.ready_tasks[0].id, {"decision": "yes", "reason": "salary", "manager": "m"},
                        actor="hr")                      # due in 5 minutes, real time
    skewed = SystemClock(skew=timedelta(minutes=10))
    # Without the database's time this machine would fire it now (the check the fix is for).
    with db.read_transaction() as s:
        assert len(due_timers(s, skewed.now(), 10)) == 1
    # As `recall worker` makes it (from_settings(database_time=True)): its clock follows the server's.
    ahead = RecallEngine(db, clock=DatabaseClock.around(db, skewed))
    worker = Worker(ahead, poll_seconds=0.1, batch_size=10, name="ahead")
    assert worker.run_once() == 0
    assert abs(ahead.clock.now() - datetime.now(timezone.utc)) < timedelta(seconds=5)
    assert _firings(db) == []


class JumpingClock:
    """The simulated time, then 31 days later from the second reading on: another request
    advancing a shared simulated clock in the middle of this one's unit of work."""

    simulated = True

    def __init__(self, start):
        self.start, self.readings = start, 0

    def now(self):
        self.readings += 1
        return self.start if self.readings == 1 else self.start + timedelta(days=31)


def test_a_clock_that_jumps_during_a_change_does_not_fire_a_timer_armed_in_it(engine, clock):
    """Seen under load with `recall serve --processes 2`: the P30D timer armed at the old time
    and checked at the new one fired inside the change and was left READY, unrun: the
    instance looked stalled and went to error. A change now reads the clock once."""
    engine.deploy([ENGINE_BUNDLE])
    inst = engine.start_instance("approval", variables={"candidate_id": "c-1"})
    jumping = JumpingClock(clock.now())
    engine.clock = engine.runtime.clock = jumping
    done = engine.complete_task(inst.ready_tasks[0].id, {"decision": "yes", "reason": "salary", "manager": "wang"},
                                actor="hr")
    assert done.status == "waiting" and done.error is None
    assert [(t.element_id, t.due_at) for t in done.waiting_timers] == [("wait_day_30", clock.now() + timedelta(days=30))]


def test_a_timer_that_fires_while_the_engine_steps_run_is_run_in_the_same_change(engine, clock, db):
    """SpiffWorkflow's do_engine_steps ends by refreshing timers, which can make one READY
    without running it; Runtime.run steps again until no engine task is READY."""
    from SpiffWorkflow.util.task import TaskState

    engine.deploy([ENGINE_BUNDLE])
    inst = engine.start_instance("approval", variables={"candidate_id": "c-1"})
    with db.write_transaction() as s:
        loaded = engine.runtime.load(s, inst.id)
        task = loaded.workflow.get_task_from_id(__import__("uuid").UUID(inst.ready_tasks[0].id))

        def complete(wf):
            task.data.update({"decision": "yes", "reason": "salary", "manager": "wang"})
            task.run()

        steps = []
        assert engine.runtime.run(loaded.workflow, complete, steps, clock=JumpingClock(clock.now())) is None
        ready = [t.task_spec.name for t in loaded.workflow.get_tasks(state=TaskState.READY)]
        assert ready == ["follow_up"]                    # the fired timer ran on to the next user task
        assert "wait_day_30" in [t.task_spec.name for t in steps]
        s.rollback()
