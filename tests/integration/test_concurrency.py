"""Optimistic locking: concurrent changes to one instance — exactly one wins."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from engine.errors import ConflictError, StaleVersion
from engine.models import AuditEvent, HumanTask
from tests.support import ENGINE_BUNDLE

TRIALS = 10


def _race(fns):
    barrier = threading.Barrier(len(fns))
    results: list = [None] * len(fns)

    def run(i, fn):
        barrier.wait()
        try:
            results[i] = ("ok", fn())
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            results[i] = ("error", exc)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_two_threads_completing_one_task_exactly_one_wins(engine, db):
    engine.deploy([ENGINE_BUNDLE])
    for trial in range(TRIALS):
        inst = engine.start_instance("approval", variables={"candidate_id": f"c{trial}"})
        task_id = inst.ready_tasks[0].id
        results = _race([
            lambda: engine.complete_task(task_id, {"decision": "no", "reason": "salary"}, actor="hr.a"),
            lambda: engine.complete_task(task_id, {"decision": "yes", "reason": "team", "manager": "m"},
                                         actor="hr.b"),
        ])
        wins = [r for r in results if r[0] == "ok"]
        losses = [r[1] for r in results if r[0] == "error"]
        assert len(wins) == 1 and len(losses) == 1, results
        assert isinstance(losses[0], ConflictError), repr(losses[0])
        final = engine.get_instance(inst.id)
        winner = wins[0][1]
        assert final.row_version == winner.row_version == inst.row_version + 1
        with db.read_transaction() as s:
            completions = s.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.instance_id == inst.id, AuditEvent.kind == "task_completed"))
            assert completions == 1
            assert s.get(HumanTask, task_id).status == "completed"
        # The state matches the side tables: the winner's choice, nothing of the loser.
        assert final.status in ("completed", "waiting")
        assert (final.end_event == "end_rejected") == (final.status == "completed")


def test_stale_expected_version_is_refused(engine):
    engine.deploy([ENGINE_BUNDLE])
    inst = engine.start_instance("approval", variables={"candidate_id": "c"})
    with pytest.raises(StaleVersion):
        engine.complete_task(inst.ready_tasks[0].id, {"decision": "no", "reason": "salary"}, actor="hr",
                             expected_version=inst.row_version + 5)
    assert engine.get_instance(inst.id).row_version == inst.row_version
