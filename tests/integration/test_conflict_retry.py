"""A person's answer is not refused because the worker changed the case meanwhile.

Found by the model-based suite's soak (tests/model, bench/soak.py): HR completed a follow-up while
the embedded worker changed the same instance (a timer, a job); the optimistic lock answered 409
"changed by someone else" although nothing the person saw had changed. Without If-Match the unit of
work runs again on the new state; with If-Match the conflict stays the caller's (412/409).
"""
from __future__ import annotations

import pytest

from engine.errors import ConcurrentChange, StaleVersion, TaskNotReady
from tests.support import ENGINE_BUNDLE

REVIEW = {"decision": "yes", "reason": "salary", "manager": "mgr"}


def _lose_first_saves(engine, monkeypatch, times: int):
    """The next `times` changes find their instance changed by someone else when they save."""
    real_change, left = engine.runtime.change, [times]

    def change(session, loaded, *args, **kwargs):
        if left[0] > 0:
            left[0] -= 1
            loaded.row = loaded.row.saved(version=loaded.row.version - 1)   # what another unit's commit does
        return real_change(session, loaded, *args, **kwargs)

    monkeypatch.setattr(engine.runtime, "change", change)
    return left


def test_a_completion_that_meets_another_change_runs_again(engine, monkeypatch):
    engine.deploy([ENGINE_BUNDLE])
    inst = engine.start_instance("approval", variables={"candidate_id": "c-1"})
    task_id = inst.ready_tasks[0].id
    left = _lose_first_saves(engine, monkeypatch, 2)
    view = engine.complete_task(task_id, REVIEW, actor="hr.li")
    assert left == [0] and view.status != "error"
    assert [t.element_id for t in view.ready_tasks] != ["review"]
    assert [h.kind for h in engine.history(inst.id)].count("task_completed") == 1
    with pytest.raises(TaskNotReady):                      # and only once
        engine.complete_task(task_id, REVIEW, actor="hr.li")


def test_a_completion_pinned_to_a_version_keeps_its_conflict(engine, monkeypatch):
    engine.deploy([ENGINE_BUNDLE])
    inst = engine.start_instance("approval", variables={"candidate_id": "c-2"})
    _lose_first_saves(engine, monkeypatch, 1)
    with pytest.raises((ConcurrentChange, StaleVersion)):
        engine.complete_task(inst.ready_tasks[0].id, REVIEW, actor="hr.li", expected_version=inst.row_version)


def test_a_case_that_keeps_changing_is_refused_after_a_few_attempts(engine, monkeypatch):
    engine.deploy([ENGINE_BUNDLE])
    inst = engine.start_instance("approval", variables={"candidate_id": "c-3"})
    _lose_first_saves(engine, monkeypatch, 10)
    with pytest.raises(ConcurrentChange):
        engine.complete_task(inst.ready_tasks[0].id, REVIEW, actor="hr.li")
    assert engine.get_instance(inst.id).ready_tasks[0].id == inst.ready_tasks[0].id   # nothing half-written


def test_a_cancel_that_meets_another_change_runs_again_unless_pinned(engine, monkeypatch):
    engine.deploy([ENGINE_BUNDLE])
    inst = engine.start_instance("approval", variables={"candidate_id": "c-4"})
    left = _lose_first_saves(engine, monkeypatch, 1)
    assert engine.cancel_instance(inst.id, actor="hr.li", reason="duplicate").status == "cancelled" and left == [0]
    other = engine.start_instance("approval", variables={"candidate_id": "c-5"})
    _lose_first_saves(engine, monkeypatch, 1)
    with pytest.raises((ConcurrentChange, StaleVersion)):
        engine.cancel_instance(other.id, actor="hr.li", expected_version=other.row_version)
    assert engine.get_instance(other.id).status not in ("cancelled",)
