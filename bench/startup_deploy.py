"""Time to validate and deploy workflows/: in process (cold and warm) and as the `recall` CLI.

    .venv/bin/python bench/startup_deploy.py [--quick] [--postgres URL] [--no-postgres]

In process (the engine already imported, as in a running server):
  validate      `RecallEngine.validate(["workflows"])` (read, XSD, every check, SpiffWorkflow parse);
  migrate       `engine.migrate.upgrade` of a new, empty database (Alembic, all revisions);
  cold deploy   `RecallEngine.deploy(["workflows"])` into that new database (validate, serialize
                the specs, store one version per process, audit);
  warm deploy   the same call again, unchanged files (a no-op by content hash).
Each is the median of N repetitions (a new database per cold repetition).

As an operator runs it (a new Python process each time, imports included):
  `recall validate workflows`, `recall db upgrade`, then `recall deploy workflows`
  (cold, new database) and `recall deploy workflows` again (warm); wall time per command.

On SQLite (a file in a temp dir) and PostgreSQL (a schema per repetition, dropped after).
Start-up of `recall serve` to its first healthy answer is not measured yet (see
docs/benchmarks.md). Prints a table, then one line of key=value figures.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from engine.clock import SimulatedClock  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.migrate import upgrade  # noqa: E402
from engine.service import RecallEngine  # noqa: E402
from engine_overhead import PG_DEFAULT, postgres_reachable, postgres_schema  # noqa: E402

WORKFLOWS = ROOT / "workflows"
RECALL = ROOT / ".venv" / "bin" / "recall"


def timed(fn) -> tuple[float, object]:
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, result


def in_process(make_url, reps: int) -> dict:
    """make_url(): a context manager yielding the URL of a new, empty database."""
    out = {"validate": [], "migrate": [], "cold": [], "warm": []}
    for _ in range(reps):
        with make_url() as url:
            db = Database(url)
            engine = RecallEngine(db, clock=SimulatedClock())
            ms, bundle = timed(lambda: engine.validate([WORKFLOWS]))
            assert bundle.ok, bundle.diagnostics
            out["validate"].append(ms)
            out["migrate"].append(timed(lambda: upgrade(db))[0])
            ms, results = timed(lambda: engine.deploy([WORKFLOWS], actor="bench"))
            assert results and all(r.created for r in results), results
            out["cold"].append(ms)
            ms, results = timed(lambda: engine.deploy([WORKFLOWS], actor="bench"))
            assert not any(r.created for r in results), results
            out["warm"].append(ms)
            db.dispose()
    return {k: statistics.median(v) for k, v in out.items()} | {"processes": len(results)}


def cli(make_url, reps: int) -> dict:
    out = {"cli_validate": [], "cli_migrate": [], "cli_cold": [], "cli_warm": []}
    for _ in range(reps):
        with make_url() as url:
            env = {**os.environ, "RECALL_DATABASE_URL": url, "RECALL_LOG_LEVEL": "WARNING"}
            for key, args in (("cli_validate", ["validate", str(WORKFLOWS)]), ("cli_migrate", ["db", "upgrade"]),
                              ("cli_cold", ["deploy", str(WORKFLOWS)]), ("cli_warm", ["deploy", str(WORKFLOWS)])):
                started = time.perf_counter()
                done = subprocess.run([str(RECALL), *args], env=env, cwd=ROOT, capture_output=True, text=True)
                out[key].append((time.perf_counter() - started) * 1000)
                assert done.returncode == 0, (args, done.stdout, done.stderr)
    return {k: statistics.median(v) for k, v in out.items()}


def sqlite_urls(tmp: str):
    counter = iter(range(10**6))

    class _New:
        def __enter__(self):
            return f"sqlite:///{tmp}/deploy{next(counter)}.sqlite3"

        def __exit__(self, *exc):
            return False
    return _New


def interpreter_ms(reps: int) -> float:
    """A bare `python -c pass` in the venv: the floor under every CLI figure."""
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", default=PG_DEFAULT)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    reps, cli_reps = (2, 1) if args.quick else (7, 3)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        make = sqlite_urls(tmp)
        results["sqlite"] = in_process(make, reps) | cli(make, cli_reps)
    if not args.no_postgres and postgres_reachable(args.postgres):
        results["postgresql"] = in_process(lambda: postgres_schema(args.postgres), reps) | \
            cli(lambda: postgres_schema(args.postgres), cli_reps)
    python_ms = interpreter_ms(cli_reps)
    processes = results["sqlite"]["processes"]

    print(f"validate and deploy workflows/ ({processes} executable processes), ms, median of {reps} "
          f"(CLI: {cli_reps}, each a new process)")
    cols = [("validate", "validate"), ("migrate", "migrate new DB"), ("cold", "deploy cold"),
            ("warm", "deploy warm"), ("cli_validate", "CLI validate"), ("cli_migrate", "CLI db upgrade"),
            ("cli_cold", "CLI deploy cold"), ("cli_warm", "CLI deploy warm")]
    print(f"{'database':<12}" + "".join(f"{label:>17}" for _, label in cols))
    figures = []
    for name, r in results.items():
        print(f"{name:<12}" + "".join(f"{r[key]:>17.0f}" for key, _ in cols))
        figures += [f"{name}_{key}_ms={r[key]:.0f}" for key, _ in cols]
    print(f"(a bare `python -c pass` takes {python_ms:.0f} ms here)")
    figures.append(f"python_startup_ms={python_ms:.0f}")
    print(" ".join(figures))


if __name__ == "__main__":
    main()
