"""Rehearsal speed (issue 19): workflows/ rehearsed by engine/studio/rehearsal.py on a scratch SQLite file,
N candidates over D days, seed 1; prints a table (wall time, per candidate, HR tasks, engine changes).

    .venv/bin/python bench/rehearsal.py [N ...] [--days D]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.resources.studio_rehearsal import prepare  # noqa: E402
from engine.studio import rehearsal as R  # noqa: E402
from engine.studio.drafts import from_folder  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("candidates", nargs="*", type=int, default=[100, 200])
    parser.add_argument("--days", type=int, default=400)
    args = parser.parse_args()
    files, forms = from_folder(ROOT / "workflows", ROOT / "forms")
    print(f"{'candidates':>10} {'days':>5} {'seconds':>8} {'ms/candidate':>13} {'HR tasks':>9} {'ended':>6}")
    for n in args.candidates:
        began = time.perf_counter()
        report = R.simulate(files, forms, candidates=n, days=args.days, seed=1, mix={}, reply=R.DEFAULT_REPLY,
                            prepare=prepare)
        seconds = time.perf_counter() - began
        tasks = sum(w["tasks"] for w in report["calendar"])
        print(f"{n:>10} {args.days:>5} {seconds:>8.1f} {1000 * seconds / n:>13.0f} {tasks:>9} "
              f"{sum(report['end_events'].values()):>6}", flush=True)


if __name__ == "__main__":
    main()
