"""Timer scale: find and fire 1,000 due timers among 10,000 / 100,000 / 1,000,000 waiting ones.

    .venv/bin/python bench/timer_scale.py [--quick] [--postgres URL] [--no-postgres]
                                          [--memory-firings N]

Method. A real instance of `bench_timer` (bench/fixtures/timer: start, a "P1D" timer, a
script, the end) is started through RecallEngine; its process_instances row and its
waiting_timers row are the template. The table is then filled with SQL run inside the
database (a recursive CTE on SQLite, generate_series on PostgreSQL), so a million rows
take seconds, not an hour of engine starts:

- filler: cheap process_instances rows (status `waiting`, a 2-byte state, the template's
  other columns) with one waiting_timers row each, due uniformly over the 178 days after
  the firing moment: indexed like real rows, never due, never loaded;
- due: 1,000 clones of the template instance row (its real serialized state, status
  `waiting`) with the template's timer row (same task id, same due time); the engine
  clock is set one minute past that due time. Clones can be fired for real: the engine
  loads each state, runs the timer, saves, re-derives the side tables and audits.
  The template itself keeps no timer row and is marked `completed`.

Timed: "find" is `engine.timers.due_timers(session, now, 1000)` (the worker's indexed
query, each call in a read transaction; 15 calls per round, one per size in turn: a
neighbour's burst on this VM otherwise lands on one size) and "fire" is
`engine.fire_due_timers(limit=1000)` on the 1,000 real clones (claim, firing row, load,
run, save, side tables, audit: each in its own transaction). Each size has a database of
its own (a file / a schema), all built first; then 3 rounds visit 10k, 100k, 1M in turn
(fresh clones, find, fire) and each figure is the median over the rounds, so noise on this
shared VM falls on every size alike. The memory run uses the largest database.
Memory: after the sizes, batches of 1,000 new clones are fired one batch after the other
(`--memory-firings`, default 100,000 per database, as the goal says; the
code path does not change with the count) while the process RSS and the number of
objects the garbage collector tracks are sampled after each batch (after a collection);
growth per 1,000 firings after the first batch is the figure. tracemalloc was tried and
dropped: it slowed firing 4x, so the run could not reach a useful count.

Goal: flat — the 1,000,000 case within 1.5x of the 10,000 case — and memory flat.
`--quick` (a smoke check): 10k and 100k, 200 due timers, one round, memory over 400
firings. Prints a table, then one line of key=value figures.
"""
from __future__ import annotations

import argparse
import gc
import statistics
from contextlib import ExitStack
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import delete, select, text, update

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from engine.clock import SimulatedClock  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.migrate import upgrade  # noqa: E402
from engine.models import ProcessInstance, WaitingTimer  # noqa: E402
from engine.service import RecallEngine  # noqa: E402
from engine.timers import due_timers  # noqa: E402
from engine_overhead import PG_DEFAULT, postgres_reachable, postgres_schema  # noqa: E402

BUNDLE = ROOT / "bench" / "fixtures" / "timer" / "workflows"
DUE = 1000          # due timers per measurement (--quick: 200)
ROUNDS = 3          # find+fire rounds over all sizes, median (--quick: 1)
FIND_CALLS = 15     # find calls per size per round, interleaved across the sizes
SPREAD = timedelta(days=178)


