"""A fault injected between the engine step and the commit: the instance is exactly as before,
and the next attempt succeeds — for every kind of change (start, complete, timer, message,
cancel, retry), in-process on SQLite and PostgreSQL, and over HTTP against `recall serve`.

The fault point `before_commit` (engine/faults.py) fails a transaction that changed a
process instance after the engine ran and state, side tables and audit rows were
written, just before COMMIT: the worst moment for a half-written instance.
"""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from engine.clock import SimulatedClock
from engine.faults import InjectedFault
from engine.models import (
    AuditEvent, BufferedMessage, HumanTask, MessageSubscription, ProcessInstance, TimerFiring, WaitingTimer,
)
from engine.service import RecallEngine
from tests.reliability.reliability_support import LOCKED, report
from tests.servers import Server, add_user, http
from tests.support import ENGINE_BUNDLE, script_process, write_bundle

REVIEW = {"decision": "yes", "reason": "salary", "manager": "mgr"}


def snapshot(db, *, timer_rows: bool = True) -> dict:
    """Everything a change could touch, comparable with ==."""
    with db.read_transaction() as s:
        shot = {
            "instances": sorted((r.id, r.version, r.status, r.end_event, str(r.error),
                                 hashlib.sha256(r.state).hexdigest())
                                for r in s.execute(select(ProcessInstance.__table__))),
            "tasks": sorted((r.id, r.status, r.assignee, r.completed_by)
                            for r in s.execute(select(HumanTask.id, HumanTask.status, HumanTask.assignee,
                                                      HumanTask.completed_by))),
            "subscriptions": sorted(tuple(r) for r in s.execute(
                select(MessageSubscription.instance_id, MessageSubscription.task_id,
                       MessageSubscription.correlation_key))),
            "buffered": sorted(tuple(r) for r in s.execute(select(BufferedMessage.id, BufferedMessage.status))),
            "audit": s.scalar(select(func.count()).select_from(AuditEvent)),
            "firings": s.scalar(select(func.count()).select_from(TimerFiring)),
            "timers": sorted((r.instance_id, r.task_id) + ((r.due_at, r.attempts) if timer_rows else ())
                             for r in s.execute(select(WaitingTimer.__table__))),
        }
    return shot


def _fails_cleanly(engine, change, **snap):
    before = snapshot(engine.db, **snap)
    with engine.faults.injected("before_commit", times=1):
        with pytest.raises(InjectedFault):
            change()
    assert snapshot(engine.db, **snap) == before
    return change()          # the next attempt succeeds


def test_a_fault_before_commit_leaves_every_kind_of_change_undone_and_the_retry_succeeds(db, tmp_path):
    clock = SimulatedClock()
    engine = RecallEngine(db, clock=clock, script_timeout=0.5)
    engine.deploy([ENGINE_BUNDLE])
    checked = []

    started = _fails_cleanly(engine, lambda: engine.start_instance("approval", variables={"candidate_id": "c-1"}))
    checked.append("start")
    review = started.ready_tasks[0].id
    waiting = _fails_cleanly(engine, lambda: engine.complete_task(review, REVIEW, actor="hr"))
    assert waiting.status == "waiting" and waiting.row_version == 2
    checked.append("complete")

    clock.advance(timedelta(days=30, seconds=1))
    before = snapshot(db, timer_rows=False)
    with engine.faults.injected("before_commit", times=1):
        report_ = engine.fire_due_timers()
    assert (report_.fired, report_.failed) == (0, 1)
    assert snapshot(db, timer_rows=False) == before          # only the retry time of the timer row moved
    clock.advance(timedelta(minutes=1))
    assert engine.fire_due_timers().fired == 1
    checked.append("timer")

    follow_up = engine.get_instance(started.id).ready_tasks[0].id
    engine.complete_task(follow_up, {"message_sent": "hi"}, actor="mgr")
    delivery = _fails_cleanly(engine, lambda: engine.deliver_message("candidate_replied", {"candidate_id": "c-1"},
                                                                 {"text": "yes"}))
    assert delivery.delivered_to == [started.id]
    assert engine.get_instance(started.id).end_event == "end_done"
    checked.append("message")

    other = engine.start_instance("approval", variables={"candidate_id": "c-2"})
    cancelled = _fails_cleanly(engine, lambda: engine.cancel_instance(other.id, actor="hr", reason="test"))
    assert cancelled.status == "cancelled"
    checked.append("cancel")

    broken = write_bundle(tmp_path / "divide", {"divide": script_process("divide", "ratio = 1 / divisor")})
    engine.deploy([broken])
    failed = engine.start_instance("divide", variables={"divisor": 0})
    assert failed.status == "error"
    retried = _fails_cleanly(engine, lambda: engine.retry_instance(failed.id, actor="owner", data={"divisor": 2}))
    assert retried.status == "running"
    checked.append("retry")
    report(f"faults before commit ({db.dialect})", kinds=",".join(checked))


@pytest.mark.slow
def test_over_http_the_request_fails_cleanly_and_its_retry_succeeds(tmp_path):
    from api import create_app
    from tests.servers import engine_for, migrated_sqlite

    url = migrated_sqlite(tmp_path / "recall.sqlite3")
    engine = engine_for(url)
    engine.deploy([ENGINE_BUNDLE])
    auth = {"Authorization": f"Bearer {add_user(url, 'hr.li', 'hr')}"}
    start = {"process_key": "approval", "variables": {"candidate_id": "c-http"}}
    # A real server whose first instance-changing transaction fails just before its commit.
    with Server(url, tmp_path / "serve.log", RECALL_FAULT_FAIL="before_commit:1",
                RECALL_EMBEDDED_WORKER="0") as server:
        status, _, problem = http("POST", f"{server.base}/process-instances", start,
                                  {**auth, "Idempotency-Key": "k-1"})
        assert status == 500 and problem["type"].endswith(":internal-error")
        assert "InjectedFault" not in str(problem) and "Traceback" not in str(problem)
        assert engine.list_instances() == []
        status, headers, created = http("POST", f"{server.base}/process-instances", start,
                                        {**auth, "Idempotency-Key": "k-1"})   # the same key again
        assert status == 201 and headers.get("Idempotent-Replayed") is None
    assert server.returncode == 0 and LOCKED not in server.output
    assert "InjectedFault" in server.output                  # logged with its error id, never sent
    assert [i.id for i in engine.list_instances()] == [created["id"]]

    # The same for a completion with If-Match, through the WSGI app in this process.
    app = create_app({"RECALL_DATABASE_URL": url, "RECALL_EMBEDDED_WORKER": "0"})
    client = app.test_client()
    task = created["ready_tasks"][0]["id"]
    headers = {**auth, "If-Match": '"v1"'}
    before = snapshot(engine.db)
    with app.extensions["recall"].engine.faults.injected("before_commit", times=1):     # the app's own engine
        failed = client.post(f"/api/v1/tasks/{task}/complete", json={"data": REVIEW}, headers=headers)
    assert failed.status_code == 500 and snapshot(engine.db) == before
    done = client.post(f"/api/v1/tasks/{task}/complete", json={"data": REVIEW}, headers=headers)
    assert (done.status_code, done.json["status"], done.headers["ETag"]) == (200, "waiting", '"v2"')
    client.application.extensions["recall"].engine.db.dispose()
    engine.db.dispose()
