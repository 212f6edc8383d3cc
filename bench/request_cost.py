"""CPU cost of one API request, per endpoint, in process: where `recall serve`'s time goes.

    .venv/bin/python bench/request_cost.py [--quick] [--cases N] [--postgres URL | --no-postgres]
                                           [--profile DIR]

No network and no server threads: Flask's test client drives the same `approval` cases as
bench/http_throughput.py (start, task list, task, complete review, clock advance, manager's
task list, task, complete follow_up, message) one request at a time, against the app that
`recall serve` runs (`api.create_app`) on SQLite and PostgreSQL. For each endpoint: the
median CPU time of the server's work (`time.thread_time`, this thread only: what one core
spends, so what caps throughput under the GIL) and the median wall time (CPU + waiting for
the database). `--profile DIR` writes a cProfile (CPU time of this thread) of the whole run per database (pstats
files, sorted views with `python -m pstats`).

The figure to watch is `cpu_per_completion_ms`: the server CPU for one whole case divided by
its two task completions. One core can serve at most 1000 / that many completions a second.
CPU times on a shared machine move by +-25 % between runs; the `SQL` column (statements plus
transaction ends, COMMIT or ROLLBACK, per request; psycopg also sends a BEGIN per transaction
that no event shows; pings excluded) does not.
"""
from __future__ import annotations

import argparse
import cProfile
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

from sqlalchemy import event

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from engine_overhead import postgres_schema  # noqa: E402

BUNDLE = ROOT / "tests" / "fixtures" / "engine" / "workflows"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ENDPOINTS = ["start", "list_tasks", "get_task", "complete_review", "clock_advance_per_case",
             "list_tasks_mgr", "get_task_mgr", "complete_follow_up", "message"]
BATCH = 16          # cases per clock advance (as in http_throughput: 2K with K=8)


