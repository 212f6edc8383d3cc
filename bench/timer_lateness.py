"""Timer lateness under a steady load: how long after its due time a timer fires (p50/p99), with
1,000 timers falling due per minute among 50,000 waiting instances, fired by real
`recall worker` processes on the system clock.

    .venv/bin/python bench/timer_lateness.py [--quick] [--postgres URL] [--no-postgres]
                                             [--rate N] [--minutes M] [--filler N] [--pg-workers W]

Method. Per database (a SQLite file; a PostgreSQL schema): bench/timer_scale.py's
TimerTable starts one real `bench_timer` instance (a "P1D" timer) as the template and
adds `--filler` waiting instances whose timers fall due months later (indexed like real
rows, never due during the run). Then `rate x minutes` copies of the template instance
are inserted, each with its serialized state's due time rewritten so that they fall due
one after the other, evenly, from a few seconds after the workers start: a steady
`--rate` per minute. The workers are real processes with the default settings
(`RECALL_WORKER_POLL_SECONDS=1`, batch 100): one on SQLite (its single-writer model),
`--pg-workers` (2) on PostgreSQL. Lateness is `fired_at - due_at` of each firing, from
the `timer_firings` table (the workers' own clock: the database's, on PostgreSQL).

Expect p50 about half the poll interval plus the firing itself, p99 about one poll
interval: the worker looks for due timers once per second when it is idle.
`--quick` (a smoke check): 600 per minute for 30 s among 5,000.
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import func, insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from engine.models import ProcessInstance, TimerFiring, WaitingTimer  # noqa: E402
from engine_overhead import PG_DEFAULT, postgres_reachable, postgres_schema  # noqa: E402
from timer_scale import TimerTable  # noqa: E402

LEAD = timedelta(seconds=8)        # from the workers' start to the first due time


def _rewrite_due(state: bytes, old: str, new: str) -> bytes:
    compressed = state.startswith(b"z:")
    raw = zlib.decompress(state[2:]) if compressed else state
    assert raw.count(old.encode()) == 1, "the template's due time must appear once in its state"
    raw = raw.replace(old.encode(), new.encode())
    return b"z:" + zlib.compress(raw, 6) if compressed else raw


def prepare(url: str, filler: int, count: int, rate: float, window_end: datetime) -> tuple[TimerTable, datetime]:
    table = TimerTable(url)
    table.fire_at = window_end + timedelta(hours=1)         # filler falls due a day after that, and later
    table.add_filler(filler)
    with table.db.read_transaction() as s:
        template = dict(s.execute(select(ProcessInstance.__table__)
                                  .where(ProcessInstance.id == table.template)).mappings().one())
    old = table.due_at.isoformat()
    first = datetime.now(timezone.utc) + LEAD + timedelta(seconds=count / 2000)   # inserting takes a moment
    step = 60.0 / rate
    rows, timers = [], []
    for n in range(count):
        due = first + timedelta(seconds=n * step)
        instance_id = f"steady-{n:08d}-{uuid.uuid4().hex[:8]}"
        rows.append({**template, "id": instance_id, "status": "waiting",
                     "state": _rewrite_due(template["state"], old, due.isoformat())})
        timers.append({"instance_id": instance_id, "task_id": table.task_id, "element_id": table.element_id,
                       "due_at": due, "attempts": 0})
    with table.db.write_transaction() as s:
        for at in range(0, count, 500):
            s.execute(insert(ProcessInstance.__table__), rows[at:at + 500])
            s.execute(insert(WaitingTimer.__table__), timers[at:at + 500])
    table.analyze()
    return table, first


def run(url: str, label: str, *, filler: int, rate: float, minutes: float, workers: int) -> dict:
    count = int(rate * minutes)
    window = timedelta(minutes=minutes)
    table, first = prepare(url, filler, count, rate, datetime.now(timezone.utc) + window + timedelta(minutes=5))
    env = {**os.environ, "RECALL_DATABASE_URL": url, "RECALL_LOG_LEVEL": "WARNING"}
    procs = []
    started = time.monotonic()
    try:
        procs = [subprocess.Popen([sys.executable, "-m", "cli", "worker"], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(workers)]
        deadline = (first + window - datetime.now(timezone.utc)).total_seconds() + 120
        while True:
            with table.db.read_transaction() as s:
                fired = s.scalar(select(func.count()).select_from(TimerFiring))
            if fired >= count or time.monotonic() - started > deadline:
                break
            time.sleep(0.5)
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=60)
    with table.db.read_transaction() as s:
        late = sorted((f - d).total_seconds() for f, d in s.execute(select(TimerFiring.fired_at, TimerFiring.due_at)))
        waiting = s.scalar(select(func.count()).select_from(WaitingTimer))
    table.close()
    assert len(late) == count, f"{label}: {len(late)} of {count} fired"
    assert waiting == filler, "the filler timers must stay untouched"

    def pct(q):
        return late[min(len(late) - 1, round(q / 100 * (len(late) - 1)))]
    return {"db": label, "workers": workers, "timers": count, "waiting": filler + count,
            "p50": pct(50), "p90": pct(90), "p99": pct(99), "max": late[-1], "mean": statistics.fmean(late)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", default=PG_DEFAULT)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--rate", type=float, default=None, help="timers falling due per minute (1000)")
    parser.add_argument("--minutes", type=float, default=None, help="length of the steady window (3)")
    parser.add_argument("--filler", type=int, default=None, help="other waiting instances (50,000)")
    parser.add_argument("--pg-workers", type=int, default=2)
    args = parser.parse_args()
    rate = args.rate or (600 if args.quick else 1000)
    minutes = args.minutes or (0.5 if args.quick else 3)
    filler = args.filler if args.filler is not None else (5000 if args.quick else 50_000)

    results = []
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-lateness-")))
        results.append(run(f"sqlite:///{folder / 'recall.sqlite3'}", "sqlite", filler=filler, rate=rate,
                           minutes=minutes, workers=1))
        if not args.no_postgres and postgres_reachable(args.postgres):
            url = stack.enter_context(postgres_schema(args.postgres))
            results.append(run(url, "postgresql", filler=filler, rate=rate, minutes=minutes,
                               workers=args.pg_workers))

    print(f"\nTimer lateness (fired - due), {rate:g} timers/min for {minutes:g} min, default worker settings")
    print(f"{'database':<11} {'workers':>7} {'timers':>7} {'waiting':>8} {'p50 s':>7} {'p90 s':>7} "
          f"{'p99 s':>7} {'max s':>7} {'mean s':>7}")
    for r in results:
        print(f"{r['db']:<11} {r['workers']:>7} {r['timers']:>7} {r['waiting']:>8} {r['p50']:>7.3f} "
              f"{r['p90']:>7.3f} {r['p99']:>7.3f} {r['max']:>7.3f} {r['mean']:>7.3f}")
    figures = [f"rate_per_min={rate:g}", f"minutes={minutes:g}"]
    for r in results:
        figures += [f"{r['db']}_p50_s={r['p50']:.3f}", f"{r['db']}_p99_s={r['p99']:.3f}",
                    f"{r['db']}_max_s={r['max']:.3f}", f"{r['db']}_waiting={r['waiting']}"]
    print(" ".join(figures))


if __name__ == "__main__":
    main()