def rss_kb() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class TimerTable:
    """A database with one real template instance and SQL that multiplies it."""

    def __init__(self, url: str):
        self.db = Database(url)
        upgrade(self.db)
        self.dialect = self.db.dialect
        self.engine = RecallEngine(self.db, clock=SimulatedClock())
        self.engine.deploy([BUNDLE])
        view = self.engine.start_instance("bench_timer", actor="bench")
        self.template = view.id
        with self.db.write_transaction() as s:
            timer = s.execute(select(WaitingTimer).where(WaitingTimer.instance_id == view.id)).scalar_one()
            self.task_id, self.element_id, self.due_at = timer.task_id, timer.element_id, timer.due_at
            s.execute(delete(WaitingTimer).where(WaitingTimer.instance_id == view.id))
            s.execute(update(ProcessInstance).where(ProcessInstance.id == view.id).values(status="completed"))
        self.fire_at = self.due_at + timedelta(minutes=1)
        self.filler = 0
        self.clones = 0
        self.columns = [c.name for c in ProcessInstance.__table__.columns]

    # -- SQL that multiplies rows inside the database --------------------------------------
    def _series(self, count: int) -> tuple[str, str]:
        """(FROM clause yielding n = 0..count-1, zero-padded text of n)."""
        if self.dialect == "sqlite":
            return (f"(WITH RECURSIVE seq(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM seq WHERE n < {count - 1}) "
                    f"SELECT n FROM seq) AS s", "printf('%010d', s.n)")
        return f"generate_series(0, {count - 1}) AS s(n)", "lpad(s.n::text, 10, '0')"

    def _due_expr(self, offset_seconds: str) -> str:
        base = self.fire_at + timedelta(days=1)
        if self.dialect == "sqlite":
            return (f"strftime('%Y-%m-%d %H:%M:%S', '{base:%Y-%m-%d %H:%M:%S}', "
                    f"'+' || CAST({offset_seconds} AS INTEGER) || ' seconds') || '.000000'")
        return f"TIMESTAMPTZ '{base.isoformat()}' + make_interval(secs => {offset_seconds})"

    def _copy_instances(self, s, count: int, prefix: str, *, filler: bool) -> None:
        series, padded = self._series(count)
        exprs = []
        for c in self.columns:
            if c == "id":
                exprs.append(f"CAST(:prefix AS VARCHAR(36)) || {padded}")
            elif c == "status":
                exprs.append("'waiting'")
            elif c == "state" and filler:
                exprs.append("X'7B7D'" if self.dialect == "sqlite" else "'\\x7b7d'::bytea")
            elif c in ("business_key", "completed_at", "end_event"):
                exprs.append("NULL")
            else:
                exprs.append(f"p.{c}")
        s.execute(text(f"INSERT INTO process_instances ({', '.join(self.columns)}) "
                       f"SELECT {', '.join(exprs)} FROM {series}, process_instances p WHERE p.id = :template"),
                  {"template": self.template, "prefix": prefix})   # bound: one cached statement per size

    def add_filler(self, count: int) -> None:
        prefix = f"filler-{self.filler:010d}-"
        series, padded = self._series(count)
        step = SPREAD.total_seconds() / count
        with self.db.write_transaction() as s:
            self._copy_instances(s, count, prefix, filler=True)
            s.execute(text(
                f"INSERT INTO waiting_timers (instance_id, task_id, element_id, due_at, attempts) "
                f"SELECT CAST(:prefix AS VARCHAR(36)) || {padded}, :task, :element, "
                f"{self._due_expr(f's.n * {step:.6f}')}, 0 FROM {series}"),
                {"prefix": prefix, "task": self.task_id, "element": self.element_id})
        self.filler += count
        self.analyze()

    def add_due(self, count: int | None = None) -> None:
        """`count` (default DUE) clones of the real template instance, each with the template's timer row."""
        count = count or DUE
        prefix = f"real-{self.clones:010d}-"
        series, padded = self._series(count)
        with self.db.write_transaction() as s:
            self._copy_instances(s, count, prefix, filler=False)
            s.execute(text(
                f"INSERT INTO waiting_timers (instance_id, task_id, element_id, due_at, attempts) "
                f"SELECT CAST(:prefix AS VARCHAR(36)) || {padded}, :task, :element, :due, 0 FROM {series}"),
                {"prefix": prefix, "task": self.task_id, "element": self.element_id,
                 "due": self.due_at.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
                 if self.dialect == "sqlite" else self.due_at})
        self.clones += count

    def analyze(self) -> None:
        with self.db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))

    def waiting(self) -> int:
        with self.db.read_transaction() as s:
            return s.scalar(text("SELECT count(*) FROM waiting_timers"))

    def plan(self) -> str:
        now = self.fire_at
        with self.db.read_transaction() as s:
            query = (select(WaitingTimer.id, WaitingTimer.instance_id, WaitingTimer.task_id, WaitingTimer.element_id,
                            WaitingTimer.due_at)
                     .join(ProcessInstance, ProcessInstance.id == WaitingTimer.instance_id)
                     .where(WaitingTimer.due_at <= now, ProcessInstance.status.in_(("running", "waiting")))
                     .order_by(WaitingTimer.due_at, WaitingTimer.id).limit(DUE))
            compiled = query.compile(dialect=s.bind.dialect, compile_kwargs={"literal_binds": True})
            prefix = "EXPLAIN QUERY PLAN " if self.dialect == "sqlite" else "EXPLAIN "
            rows = s.execute(text(prefix + str(compiled))).all()
        return " | ".join(str(r[-1]) for r in rows)

    def close(self) -> None:
        self.db.dispose()


