"""Workers whose clocks are set 10 minutes ahead fire nothing early on PostgreSQL.

Two `recall worker` processes run with RECALL_FAULT_CLOCK_SKEW_SECONDS=600: their own
clock reads ten minutes ahead. Timers due a little in the past, in 6 seconds, in 2 and
in 9.5 minutes (all inside the skew): the past one fires at once, the 6-second one
when the database's clock passes it, the others not at all while we watch.
"""
from __future__ import annotations

import signal
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from engine.clock import SimulatedClock
from engine.models import AuditEvent, TimerFiring, WaitingTimer
from tests.reliability.reliability_support import json_lines, pg_url, report, tick_bundle
from tests.servers import engine_for, start_worker

pytestmark = pytest.mark.slow
__all__ = ["pg_url"]

SKEW = 600
OFFSETS = {"past": -2, "soon": 6, "in_2_min": 120, "in_9_5_min": 570}     # seconds from now, real time


def _db_now(db) -> datetime:
    with db.read_transaction() as s:
        return s.scalar(text("SELECT clock_timestamp()")).astimezone(timezone.utc)


def test_workers_ten_minutes_ahead_fire_nothing_early(pg_url, tmp_path):
    engine = engine_for(pg_url, SimulatedClock(datetime.now(timezone.utc) - timedelta(days=1)))
    engine.deploy([tick_bundle(tmp_path / "bundle")])
    db = engine.db
    base = _db_now(db)
    due = {}
    for name, offset in OFFSETS.items():        # a one-hour timer started an hour before its due time
        engine.clock.set(base + timedelta(seconds=offset) - timedelta(hours=1))
        inst = engine.start_instance("tick", business_key=name)
        due[name] = (inst.id, inst.waiting_timers[0].due_at)

    workers = [start_worker(pg_url, tmp_path / f"worker-{n}.log", RECALL_FAULT_CLOCK_SKEW_SECONDS=SKEW,
                            RECALL_WORKER_POLL_SECONDS="0.1") for n in range(2)]
    seen_fired = {}
    try:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and len(seen_fired) < 2:
            now = _db_now(db)
            with db.read_transaction() as s:
                for instance_id, fired_at in s.execute(select(TimerFiring.instance_id, TimerFiring.fired_at)):
                    seen_fired.setdefault(instance_id, (fired_at, now))
            for proc in workers:
                assert proc.poll() is None
            time.sleep(0.05)
        time.sleep(1.5)                   # many more rounds (0.1 s apart): still nothing early
    finally:
        for proc in workers:
            proc.send_signal(signal.SIGTERM)
        codes = [proc.wait(timeout=30) for proc in workers]
    assert codes == [0, 0]
    watched_until = _db_now(db)

    with db.read_transaction() as s:
        firings = {r.instance_id: r for r in s.execute(select(TimerFiring.__table__))}
        audit_times = [r for r in s.scalars(select(AuditEvent.at).where(AuditEvent.kind == "timer_fired"))]
        still_waiting = set(s.scalars(select(WaitingTimer.instance_id)))
    by_id = {instance_id: name for name, (instance_id, _) in due.items()}
    assert {by_id[i] for i in firings} == {"past", "soon"}
    assert {by_id[i] for i in still_waiting} == {"in_2_min", "in_9_5_min"}
    for instance_id, firing in firings.items():
        name = by_id[instance_id]
        observed_fired, observed_db_now = seen_fired[instance_id]
        assert firing.fired_at > firing.due_at == due[name][1]
        # recorded in the database's time, not ten minutes ahead
        assert firing.fired_at <= observed_db_now + timedelta(seconds=1)
    assert all(at <= watched_until for at in audit_times)
    offsets = [e["clock_offset_s"] for n in range(2)
               for e in json_lines((tmp_path / f"worker-{n}.log").read_text()) if e.get("event") == "round"]
    assert offsets and all(-SKEW - 5 < o < -SKEW + 5 for o in offsets)
    soon = firings[due["soon"][0]]
    report("clock skew", skew_s=SKEW, workers=2, fired=sorted(by_id[i] for i in firings),
           not_fired=sorted(by_id[i] for i in still_waiting),
           soon_fired_after_due_s=round((soon.fired_at - soon.due_at).total_seconds(), 3),
           worker_offset_s=round(sum(offsets) / len(offsets), 3))
    engine.db.dispose()
