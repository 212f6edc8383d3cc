"""HTTP throughput of `recall serve`: K concurrent users driving whole cases, SQLite and PostgreSQL.

    .venv/bin/python bench/http_throughput.py [--quick] [--processes 1,2] [--threads N] [-k K]
                                              [--duration S] [--postgres URL | --no-postgres]
                                              [--no-sqlite]
                                              [--profile DIR]

For each database: a fresh database (SQLite temp file; PostgreSQL: a schema `bench_<random>`
created and dropped here), `recall users add` (hr, manager, admin), `recall deploy
tests/fixtures/engine/workflows`, then `recall serve` with RECALL_CLOCK=simulated,
RECALL_SERVE_PROCESSES=P and RECALL_SERVE_THREADS=N (embedded timer worker on, as in
production) on a free port; once per P in --processes (default 1 and 2: one server process,
then two beside the supervisor that runs the timer worker).

K client threads (one keep-alive `http.client` connection per user per thread) drive whole
cases of the `approval` process:

    A (hr)      POST /process-instances (Idempotency-Key)  -> review ready
                GET  /tasks?instance_id=...                 (the task list)
                GET  /tasks/{id}                            (form + ETag)
                POST /tasks/{id}/complete  If-Match         {decision: yes, manager}  -> P30D timer
    clock       POST /testing/clock {"advance": "P31D"}     (admin; one at a time: the thread that
                                                             sees >= 2K cases waiting for the timer)
    B (manager) GET  /tasks?instance_id=...                 (follow_up, assigned via lane_owners)
                GET  /tasks/{id}
                POST /tasks/{id}/complete  If-Match         {message_sent}
      (hr)      POST /messages  candidate_replied, correlation {candidate_id}  -> case completed

A thread prefers B work (cases whose timer fired) over starting a new case. Figures are
taken over the measured window after a warm-up: task completions per second (two per case),
whole cases per second, requests per second, and p50/p95/p99 per endpoint. Also reported:
CPU seconds used by the server and by the load client per wall second (2 cores in all),
and the load average at the start and end. `--profile DIR` runs `py-spy record` (raw
collapsed stacks) on the server during the measured window (py-spy must be installed; with
P > 1 it records the supervisor only).

The goal is judged on the best PostgreSQL configuration, with p99 over the user-facing
endpoints (everything but the testing-only clock advance, which fires ~16 timers in one
request); p99 over all requests is printed beside it.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from engine_overhead import postgres_schema  # noqa: E402 - one scratch-schema helper for every bench
BUNDLE = ROOT / "tests" / "fixtures" / "engine" / "workflows"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
GOAL_TPS = 300.0
GOAL_P99_MS = 50.0
ENDPOINTS = ["start", "list_tasks", "get_task", "complete_review", "clock_advance",
             "list_tasks_mgr", "get_task_mgr", "complete_follow_up", "message"]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def proc_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of `pid` and its live children (the server processes under a supervisor)."""
    total = proc_cpu_seconds(pid)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                total += proc_cpu_seconds(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue        # gone meanwhile
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def recall(env: dict, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"recall {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout


class Client:
    """One keep-alive connection; JSON in, (status, headers, JSON) out; latency recorded."""

    def __init__(self, port: int, token: str, stats: "Stats"):
        self.port, self.token, self.stats = port, token, stats
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def call(self, name: str, method: str, path: str, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        hdrs = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        hdrs.update(headers or {})
        for attempt in range(2):
            started = time.perf_counter()
            try:
                self.conn.request(method, "/api/v1" + path, body=data, headers=hdrs)
                response = self.conn.getresponse()
                raw = response.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
                continue
            elapsed = time.perf_counter() - started
            self.stats.record(name, elapsed, response.status)
            return response.status, response, json.loads(raw) if raw else None
        raise AssertionError("unreachable")


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.measuring = False
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.completions = 0
        self.cases = 0
        self.retries = 0
        self.fired = 0
        self.clock_conflicts = 0
        self.late_timers = 0

    def record(self, name, elapsed, status):
        if not self.measuring:
            return
        with self.lock:
            self.latencies[name].append(elapsed * 1000)
            if status >= 400:
                self.errors[f"{name}:{status}"] += 1

    def count(self, attr, n=1):
        if self.measuring:
            with self.lock:
                setattr(self, attr, getattr(self, attr) + n)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


class Load:
    def __init__(self, port, tokens, k, stats):
        self.port, self.tokens, self.k, self.stats = port, tokens, k, stats
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.waiting_timer: list[str] = []      # (instance id, candidate id) with review done
        self.ready_b: list[tuple[str, str]] = []
        self.clock_lock = threading.Lock()
        self.failures: list[str] = []

    def complete(self, client, name, list_name, get_name, instance_id, data):
        """List the instance's ready tasks, read the task (ETag), complete it with If-Match."""
        for _ in range(3):
            for _ in range(200):
                status, _, page = client.call(list_name, "GET", f"/tasks?instance_id={instance_id}")
                if status != 200 or page["items"]:
                    break
                # the clock advance met a conflict on this instance: its timer is left to the
                # embedded worker's next poll; wait for it
                self.stats.count("late_timers")
                time.sleep(0.05)
            if status != 200 or not page["items"]:
                raise RuntimeError(f"{list_name}: {status} {page}")
            task_id = page["items"][0]["id"]
            status, resp, _ = client.call(get_name, "GET", f"/tasks/{task_id}")
            etag = resp.getheader("ETag")
            status, _, body = client.call(name, "POST", f"/tasks/{task_id}/complete", {"data": data},
                                          {"If-Match": etag})
            if status == 200:
                self.stats.count("completions")
                return body
            if status in (409, 412):              # a timer (the P2D reminder) moved the instance: re-read
                self.stats.count("retries")
                continue
            raise RuntimeError(f"{name}: {status} {body}")
        raise RuntimeError(f"{name}: gave up after 3 conflicts")

    def phase_a(self, hr):
        candidate = f"c-{uuid.uuid4().hex[:12]}"
        status, _, inst = hr.call("start", "POST", "/process-instances",
                                  {"process_key": "approval", "variables": {"candidate_id": candidate}},
                                  {"Idempotency-Key": str(uuid.uuid4())})
        if status != 201:
            raise RuntimeError(f"start: {status} {inst}")
        self.complete(hr, "complete_review", "list_tasks", "get_task", inst["id"],
                      {"decision": "yes", "reason": "salary", "manager": "mgr.wang"})
        with self.lock:
            self.waiting_timer.append((inst["id"], candidate))

    def phase_b(self, mgr, hr, instance_id, candidate):
        self.complete(mgr, "complete_follow_up", "list_tasks_mgr", "get_task_mgr", instance_id,
                      {"message_sent": "We would like to talk again."})
        status, _, body = hr.call("message", "POST", "/messages",
                                  {"name": "candidate_replied", "correlation": {"candidate_id": candidate},
                                   "payload": {"answer": "yes"}})
        if status != 200 or body["delivered_to"] != [instance_id]:
            raise RuntimeError(f"message: {status} {body}")
        self.stats.count("cases")

    def maybe_advance(self, admin):
        with self.lock:
            if len(self.waiting_timer) < 2 * self.k:
                return
        if not self.clock_lock.acquire(blocking=False):
            return
        try:
            with self.lock:
                batch, self.waiting_timer = self.waiting_timer, []
            status, _, body = admin.call("clock_advance", "POST", "/testing/clock", {"advance": "P31D"})
            if status != 200:
                raise RuntimeError(f"clock: {status} {body}")
            self.stats.count("fired", body["fired"])
            self.stats.count("clock_conflicts", body.get("conflicts") or 0)
            with self.lock:
                self.ready_b.extend(batch)
        finally:
            self.clock_lock.release()

    def worker(self):
        hr = Client(self.port, self.tokens["hr"], self.stats)
        mgr = Client(self.port, self.tokens["manager"], self.stats)
        admin = Client(self.port, self.tokens["admin"], self.stats)
        try:
            while not self.stop.is_set():
                self.maybe_advance(admin)
                with self.lock:
                    item = self.ready_b.pop() if self.ready_b else None
                if item:
                    self.phase_b(mgr, hr, *item)
                else:
                    self.phase_a(hr)
        except Exception as exc:  # noqa: BLE001 - reported, and the run fails loudly
            self.failures.append(f"{exc.__class__.__name__}: {exc}")
            self.stop.set()


def run_database(name: str, url: str, args, processes: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="recall_http_"))
    env = {**os.environ, "RECALL_DATABASE_URL": url, "RECALL_CLOCK": "simulated",
           "RECALL_SERVE_THREADS": str(args.threads), "RECALL_SERVE_PROCESSES": str(processes),
           "RECALL_RATE_LIMIT": "off"}      # the server's throughput, not one token's limit
    recall(env, "db", "upgrade")
    tokens = {}
    for user, role in (("hr.li", "hr"), ("mgr.wang", "manager"), ("root", "admin")):
        tokens[role] = recall(env, "users", "add", user, "--role", role).strip().splitlines()[-1]
    recall(env, "deploy", str(BUNDLE))
    port = free_port()
    log = open(tmp / "serve.log", "w+")
    server = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port)], cwd=ROOT,
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    profiler = None
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/v1/health")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not come up: " + (tmp / "serve.log").read_text()[-2000:])
            time.sleep(0.1)
        stats = Stats()
        load = Load(port, tokens, args.k, stats)
        threads = [threading.Thread(target=load.worker, daemon=True) for _ in range(args.k)]
        for t in threads:
            t.start()
        time.sleep(args.warmup)
        if args.profile:
            profiler = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(server.pid), "--format", "raw", "--rate", "200",
                 "--duration", str(int(args.duration)), "--threads", "-o",
                 str(Path(args.profile) / f"{name}.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        load_start = loadavg()
        cpu_server0, cpu_client0 = tree_cpu_seconds(server.pid), resource.getrusage(resource.RUSAGE_SELF)
        stats.measuring = True
        started = time.perf_counter()
        load.stop.wait(args.duration)
        stats.measuring = False
        wall = time.perf_counter() - started
        cpu_server = tree_cpu_seconds(server.pid) - cpu_server0
        cpu_client1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu_client = (cpu_client1.ru_utime + cpu_client1.ru_stime) - (cpu_client0.ru_utime + cpu_client0.ru_stime)
        load_end = loadavg()
        load.stop.set()
        for t in threads:
            t.join(60)
        if load.failures:
            log.flush()
            noteworthy = [line for line in (tmp / "serve.log").read_text().splitlines()
                          if ("WARNING" in line or "ERROR" in line or "Traceback" in line)
                          and "waitress.queue" not in line][-20:]
            raise RuntimeError(f"{name}: {load.failures[0]}\nserver log (warnings and errors, last 20):\n"
                               + "\n".join(noteworthy))
        if profiler:
            profiler.wait(timeout=args.duration + 60)
    finally:
        if profiler and profiler.poll() is None:
            profiler.terminate()
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
    requests = sum(len(v) for v in stats.latencies.values())
    return {
        "wall": wall, "completions": stats.completions, "cases": stats.cases, "retries": stats.retries,
        "fired": stats.fired, "clock_conflicts": stats.clock_conflicts,
        "late_timers": stats.late_timers, "requests": requests, "latencies": dict(stats.latencies),
        "errors": dict(stats.errors), "cpu_server": cpu_server / wall, "cpu_client": cpu_client / wall,
        "load_start": load_start, "load_end": load_end,
        "tps": stats.completions / wall, "cps": stats.cases / wall, "rps": requests / wall,
        "p99_all": pct([x for v in stats.latencies.values() for x in v], 99),
        "p99_user": pct([x for ep, v in stats.latencies.items() if ep != "clock_advance" for x in v], 99),
        "p99_complete": pct(stats.latencies.get("complete_review", []) +
                            stats.latencies.get("complete_follow_up", []), 99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--processes", default="1,2",
                        help="server processes to measure, comma-separated (RECALL_SERVE_PROCESSES)")
    parser.add_argument("--threads", type=int, default=8, help="server threads per process (RECALL_SERVE_THREADS)")
    parser.add_argument("-k", type=int, default=8, help="concurrent client threads (users)")
    parser.add_argument("--duration", type=float, help="measured seconds per run (default 60, quick 8)")
    parser.add_argument("--warmup", type=float, help="seconds before measuring (default 5, quick 2)")
    parser.add_argument("--postgres", default=PG_DEFAULT)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--profile", metavar="DIR", help="py-spy raw stacks of the server into DIR/<run>.txt")
    args = parser.parse_args()
    args.duration = args.duration or (8.0 if args.quick else 60.0)
    args.warmup = args.warmup if args.warmup is not None else (2.0 if args.quick else 5.0)
    counts = [int(p) for p in args.processes.split(",") if p.strip()]
    if args.profile:
        Path(args.profile).mkdir(parents=True, exist_ok=True)

    results = {}
    for p in [] if args.no_sqlite else counts:
        with tempfile.TemporaryDirectory() as tmp:
            results[f"sqlite x{p}"] = run_database(f"sqlite_x{p}", f"sqlite:///{tmp}/bench.sqlite3", args, p)
    if not args.no_postgres:
        for p in counts:
            try:
                with postgres_schema(args.postgres) as url:
                    results[f"postgresql x{p}"] = run_database(f"postgresql_x{p}", url, args, p)
            except Exception as exc:  # noqa: BLE001 - report and go on with SQLite alone
                print(f"postgresql skipped: {exc.__class__.__name__}: {exc}", file=sys.stderr)
                break

    print(f"HTTP throughput: recall serve (x P server processes of {args.threads} threads, embedded worker), "
          f"K={args.k} client threads, approval cases, {args.duration:.0f} s measured after "
          f"{args.warmup:.0f} s warm-up; {os.cpu_count()} CPUs shared by server, PostgreSQL and client")
    print(f"{'run':<16}{'compl/s':>9}{'cases/s':>9}{'req/s':>8}{'p99 user':>10}{'p99 all':>9}{'p99 compl':>11}"
          f"{'server CPU':>12}{'client CPU':>12}{'retries':>9}  load avg start -> end")
    for name, r in results.items():
        print(f"{name:<16}{r['tps']:>9.1f}{r['cps']:>9.1f}{r['rps']:>8.0f}{r['p99_user']:>10.1f}{r['p99_all']:>9.1f}"
              f"{r['p99_complete']:>11.1f}{r['cpu_server']:>12.2f}{r['cpu_client']:>12.2f}{r['retries']:>9}"
              f"  {r['load_start']} -> {r['load_end']}")
    print("(CPU = CPU seconds per wall second of the server processes / the load client; 2.00 would be both "
          "cores; p99 user: every endpoint but the testing-only clock advance)")
    print()
    print(f"{'run':<16}{'endpoint':<20}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}")
    for name, r in results.items():
        for ep in ENDPOINTS:
            v = r["latencies"].get(ep, [])
            if not v:
                continue
            print(f"{name:<16}{ep:<20}{len(v):>7}{pct(v, 50):>9.1f}{pct(v, 95):>9.1f}{pct(v, 99):>9.1f}"
                  f"{max(v):>9.1f}")
        if r["errors"]:
            print(f"{name:<16}non-2xx answers: {r['errors']}")
        print(f"{name:<16}timers fired by the clock advances: {r['fired']}, conflicts left to the worker: "
              f"{r['clock_conflicts']}, task-list polls that waited for one: {r['late_timers']}")
    print()
    figures = [f"threads={args.threads}", f"k={args.k}"]
    for name, r in results.items():
        key = name.replace(" ", "_")
        figures += [f"{key}_completions_per_s={r['tps']:.1f}", f"{key}_cases_per_s={r['cps']:.1f}",
                    f"{key}_requests_per_s={r['rps']:.0f}", f"{key}_p99_user_ms={r['p99_user']:.1f}",
                    f"{key}_p99_ms={r['p99_all']:.1f}", f"{key}_complete_p99_ms={r['p99_complete']:.1f}",
                    f"{key}_server_cpu={r['cpu_server']:.2f}", f"{key}_client_cpu={r['cpu_client']:.2f}"]
        for ep in ENDPOINTS:
            v = r["latencies"].get(ep, [])
            if v:
                figures += [f"{key}_{ep}_p50_ms={pct(v, 50):.1f}", f"{key}_{ep}_p99_ms={pct(v, 99):.1f}"]
    pg_runs = {name: r for name, r in results.items() if name.startswith("postgresql")}
    if pg_runs:
        best_name, best = max(pg_runs.items(), key=lambda item: item[1]["tps"])
        ratio = best["tps"] / GOAL_TPS
        met = ratio >= 1 and best["p99_user"] < GOAL_P99_MS
        print(f"goal (PostgreSQL, K={args.k}): >= {GOAL_TPS:.0f} completions/s and p99 < {GOAL_P99_MS:.0f} ms; "
              f"best run {best_name}: {best['tps']:.1f}/s = {ratio:.2f} of the goal, p99 {best['p99_user']:.1f} ms "
              f"= {best['p99_user'] / GOAL_P99_MS:.2f}x the bound: {'met' if met else 'MISSED'}")
        if len(counts) > 1 and f"postgresql x{counts[0]}" in pg_runs:
            one = pg_runs[f"postgresql x{counts[0]}"]
            print(f"scaling (PostgreSQL): {best_name} / x{counts[0]} = {best['tps'] / one['tps']:.2f}x completions/s")
            figures.append(f"pg_scaling={best['tps'] / one['tps']:.2f}")
        figures += [f"goal_tps_ratio={ratio:.3f}", f"goal_p99_ratio={best['p99_user'] / GOAL_P99_MS:.2f}"]
    figures.append(f"loadavg_end={results[list(results)[-1]]['load_end'].split()[0]}")
    print(" ".join(figures))


if __name__ == "__main__":
    main()