def find_ms(table: TimerTable) -> float:
    """One call of the worker's due query, in its own read transaction; all due rows must be the clones."""
    started = time.perf_counter()
    with table.db.read_transaction() as s:
        found = due_timers(s, table.fire_at, DUE)
    elapsed = (time.perf_counter() - started) * 1000
    assert len(found) == DUE and all(t.instance_id.startswith("real-") for t in found), len(found)
    return elapsed


def fire_ms(table: TimerTable) -> float:
    """Fire the DUE real clones now due; milliseconds for all of them."""
    table.engine.clock.set(max(table.fire_at, table.engine.clock.now()))
    gc.collect()
    started = time.perf_counter()
    report = table.engine.fire_due_timers(limit=DUE, worker="bench")
    elapsed = (time.perf_counter() - started) * 1000
    assert (report.fired, report.conflicts, report.errors) == (DUE, 0, 0), report
    return elapsed


def measure(urls: dict[int, str], memory_firings: int, rounds: int) -> dict:
    """One database per size, built first; then rounds that visit every size in turn, so noise on a
    shared machine falls on all sizes alike. A figure is the median over rounds."""
    tables: dict[int, TimerTable] = {}
    out: dict = {"sizes": {}}
    try:
        for size, url in urls.items():
            t0 = time.perf_counter()
            table = tables[size] = TimerTable(url)
            table.add_filler(size - DUE)
            build_s = time.perf_counter() - t0
            out["sizes"][size] = {"build_s": build_s, "find": [], "fire": []}
            print(f"  {table.dialect} {size:>9,}: built in {build_s:.1f} s", file=sys.stderr)
        for _ in range(rounds):
            for size, table in tables.items():
                table.add_due()
                assert table.waiting() == size, table.waiting()
            for _ in range(FIND_CALLS):              # one call per size in turn
                for size, table in tables.items():
                    out["sizes"][size]["find"].append(find_ms(table))
            for size, table in tables.items():
                out["sizes"][size]["fire"].append(fire_ms(table))
        for size, m in out["sizes"].items():
            m["find_ms"], m["fire_ms"] = statistics.median(m["find"]), statistics.median(m["fire"])
            print(f"  {tables[size].dialect} {size:>9,}: find median {m['find_ms']:.2f} ms "
                  f"(min {min(m['find']):.2f}, max {max(m['find']):.2f}, n={len(m['find'])}), "
                  f"fire {DUE:,} {[round(x) for x in m['fire']]} ms", file=sys.stderr)
        largest = tables[max(tables)]
        out["plan"] = largest.plan()
        out["memory"] = memory(largest, memory_firings)
    finally:
        for table in tables.values():
            table.close()
    return out


