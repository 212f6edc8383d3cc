"""2,000 due timers, 3 `recall worker` processes on PostgreSQL, a random worker SIGKILLed at least
20 times while they fire and restarted: every timer fired exactly once.

Checked three ways: the `timer_firings` rows (unique on instance, task, due time — a
second firing cannot commit), the audit trail (one `timer_fired` per instance), and the
instances themselves (each completed at version 2: started, fired once).
"""
from __future__ import annotations

import random
import signal
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from engine.clock import SimulatedClock
from engine.models import AuditEvent, ProcessInstance, TimerFiring, WaitingTimer
from tests.reliability.reliability_support import clone_instances, json_lines, percentile, pg_url, report, tick_bundle
from tests.servers import engine_for, start_worker

pytestmark = pytest.mark.slow
__all__ = ["pg_url"]

TIMERS = 2000
ORIGINALS = 100                 # started through the engine; the rest are copies of them
WORKERS = 3
KILLS = 20                      # at least
KILL_POINTS = 22                # planned, spread over the run's progress
WORKER_ENV = {"RECALL_WORKER_POLL_SECONDS": "0.2", "RECALL_TIMER_BATCH_SIZE": "20", "RECALL_LOG_LEVEL": "INFO",
              "RECALL_TIMER_LEASE_SECONDS": "5"}      # a killed worker's claims come back after 5 s


def _setup(url, tmp_path):
    # Started an hour and a minute ago (simulated), half a second apart: the one-hour
    # timers fell due over the last ~50 seconds.
    real = datetime.now(timezone.utc)
    clock = SimulatedClock(real - timedelta(hours=1, seconds=60))
    engine = engine_for(url, clock)
    engine.deploy([tick_bundle(tmp_path / "bundle")])
    for n in range(ORIGINALS):
        engine.start_instance("tick", business_key=f"tick-{n}", actor="setup")
        clock.advance(timedelta(milliseconds=500))
    assert clone_instances(engine.db, TIMERS // ORIGINALS - 1) == TIMERS
    with engine.db.read_transaction() as s:
        assert s.scalar(select(func.count()).select_from(WaitingTimer)
                        .where(WaitingTimer.due_at < datetime.now(timezone.utc))) == TIMERS
    return engine


def _started(log_path) -> bool:
    return log_path.exists() and '"worker_started"' in log_path.read_text(errors="replace")


def test_two_thousand_timers_three_workers_twenty_kills_every_timer_fired_exactly_once(pg_url, tmp_path):
    engine = _setup(pg_url, tmp_path)
    db = engine.db
    rng = random.Random(20260105)
    generation = 0
    logs = []

    def spawn():
        nonlocal generation
        generation += 1
        path = tmp_path / f"worker-{generation}.log"
        logs.append(path)
        return start_worker(pg_url, path, **WORKER_ENV), path

    slots = [spawn() for _ in range(WORKERS)]
    kill_at = [TIMERS * (k + 1) // (KILL_POINTS + 1) for k in range(KILL_POINTS)]
    kills, killed_codes = 0, []
    started = time.monotonic()
    last_progress, last_fired = started, -1
    try:
        while True:
            with db.read_transaction() as s:
                fired = s.scalar(select(func.count()).select_from(TimerFiring))
            if fired >= TIMERS:
                break
            now = time.monotonic()
            if fired != last_fired:
                last_fired, last_progress = fired, now
            assert now - last_progress < 90, f"no timer fired for 90 s ({fired} of {TIMERS} fired)"
            if kill_at and fired >= kill_at[0]:
                ready = [i for i, (proc, path) in enumerate(slots) if proc.poll() is None and _started(path)]
                if ready:
                    victim = rng.choice(ready)
                    proc, _ = slots[victim]
                    proc.send_signal(signal.SIGKILL)
                    killed_codes.append(proc.wait(timeout=10))
                    kills += 1
                    kill_at.pop(0)
                    slots[victim] = spawn()                 # restart it at once
            for i, (proc, path) in enumerate(slots):
                assert proc.poll() is None, f"worker {path.name} exited on its own:\n{path.read_text()[-3000:]}"
            time.sleep(0.05)
        run_seconds = time.monotonic() - started
        time.sleep(1.0)                 # a few more rounds: nothing may fire twice
    finally:
        for proc, _ in slots:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        codes = []
        for proc, path in slots:
            try:
                codes.append(proc.wait(timeout=30))
            except Exception:
                proc.kill()
                raise

    assert kills >= KILLS, f"only {kills} kills happened during the run"
    assert killed_codes == [-signal.SIGKILL] * kills
    assert codes == [0] * WORKERS, [p.read_text()[-2000:] for _, p in slots]

    with db.read_transaction() as s:
        firings = s.scalar(select(func.count()).select_from(TimerFiring))
        fired_instances = s.scalar(select(func.count(func.distinct(TimerFiring.instance_id))))
        audit = dict(s.execute(select(AuditEvent.instance_id, func.count()).where(AuditEvent.kind == "timer_fired")
                               .group_by(AuditEvent.instance_id)).all())
        states = dict(s.execute(select(ProcessInstance.status, func.count()).group_by(ProcessInstance.status)).all())
        versions = set(s.scalars(select(ProcessInstance.version).distinct()))
        waiting = s.scalar(select(func.count()).select_from(WaitingTimer))
        workers_seen = s.scalar(select(func.count(func.distinct(TimerFiring.worker))))
        lateness = [(f - d).total_seconds() for f, d in s.execute(select(TimerFiring.fired_at, TimerFiring.due_at))]
    assert (firings, fired_instances) == (TIMERS, TIMERS)
    assert len(audit) == TIMERS and set(audit.values()) == {1}
    assert states == {"completed": TIMERS} and versions == {2} and waiting == 0
    assert workers_seen > WORKERS            # restarted workers fired too
    assert min(lateness) > 0                 # nothing before its due time

    # The uniqueness constraint itself refuses a second firing of a timer.
    with db.read_transaction() as s:
        one = s.execute(select(TimerFiring.__table__).limit(1)).mappings().one()
    with pytest.raises(IntegrityError):
        with db.write_transaction() as s:
            s.execute(TimerFiring.__table__.insert().values(
                **{k: v for k, v in one.items() if k not in ("id", "worker")}, worker="duplicate"))

    rounds, tails = [], 0
    for path in logs:
        content = path.read_text(errors="replace")
        lines = content.splitlines()
        try:
            entries = json_lines(content)
        except ValueError:                   # a line cut short by SIGKILL, at most the last one
            entries = json_lines("\n".join(lines[:-1]))
            tails += 1
        rounds += [e for e in entries if e.get("event") == "round"]
    assert rounds and all({"ts", "level", "worker", "fired", "duration_ms"} <= set(e) for e in rounds)
    assert sum(e["failed"] for e in rounds) == 0 and sum(e["incidents"] for e in rounds) == 0
    with db.read_transaction() as s:
        db_now = s.scalar(text("SELECT clock_timestamp()"))
    report("timer kills", timers=TIMERS, workers=WORKERS, kills=kills, worker_processes=generation,
           firings=firings, run_s=round(run_seconds, 1), per_s=round(TIMERS / run_seconds, 1),
           conflicts=sum(e["conflicts"] for e in rounds), stale_claims=sum(e["stale"] for e in rounds),
           skipped=sum(e["skipped"] for e in rounds), cut_log_lines=tails,
           lateness_p50_s=round(percentile(lateness, 50), 2), lateness_p99_s=round(percentile(lateness, 99), 2),
           db_now=db_now.isoformat(timespec="seconds"))
    engine.db.dispose()
