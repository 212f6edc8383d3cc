"""A worker SIGKILLed in the middle of firing: after a restart the timer fired exactly once."""
from __future__ import annotations

import os
import select as io_select
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from engine.models import AuditEvent, TimerFiring, WaitingTimer
from tests.support import ENGINE_BUNDLE, ROOT

pytestmark = pytest.mark.slow


def _worker(database_url: str, *, pause: str | None = None) -> subprocess.Popen:
    # On PostgreSQL the killed worker's claim (a lease) hides the timer until it runs out: keep it short.
    env = {**os.environ, "RECALL_DATABASE_URL": database_url, "RECALL_WORKER_POLL_SECONDS": "0.1",
           "RECALL_TIMER_LEASE_SECONDS": "2"}
    env.pop("RECALL_FAULT_PAUSE", None)
    if pause:
        env["RECALL_FAULT_PAUSE"] = pause
    return subprocess.Popen([sys.executable, "-m", "cli", "worker"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_for_line(proc: subprocess.Popen, needle: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        ready, _, _ = io_select.select([proc.stderr], [], [], 0.2)
        if not ready:
            continue
        line = proc.stderr.readline()
        seen.append(line)
        if needle in line:
            return
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"worker never printed {needle!r}; it printed: {''.join(seen)[-2000:]}")


def test_worker_killed_mid_firing_fires_the_timer_exactly_once(database_url, db):
    from engine.clock import SimulatedClock
    from engine.service import RecallEngine

    # The case was set up 31 days ago, so its 30-day timer is due for a worker on the system clock.
    past = SimulatedClock(datetime.now(timezone.utc) - timedelta(days=31))
    engine = RecallEngine(db, clock=past)
    engine.deploy([ENGINE_BUNDLE])
    inst = engine.start_instance("approval", variables={"candidate_id": "c-crash"})
    engine.complete_task(inst.ready_tasks[0].id, {"decision": "yes", "reason": "team", "manager": "m"},
                         actor="hr")
    with db.read_transaction() as s:
        assert s.scalar(select(func.count()).select_from(WaitingTimer)
                        .where(WaitingTimer.due_at <= datetime.now(timezone.utc))) == 1

    doomed = _worker(database_url, pause="timer_before_commit:60")
    try:
        _wait_for_line(doomed, "fault-pause timer_before_commit")
        doomed.send_signal(signal.SIGKILL)
    finally:
        if doomed.poll() is None:
            doomed.kill()
        doomed.communicate(timeout=10)
    assert doomed.returncode == -signal.SIGKILL
    with db.read_transaction() as s:
        assert s.scalar(select(func.count()).select_from(TimerFiring)) == 0   # rolled back with it

    survivor = _worker(database_url)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if engine.get_instance(inst.id).ready_tasks:
                break
            time.sleep(0.1)
        time.sleep(0.5)     # a few more polls: nothing may fire twice
    finally:
        survivor.send_signal(signal.SIGTERM)
        out, err = survivor.communicate(timeout=20)
    assert survivor.returncode == 0, err
    assert "worker_stopped" in err
    with db.read_transaction() as s:
        assert s.scalar(select(func.count()).select_from(TimerFiring)) == 1
        assert s.scalar(select(func.count()).select_from(AuditEvent)
                        .where(AuditEvent.kind == "timer_fired")) == 1
    assert [t.element_id for t in engine.get_instance(inst.id).ready_tasks] == ["follow_up"]