def memory(table: TimerTable, firings: int) -> dict:
    batches = max(2, firings // DUE)
    rss, objects, seconds = [], [], []
    for _ in range(batches):
        table.add_due()
        seconds.append(fire_ms(table) / DUE)
        gc.collect()
        rss.append(rss_kb())
        objects.append(len(gc.get_objects()))
    per_k = lambda xs: (xs[-1] - xs[0]) * 1000 / ((batches - 1) * DUE)  # noqa: E731 - per 1,000 firings
    return {"firings": batches * DUE, "rss_first_kb": rss[0], "rss_last_kb": rss[-1], "rss_kb_per_1000": per_k(rss),
            "objects_first": objects[0], "objects_last": objects[-1], "objects_per_1000": per_k(objects),
            "ms_per_firing_first": seconds[0], "ms_per_firing_last": seconds[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", default=PG_DEFAULT)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--memory-firings", type=int, default=None)
    args = parser.parse_args()
    global DUE
    sizes = [10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]
    rounds = 1 if args.quick else ROUNDS
    if args.quick:
        DUE = 200
    firings = args.memory_firings or (2 * DUE if args.quick else 100_000)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = measure({n: f"sqlite:///{tmp}/timers{n}.sqlite3" for n in sizes}, firings, rounds)
    if not args.no_postgres and postgres_reachable(args.postgres):
        with ExitStack() as stack:
            urls = {n: stack.enter_context(postgres_schema(args.postgres)) for n in sizes}
            results["postgresql"] = measure(urls, firings, rounds)

    print(f"timer scale: find (indexed due query, limit {DUE:,}) and fire {DUE:,} due timers of real instances "
          f"(median of {rounds} rounds)")
    print(f"{'database':<12}{'waiting':>11}{'find ms':>10}{'x 10k':>7}{f'fire {DUE:,} ms':>15}{'ms/firing':>11}{'x 10k':>7}")
    figures = []
    for name, r in results.items():
        base = r["sizes"][sizes[0]]
        for size, m in r["sizes"].items():
            print(f"{name:<12}{size:>11,}{m['find_ms']:>10.2f}{m['find_ms'] / base['find_ms']:>7.2f}"
                  f"{m['fire_ms']:>15.0f}{m['fire_ms'] / DUE:>11.2f}{m['fire_ms'] / base['fire_ms']:>7.2f}")
            figures += [f"{name}_{size}_find_ms={m['find_ms']:.2f}", f"{name}_{size}_fire_ms={m['fire_ms']:.0f}"]
        top = r["sizes"][sizes[-1]]
        figures += [f"{name}_find_ratio={top['find_ms'] / base['find_ms']:.2f}",
                    f"{name}_fire_ratio={top['fire_ms'] / base['fire_ms']:.2f}"]
    print("goal: largest within 1.5x of 10,000")
    for name, r in results.items():
        print(f"plan ({name}): {r['plan']}")
    print(f"\nworker memory over repeated firings (batches of {DUE:,} fresh due instances)")
    print(f"{'database':<12}{'firings':>9}{'RSS first':>11}{'RSS last':>10}{'RSS KB/1k':>11}"
          f"{'gc objs first':>15}{'last':>9}{'objs/1k':>9}{'ms/firing first..last':>23}")
    for name, r in results.items():
        m = r["memory"]
        print(f"{name:<12}{m['firings']:>9,}{m['rss_first_kb']:>9} K{m['rss_last_kb']:>8} K{m['rss_kb_per_1000']:>11.0f}"
              f"{m['objects_first']:>15,}{m['objects_last']:>9,}{m['objects_per_1000']:>9.0f}"
              f"{m['ms_per_firing_first']:>17.2f}..{m['ms_per_firing_last']:.2f}")
        figures += [f"{name}_memory_firings={m['firings']}", f"{name}_rss_kb_per_1000={m['rss_kb_per_1000']:.0f}",
                    f"{name}_gc_objects_per_1000={m['objects_per_1000']:.0f}",
                    f"{name}_ms_per_firing={r['sizes'][sizes[-1]]['fire_ms'] / DUE:.2f}"]
    print(" ".join(figures))


if __name__ == "__main__":
    main()