def run(url: str, cases: int, profile_path: Path | None) -> dict:
    from api import create_app
    from engine import users
    from engine.migrate import upgrade

    app = create_app({"RECALL_DATABASE_URL": url, "RECALL_CLOCK": "simulated",
                      "RECALL_RATE_LIMIT": "off"})      # thousands of requests per token; no 429s measured
    engine = app.extensions["recall"].engine
    upgrade(engine.db)
    engine.deploy([BUNDLE])
    tokens = {role: users.add_user(engine.db, name, role)[1]
              for name, role in (("hr.li", "hr"), ("mgr.wang", "manager"), ("root", "admin"))}
    client = app.test_client()
    cpu: dict[str, list[float]] = defaultdict(list)
    wall: dict[str, list[float]] = defaultdict(list)
    sql: dict[str, list[int]] = defaultdict(list)
    counter = {"statements": 0, "transactions": 0}

    @event.listens_for(engine.db.engine, "before_cursor_execute")
    def _statement(*_args):
        counter["statements"] += 1

    def _transaction_end(conn):
        # autocommit units (PostgreSQL reads, single statements) send no COMMIT
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
            counter["transactions"] += 1

    event.listen(engine.db.engine, "commit", _transaction_end)
    event.listen(engine.db.engine, "rollback", _transaction_end)

    def call(name, role, method, path, body=None, headers=None, record=True):
        hdrs = {"Authorization": f"Bearer {tokens[role]}", **(headers or {})}
        n0 = counter["statements"] + counter["transactions"]
        c0, w0 = time.thread_time(), time.perf_counter()
        response = client.open("/api/v1" + path, method=method, json=body, headers=hdrs)
        c1, w1 = time.thread_time(), time.perf_counter()
        if record:
            cpu[name].append((c1 - c0) * 1000)
            wall[name].append((w1 - w0) * 1000)
            sql[name].append(counter["statements"] + counter["transactions"] - n0)
        if response.status_code >= 300:
            raise RuntimeError(f"{name}: {response.status_code} {response.get_data(as_text=True)[:500]}")
        return response

    def complete(name, list_name, get_name, role, instance_id, data, record):
        page = call(list_name, role, "GET", f"/tasks?instance_id={instance_id}", record=record).json
        task_id = page["items"][0]["id"]
        etag = call(get_name, role, "GET", f"/tasks/{task_id}", record=record).headers["ETag"]
        call(name, role, "POST", f"/tasks/{task_id}/complete", {"data": data}, {"If-Match": etag}, record=record)

    def batch(record: bool) -> float:
        waiting = []
        for _ in range(BATCH):
            candidate = f"c-{uuid.uuid4().hex[:12]}"
            inst = call("start", "hr", "POST", "/process-instances",
                        {"process_key": "approval", "variables": {"candidate_id": candidate}},
                        {"Idempotency-Key": str(uuid.uuid4())}, record=record).json
            complete("complete_review", "list_tasks", "get_task", "hr", inst["id"],
                     {"decision": "yes", "reason": "salary", "manager": "mgr.wang"}, record)
            waiting.append((inst["id"], candidate))
        c0, n0 = time.thread_time(), counter["statements"] + counter["transactions"]
        call("clock_advance", "admin", "POST", "/testing/clock", {"advance": "P31D"}, record=record)
        advance_cpu = (time.thread_time() - c0) * 1000
        advance_sql = counter["statements"] + counter["transactions"] - n0
        for instance_id, candidate in waiting:
            complete("complete_follow_up", "list_tasks_mgr", "get_task_mgr", "manager", instance_id,
                     {"message_sent": "We would like to talk again."}, record)
            body = call("message", "hr", "POST", "/messages",
                        {"name": "candidate_replied", "correlation": {"candidate_id": candidate},
                         "payload": {"answer": "yes"}}, record=record).json
            if body["delivered_to"] != [instance_id]:
                raise RuntimeError(f"message went to {body['delivered_to']}")
        if record:
            cpu["clock_advance_per_case"].extend([advance_cpu / BATCH] * BATCH)
            sql["clock_advance_per_case"].extend([advance_sql / BATCH] * BATCH)
        return advance_cpu

    batch(record=False)                      # warm-up: caches, prepared statements, imports
    profiler = cProfile.Profile(time.thread_time) if profile_path else None   # CPU, not waits
    c0, w0, n0 = time.thread_time(), time.perf_counter(), counter["statements"] + counter["transactions"]
    if profiler:
        profiler.enable()
    for _ in range(max(1, cases // BATCH)):
        batch(record=True)
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(profile_path))
    total_cpu, total_wall = (time.thread_time() - c0) * 1000, (time.perf_counter() - w0) * 1000
    total_sql = counter["statements"] + counter["transactions"] - n0
    n_cases = max(1, cases // BATCH) * BATCH
    engine.db.dispose()
    return {"cpu": cpu, "wall": wall, "sql": sql, "cases": n_cases, "sql_per_case": total_sql / n_cases,
            "cpu_per_case": total_cpu / n_cases, "wall_per_case": total_wall / n_cases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cases", type=int, help="cases measured per database (default 320, quick 64)")
    parser.add_argument("--postgres", default=PG_DEFAULT)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--profile", metavar="DIR")
    args = parser.parse_args()
    cases = args.cases or (64 if args.quick else 320)
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    prof = (lambda name: Path(args.profile) / f"{name}.pstats") if args.profile else (lambda name: None)
    os.environ.setdefault("RECALL_EMBEDDED_WORKER", "0")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = run(f"sqlite:///{tmp}/bench.sqlite3", cases, prof("sqlite"))
    if not args.no_postgres:
        with postgres_schema(args.postgres) as url:
            results["postgresql"] = run(url, cases, prof("postgresql"))

    print(f"Request cost in process (Flask test client, one thread), approval cases; "
          f"{cases // BATCH * BATCH} cases per database after one warm-up batch of {BATCH}")
    print(f"{'database':<12}{'endpoint':<24}{'n':>6}{'CPU p50 ms':>12}{'wall p50 ms':>13}{'SQL':>7}")
    figures = []
    for name, r in results.items():
        for ep in ENDPOINTS:
            c, w = r["cpu"].get(ep, []), r["wall"].get(ep, [])
            if not c:
                continue
            wall_p50 = f"{statistics.median(w):>13.2f}" if w else f"{'-':>13}"
            statements = statistics.mean(r["sql"][ep])
            print(f"{name:<12}{ep:<24}{len(c):>6}{statistics.median(c):>12.2f}{wall_p50}{statements:>7.1f}")
            figures.append(f"{name}_{ep}_cpu_ms={statistics.median(c):.2f}")
        per_completion = r["cpu_per_case"] / 2
        print(f"{name:<12}{'whole case (8 requests)':<24}{r['cases']:>6}{r['cpu_per_case']:>12.2f}"
              f"{r['wall_per_case']:>13.2f}{r['sql_per_case']:>7.1f}")
        print(f"{name:<12}CPU per task completion {per_completion:.2f} ms -> one core caps at "
              f"{1000 / per_completion:.0f} completions/s")
        figures += [f"{name}_cpu_per_case_ms={r['cpu_per_case']:.2f}", f"{name}_sql_per_case={r['sql_per_case']:.1f}",
                    f"{name}_cpu_per_completion_ms={per_completion:.2f}",
                    f"{name}_one_core_completions_per_s={1000 / per_completion:.0f}"]
    print()
    print(" ".join(figures))


if __name__ == "__main__":
    main()
