"""Rehearsal speed (issue 19): workflows/ rehearsed by engine/studio/rehearsal.py on a scratch SQLite file,
N candidates over D days, seed 1; prints a table (wall time, per candidate, HR tasks, engine changes).

    .venv/bin/python bench/rehearsal.py [N ...] [--days D]
    .venv/bin/python bench/rehearsal.py [N ...] [--days D] --compare

--compare times what the studio page runs: a draft (workflows/ with the day-90 timer at day 60) beside the
deployed version, through `rehearse()` against a live SQLite database with workflows/ deployed — once with
the deployed side in a child process (the default) and once both sides one after the other
(parallel=False, as RECALL_REHEARSAL_PARALLEL=0 does), and prints the ratio.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
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
    parser.add_argument("--compare", action="store_true", help="a draft beside the deployed version, as the page runs it")
    args = parser.parse_args()
    files, forms = from_folder(ROOT / "workflows", ROOT / "forms")
    if args.compare:
        compare(files, forms, args.candidates, args.days)
        return
    print(f"{'candidates':>10} {'days':>5} {'seconds':>8} {'ms/candidate':>13} {'HR tasks':>9} {'ended':>6}")
    for n in args.candidates:
        began = time.perf_counter()
        report = R.simulate(files, forms, candidates=n, days=args.days, seed=1, mix={}, reply=R.DEFAULT_REPLY,
                            prepare=prepare)
        seconds = time.perf_counter() - began
        tasks = sum(w["tasks"] for w in report["calendar"])
        print(f"{n:>10} {args.days:>5} {seconds:>8.1f} {1000 * seconds / n:>13.0f} {tasks:>9} "
              f"{sum(report['end_events'].values()):>6}", flush=True)


def compare(files: dict, forms: dict, sizes: list[int], days: int) -> None:
    from engine.clock import SimulatedClock
    from engine.db import Database
    from engine.migrate import target_metadata
    from engine.service import RecallEngine
    day_90 = 'add_duration(decline_date, "P90D")'
    draft = {**files, "offer_recall.bpmn": files["offer_recall.bpmn"].replace(day_90, 'add_duration(decline_date, "P60D")')}
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/live.sqlite")
        target_metadata().create_all(db.engine)
        live = RecallEngine(db, clock=SimulatedClock())
        prepare(live)
        live.deploy([ROOT / "workflows"], actor="bench")
        print(f"{'candidates':>10} {'days':>5} {'parallel s':>11} {'one after the other s':>22} {'ratio':>6}")
        for n in sizes:
            times = []
            for parallel in (True, False):
                began = time.perf_counter()
                R.rehearse(live, files=draft, forms=forms, candidates=n, days=days, seed=1, prepare=prepare,
                           parallel=parallel)
                times.append(time.perf_counter() - began)
            print(f"{n:>10} {days:>5} {times[0]:>11.1f} {times[1]:>22.1f} {times[1] / times[0]:>6.2f}", flush=True)
        db.dispose()


if __name__ == "__main__":
    main()
