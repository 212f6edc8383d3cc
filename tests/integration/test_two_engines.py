"""Two engines, two apps, one process: nothing one of them holds reaches the other.

Clock, metrics, fault injection and settings belong to the engine (or Flask app) that made
them, so a test suite, a host app mounting the API for two databases, or a worker beside an
API in one process cannot see each other's time, counts or armed faults (issue 14, point 7).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from engine.clock import SimulatedClock
from engine.db import Database
from engine.faults import InjectedFault
from engine.service import RecallEngine
from tests.servers import migrated_sqlite
from tests.support import ENGINE_BUNDLE

START = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
ANSWER = {"decision": "yes", "reason": "salary", "manager": "wang"}


@pytest.fixture
def pair(database_url, tmp_path):
    """Engine `a` on the test's database, engine `b` on a SQLite file of its own; each its own clock."""
    engines = []
    for url in (database_url, migrated_sqlite(tmp_path / "other.sqlite3")):
        engine = RecallEngine(Database(url), clock=SimulatedClock(START), script_timeout=0.5)
        engine.deploy([ENGINE_BUNDLE])
        engines.append(engine)
    yield engines
    for engine in engines:
        engine.db.dispose()


def _waiting(engine):
    """A case of the approval process waiting on its 30-day timer (armed by SpiffWorkflow)."""
    started = engine.start_instance("approval", variables={"candidate_id": "c-1"})
    return engine.complete_task(started.ready_tasks[0].id, ANSWER, actor="hr")


def test_each_engine_fires_timers_by_its_own_clock(pair):
    a, b = pair
    a.clock.advance(timedelta(days=100))
    waiting_a, waiting_b = _waiting(a), _waiting(b)
    # SpiffWorkflow armed each timer with the time of the engine that ran it.
    assert [t.due_at for t in a.get_instance(waiting_a.id).waiting_timers] == [a.clock.now() + timedelta(days=30)]
    assert [t.due_at for t in b.get_instance(waiting_b.id).waiting_timers] == [START + timedelta(days=30)]

    a.clock.advance(timedelta(days=31))
    assert b.fire_due_timers().fired == 0          # a's time is not b's
    assert a.fire_due_timers().fired == 1
    b.clock.advance(timedelta(days=30))
    assert b.fire_due_timers().fired == 1
    assert [t.element_id for t in b.get_instance(waiting_b.id).ready_tasks] == ["follow_up"]


def test_metrics_are_counted_per_engine(pair):
    a, b = pair
    _waiting(a)
    _waiting(b)
    a.clock.advance(timedelta(days=31))
    assert a.fire_due_timers().fired == 1
    assert a.metrics.timers_fired.value() == 1
    assert b.metrics.timers_fired.value() == 0
    from engine.metrics import render
    assert "recall_timers_fired_total 1" in render(a)
    assert "recall_timers_fired_total 0" in render(b)


def test_a_fault_armed_on_one_engine_leaves_the_other_alone(pair):
    a, b = pair
    _waiting(a)
    _waiting(b)
    a.clock.advance(timedelta(days=31))
    b.clock.advance(timedelta(days=31))
    with a.faults.injected("timer_fire"):
        assert b.fire_due_timers().fired == 1
        report = a.fire_due_timers()
        assert (report.fired, report.failed) == (0, 1)
    with a.faults.injected("before_commit", times=1):
        assert b.start_instance("approval", variables={"candidate_id": "c-2"}).status == "running"
        with pytest.raises(InjectedFault):
            a.start_instance("approval", variables={"candidate_id": "c-2"})
    assert len(a.list_instances(process_key="approval")) == 1
    assert len(b.list_instances(process_key="approval")) == 2


def test_two_apps_in_one_process_answer_by_their_own_settings(database_url, tmp_path):
    from api import create_app
    small = create_app({"RECALL_DATABASE_URL": database_url, "RECALL_CLOCK": "simulated", "TESTING": True,
                        "RECALL_MAX_BODY_BYTES": "2048", "RECALL_RETENTION_DAYS": 10,
                        "RECALL_TIMER_MAX_ATTEMPTS": "2"})
    large = create_app({"RECALL_DATABASE_URL": migrated_sqlite(tmp_path / "large.sqlite3"), "TESTING": True,
                        "RECALL_CLOCK": "system", "RECALL_RETENTION_DAYS": "99"})
    try:
        body = {"process_key": "approval", "variables": {"note": "x" * 4000}}
        small_client, large_client = small.test_client(), large.test_client()
        assert small_client.post("/api/v1/process-instances", json=body).status_code == 413
        refused = large_client.post("/api/v1/process-instances", json=body)
        assert refused.status_code == 401 and refused.mimetype == "application/problem+json"
        # The simulated clock's endpoint exists only where the clock is simulated.
        assert small_client.get("/api/v1/testing/clock").status_code == 401
        assert large_client.get("/api/v1/testing/clock").status_code == 404
        # Settings from each app's config reach its engine, its archive and its worker.
        small_state, large_state = small.extensions["recall"], large.extensions["recall"]
        assert small_state.engine.settings.timer_max_attempts == 2
        assert large_state.engine.settings.timer_max_attempts == 5
        assert (small_state.settings.retention_days, large_state.settings.retention_days) == (10, 99)
        # Each app counts its own answers.
        small_metrics = small_client.get("/api/v1/metrics").get_data(as_text=True)
        large_metrics = large_client.get("/api/v1/metrics").get_data(as_text=True)
        assert 'endpoint="POST /process-instances",status="413"} 1' in small_metrics
        assert 'status="413"' not in large_metrics
        assert 'endpoint="POST /process-instances",status="401"} 1' in large_metrics
    finally:
        for app in (small, large):
            app.extensions["recall"].engine.db.dispose()
