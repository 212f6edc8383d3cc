"""The worker runs the periodic jobs it is given, each at its own interval; a failing job is
logged and neither the timers nor the other jobs wait for it (engine/worker.py)."""
from __future__ import annotations

import logging

from engine.worker import PeriodicJob, Worker


def test_the_worker_runs_the_jobs_it_is_given_at_their_interval(engine, caplog):
    runs: list[str] = []

    def broken(_engine):
        runs.append("broken")
        raise RuntimeError("job bug")

    jobs = [PeriodicJob("often", 0, lambda e: runs.append("often" if e is engine else "other engine")),
            PeriodicJob("broken", 0, broken),
            PeriodicJob("hourly", 3600, lambda e: runs.append("hourly"))]
    worker = Worker(engine, poll_seconds=0.01, jobs=jobs)
    with caplog.at_level(logging.ERROR, logger="recall.worker"):
        worker.run_once()
        worker.run_once()
    assert runs == ["often", "broken", "hourly", "often", "broken"]
    assert sum('"event": "job_failed"' in r.getMessage() and '"job": "broken"' in r.getMessage()
               for r in caplog.records) == 2
    assert engine.metrics.worker_rounds.value() == 2

