"""Soak: the model-based suite of tests/model/ run over and over against one `recall serve` for N minutes.

    .venv/bin/python bench/soak.py --minutes 30 --database postgresql   # the issue's 30-minute soak
    .venv/bin/python bench/soak.py --quick                              # 1 minute on SQLite (smoke check)

One server (simulated clock, the real workflows/ deployed, a user per role) for the whole run, on
a database of its own (a SQLite file, or a PostgreSQL schema dropped at the end). The state
machine (tests/model/recall_machine.py) runs in rounds of a few Hypothesis examples with the
`soak` profile (random, not derandomized; 50 steps an example) until the time is up; the model of
every case is kept across rounds, so cases from the first minutes are still checked at the end.
A violated invariant is printed with the steps of its example, counted, and the run goes on with
a fresh server and model (the old model no longer describes the old data). A table at the end,
then one key=value line. Exit 1 if any invariant was violated.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))          # the model suite's modules are tests.model.*, as in pytest

from hypothesis import settings  # noqa: E402
from hypothesis.stateful import run_state_machine_as_test  # noqa: E402

from tests.model.model_support import VIOLATIONS, RecallServer, register_profiles  # noqa: E402
from tests.model.recall_machine import machine_for  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--postgres", default=PG_DEFAULT, help="PostgreSQL URL (a schema of its own is made)")
    parser.add_argument("--steps", type=int, default=50, help="steps per example")
    parser.add_argument("--round", type=int, default=3, help="examples per Hypothesis run")
    parser.add_argument("--quick", action="store_true", help="1 minute on SQLite")
    args = parser.parse_args()
    if args.quick:
        args.minutes, args.database = 1.0, "sqlite"
    register_profiles()
    profile = settings(settings.get_profile("soak"), max_examples=args.round, stateful_step_count=args.steps)
    started = time.monotonic()
    deadline = started + args.minutes * 60
    totals = {"servers": 0, "rounds": 0, "examples": 0, "steps": 0, "cases": 0, "candidates": 0, "checks": 0,
              "requests": 0}
    ends: dict[str, int] = {}
    violations: list[str] = []
    while time.monotonic() < deadline:
        totals["servers"] += 1
        with RecallServer(args.database, pg_url=args.postgres) as server:
            failed = False
            while time.monotonic() < deadline and not failed:
                VIOLATIONS.clear()
                try:
                    run_state_machine_as_test(machine_for(server), settings=profile)
                except Exception as exc:  # noqa: BLE001 - a violation is reported and the soak goes on
                    failed = True
                    violations.append(VIOLATIONS[0] if VIOLATIONS else f"{type(exc).__name__}: {exc}")
                    print(f"\nVIOLATION ({len(violations)}):\n{violations[-1]}\n", flush=True)
                if not server.alive():
                    failed = True
                    violations.append(f"recall serve died:\n{server.log_text()[-3000:]}")
                totals["rounds"] += 1
                s = server.stats
                print(f"[soak] {time.monotonic() - started:7.0f}s  round {totals['rounds']}: examples={s.examples} "
                      f"steps={s.steps} cases={len(s.cases)} checks={s.checks} requests={s.requests} "
                      f"violations={len(violations)}", flush=True)
            if "Traceback" in server.log_text():
                violations.append("the server logged a traceback:\n" + server.log_text()[-3000:])
            s = server.stats
            totals["conflicts_retried"] = totals.get("conflicts_retried", 0) + getattr(s, "conflicts_retried", 0)
            for key, value in (("examples", s.examples), ("steps", s.steps), ("cases", len(s.cases)),
                               ("candidates", len(s.candidates)), ("checks", s.checks), ("requests", s.requests)):
                totals[key] += value
            for end, count in s.ends.items():
                ends[end] = ends.get(end, 0) + count
    minutes = (time.monotonic() - started) / 60
    rows = [("database", args.database), ("minutes", f"{minutes:.1f}"), ("servers", totals["servers"]),
            ("Hypothesis runs", totals["rounds"]), ("examples", totals["examples"]), ("steps", totals["steps"]),
            ("cases", totals["cases"]), ("candidates", totals["candidates"]),
            ("case checks", totals["checks"]), ("HTTP requests", totals["requests"]),
            ("completions retried after a 409", totals.get("conflicts_retried", 0)),
            ("ends reached", ", ".join(f"{k} {v}" for k, v in sorted(ends.items())) or "-"),
            ("violations", len(violations))]
    width = max(len(k) for k, _ in rows)
    print(f"\n{'figure':<{width}}  value\n{'-' * width}  -----")
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    for i, text in enumerate(violations, 1):
        print(f"\nviolation {i}: {text.splitlines()[0]}")
    print(f"\nsoak database={args.database} minutes={minutes:.1f} examples={totals['examples']} steps={totals['steps']} "
          f"cases={totals['cases']} checks={totals['checks']} requests={totals['requests']} violations={len(violations)}")
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
