"""Median time of one persisted task completion, and stored state size per instance.

    .venv/bin/python bench/task_completion.py [--quick] [--postgres URL]

Each completion is a full unit of work: load the instance, validate the form, run the
engine steps to the next wait state, save the state, re-derive the side tables,
append the audit events, commit. Prints a table and a last line of key=value figures.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.clock import SimulatedClock  # noqa: E402
from engine.db import Database  # noqa: E402
from engine.migrate import upgrade  # noqa: E402
from engine.models import ProcessInstance  # noqa: E402
from engine.service import RecallEngine  # noqa: E402
from engine_overhead import postgres_schema  # noqa: E402 - one scratch-schema helper for every bench

BUNDLE = ROOT / "tests" / "fixtures" / "engine" / "workflows"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def measure(url: str, n: int) -> dict:
    db = Database(url)
    upgrade(db)
    engine = RecallEngine(db, clock=SimulatedClock())
    engine.deploy([BUNDLE])
    instances = [engine.start_instance("approval", variables={"candidate_id": f"c{i}"}) for i in range(n)]
    timings = []
    for inst in instances:
        task_id = inst.ready_tasks[0].id
        started = time.perf_counter()
        engine.complete_task(task_id, {"decision": "yes", "reason": "salary", "manager": "wang"}, actor="hr")
        timings.append((time.perf_counter() - started) * 1000)
    with db.read_transaction() as s:
        stored = [len(s.get(ProcessInstance, i.id).state) for i in instances[:20]]
        loaded = engine.runtime.load(s, instances[0].id)
    full = engine.serializer.full_size(loaded.workflow)
    raw = len(engine.serializer.dump_state(loaded.workflow, compress=False))
    db.dispose()
    return {
        "median_ms": statistics.median(timings),
        "p95_ms": sorted(timings)[int(len(timings) * 0.95) - 1],
        "stored_bytes": statistics.median(stored),
        "without_spec_bytes": raw,
        "with_spec_bytes": full,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--postgres", default=PG_DEFAULT)
    args = parser.parse_args()
    n = 30 if args.quick else 300
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = measure(f"sqlite:///{tmp}/bench.sqlite3", n)
    try:
        with postgres_schema(args.postgres) as url:
            results["postgresql"] = measure(url, n)
    except Exception as exc:  # noqa: BLE001 - report and go on with SQLite alone
        print(f"postgresql skipped: {exc.__class__.__name__}: {exc}", file=sys.stderr)

    print(f"persisted task completion, {n} instances of tests/fixtures/engine approval.bpmn")
    print(f"{'database':<12}{'median ms':>11}{'p95 ms':>9}{'stored B':>10}{'no spec B':>11}{'with spec B':>13}")
    for name, r in results.items():
        print(f"{name:<12}{r['median_ms']:>11.2f}{r['p95_ms']:>9.2f}{r['stored_bytes']:>10.0f}"
              f"{r['without_spec_bytes']:>11}{r['with_spec_bytes']:>13}")
    figures = []
    for name, r in results.items():
        figures += [f"{name}_median_ms={r['median_ms']:.2f}", f"{name}_stored_bytes={r['stored_bytes']:.0f}"]
    s = results["sqlite"]
    figures += [f"state_without_spec_bytes={s['without_spec_bytes']}", f"state_with_spec_bytes={s['with_spec_bytes']}",
                f"spec_saving_ratio={s['with_spec_bytes'] / s['without_spec_bytes']:.2f}"]
    print(" ".join(figures))


if __name__ == "__main__":
    main()
