"""Timers: due times read from the indexed table, fired once when the clock passes them."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.models import TimerFiring, WaitingTimer
from engine.timers import due_timers
from support import ENGINE_BUNDLE


@pytest.fixture
def waiting(engine):
    engine.deploy([ENGINE_BUNDLE])
    inst = engine.start_instance("approval", variables={"candidate_id": "c-1"})
    return engine.complete_task(inst.ready_tasks[0].id,
                                {"decision": "yes", "reason": "salary", "manager": "wang"}, actor="hr")


def test_p30d_timer_due_time_is_in_the_timer_table(waiting, engine, db, clock):
    assert waiting.status == "waiting"
    with db.reading() as s:
        rows = s.scalars(select(WaitingTimer)).all()
    assert [(r.instance_id, r.element_id, r.due_at) for r in rows] == [
        (waiting.id, "wait_day_30", clock.now() + timedelta(days=30))]
    # The worker's query reads only that table (no instance is deserialized).
    with db.reading() as s:
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
    with db.reading() as s:
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


def test_a_timer_exactly_at_its_due_time_waits_for_the_next_tick(waiting, engine, db, clock):
    """SpiffWorkflow fires strictly after the due time; the worker must agree or it would
    record a firing that never happened and block the timer for good."""
    due = engine.get_instance(waiting.id).waiting_timers[0].due_at
    clock.set(due)
    assert engine.fire_due_timers().fired == 0
    clock.advance(timedelta(microseconds=1))
    assert engine.fire_due_timers().fired == 1
    with db.reading() as s:
        assert len(s.scalars(select(TimerFiring)).all()) == 1
