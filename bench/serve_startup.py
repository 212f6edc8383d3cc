"""Start-up of `recall serve`: time from launching the command to the first 200 from GET /health.

    .venv/bin/python bench/serve_startup.py [--quick] [--repeat N] [--postgres URL | --no-postgres]

Per database, a migrated database with the engine test bundle deployed (as a real install
would have), then N launches of `recall serve` (the `.venv/bin/recall` console script,
embedded worker on) on a free port: the clock starts just before `Popen` and stops at the
first 200 from /api/v1/health (polled every 10 ms); the server is stopped with SIGTERM
between launches. For comparison, the same number of bare `recall --help` runs and
`python -c pass`. Medians; a table, then one key=value line.
"""
from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from engine_overhead import postgres_schema  # noqa: E402 - one scratch-schema helper for every bench
BUNDLE = ROOT / "tests" / "fixtures" / "engine" / "workflows"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
RECALL = str(Path(sys.executable).parent / "recall")


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed_run(cmd: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return (time.perf_counter() - started) * 1000


def one_launch(env: dict) -> float:
    port = free_port()
    started = time.perf_counter()
    server = subprocess.Popen([RECALL, "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/api/v1/health")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    return (time.perf_counter() - started) * 1000
            except OSError:
                pass
            if server.poll() is not None:
                raise RuntimeError(f"recall serve exited with {server.returncode}")
            if time.perf_counter() - started > 120:
                raise RuntimeError("recall serve did not answer within 120 s")
            time.sleep(0.01)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def measure(url: str, repeat: int) -> dict:
    env = {**os.environ, "RECALL_DATABASE_URL": url}
    subprocess.run([RECALL, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run([RECALL, "deploy", str(BUNDLE)], cwd=ROOT, env=env, check=True, capture_output=True)
    times = [one_launch(env) for _ in range(repeat)]
    return {"median": statistics.median(times), "min": min(times), "max": max(times), "n": repeat}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, help="launches per database (default 7, quick 2)")
    parser.add_argument("--postgres", default=PG_DEFAULT)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    repeat = args.repeat or (2 if args.quick else 7)
    load_start = loadavg()
    env = dict(os.environ)
    help_ms = [timed_run([RECALL, "--help"], env) for _ in range(repeat)]
    pass_ms = [timed_run([sys.executable, "-c", "pass"], env) for _ in range(repeat)]
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = measure(f"sqlite:///{tmp}/startup.sqlite3", repeat)
    if not args.no_postgres:
        try:
            with postgres_schema(args.postgres) as url:
                results["postgresql"] = measure(url, repeat)
        except Exception as exc:  # noqa: BLE001 - report and go on with SQLite alone
            print(f"postgresql skipped: {exc.__class__.__name__}: {exc}", file=sys.stderr)
    load_end = loadavg()

    print(f"start-up of `recall serve` to the first 200 from GET /api/v1/health, ms (median of {repeat} launches)")
    print(f"{'what':<34}{'median':>9}{'min':>9}{'max':>9}")
    for name, r in results.items():
        print(f"{'recall serve, ' + name:<34}{r['median']:>9.0f}{r['min']:>9.0f}{r['max']:>9.0f}")
    print(f"{'recall --help':<34}{statistics.median(help_ms):>9.0f}{min(help_ms):>9.0f}{max(help_ms):>9.0f}")
    print(f"{'python -c pass':<34}{statistics.median(pass_ms):>9.0f}{min(pass_ms):>9.0f}{max(pass_ms):>9.0f}")
    print(f"load average: {load_start} -> {load_end}")
    figures = [f"{name}_serve_to_healthy_ms={r['median']:.0f}" for name, r in results.items()]
    figures += [f"recall_help_ms={statistics.median(help_ms):.0f}", f"python_startup_ms={statistics.median(pass_ms):.0f}",
                f"loadavg_end={load_end.split()[0]}"]
    print(" ".join(figures))


if __name__ == "__main__":
    main()
