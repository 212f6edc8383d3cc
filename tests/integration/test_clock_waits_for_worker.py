"""Advancing the simulated clock returns once all that became due ran — also what the worker had started.

Found by the model-based suite (tests/model/test_regressions.py 13.6, flaky on PostgreSQL): the
embedded worker leased a due timer (its row hidden for the lease) and was still firing it when
`POST /testing/clock` ran `run_until_idle`, which found nothing due and returned; the next task was
not there yet. `run_until_idle` now waits for a round of the engine's worker under way.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

from engine.clock import SimulatedClock
from engine.faults import Faults
from engine.service import RecallEngine
from engine.worker import Worker
from tests.support import ENGINE_BUNDLE

START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
REVIEW = {"decision": "yes", "reason": "salary", "manager": "mgr"}


def test_run_until_idle_waits_for_the_workers_firing_under_way(db):
    engine = RecallEngine(db, clock=SimulatedClock(START), faults=Faults(pause=("timer_before_commit", 1.0)))
    engine.deploy([ENGINE_BUNDLE])
    inst = engine.start_instance("approval", variables={"candidate_id": "c-1"})
    engine.complete_task(inst.ready_tasks[0].id, REVIEW, actor="hr.li")
    (timer,) = engine.get_instance(inst.id).waiting_timers
    engine.clock.set(timer.due_at)                       # due now: the worker takes it and pauses before its commit
    worker = Worker(engine, poll_seconds=0.05)
    round_done = threading.Thread(target=worker.run_once)
    round_done.start()
    time.sleep(0.3)                                      # the worker holds the timer (leased on PostgreSQL)
    engine.run_until_idle(worker="testing-clock")
    after = engine.get_instance(inst.id)
    round_done.join(10)
    assert timer.task_id not in [t.task_id for t in after.waiting_timers], after.waiting_timers
    assert "timer_fired" in [h.kind for h in engine.history(inst.id)]
