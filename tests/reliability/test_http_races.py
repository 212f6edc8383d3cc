"""Races over real HTTP against a real `recall serve` process.

- 200 trials of 8 concurrent completions of the same task (SQLite and PostgreSQL): exactly one 2xx per trial,
  the rest 409 (task not ready / changed first) or 412 (stale If-Match), and no
  instance half-written.
- 500 starts with an Idempotency-Key, each sent 3 times at once (then retried until
  answered), on PostgreSQL: exactly 500 instances, every answer for a key naming the same instance.
"""
from __future__ import annotations

import os
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from engine.models import AuditEvent, HumanTask, ProcessInstance, TimerFiring, WaitingTimer
from tests.reliability.reliability_support import LOCKED, pg_url, report
from tests.servers import Server, add_user, engine_for, http
from tests.support import ENGINE_BUNDLE

pytestmark = pytest.mark.slow
__all__ = ["pg_url"]

TRIALS = int(os.environ.get("RECALL_RELIABILITY_TRIALS", "200"))
RACERS = 8
STARTS = int(os.environ.get("RECALL_RELIABILITY_STARTS", "500"))
RETRIES = 3
ANSWER = {"data": {"decision": "yes", "reason": "salary", "manager": "mgr"}}


@pytest.fixture
def disposing():
    engines = []
    yield engines.append
    for engine in engines:
        engine.db.dispose()


def _serve(database_url, tmp_path, name, disposing):
    engine = engine_for(database_url)
    disposing(engine)
    engine.deploy([ENGINE_BUNDLE])
    token = add_user(database_url, "hr.li", "hr")
    return engine, {"Authorization": f"Bearer {token}"}, Server(database_url, tmp_path / f"{name}.log")


def _clean(server: Server) -> None:
    assert server.returncode == 0, server.output[-3000:]
    assert "Traceback" not in server.output and LOCKED not in server.output, server.output[-3000:]


def test_eight_concurrent_completions_of_one_task_exactly_one_wins_every_time(database_url, tmp_path, disposing):
    engine, auth, server = _serve(database_url, tmp_path, "races", disposing)
    outcomes: list[list[int]] = []
    with server:
        def start(n):
            status, headers, body = http("POST", f"{server.base}/process-instances",
                                         {"process_key": "approval", "variables": {"candidate_id": f"c-{n}"}}, auth)
            assert status == 201, body
            return body["id"], body["ready_tasks"][0]["id"], headers["ETag"]
        with ThreadPoolExecutor(RACERS) as pool:
            started = list(pool.map(start, range(TRIALS)))
        t0 = time.monotonic()
        for instance_id, task_id, etag in started:
            barrier, statuses = threading.Barrier(RACERS), [0] * RACERS

            def complete(i, task_id=task_id, etag=etag, barrier=barrier, statuses=statuses):
                headers = {**auth, "If-Match": etag} if i % 2 else auth     # half send If-Match
                barrier.wait()
                statuses[i] = http("POST", f"{server.base}/tasks/{task_id}/complete", ANSWER, headers)[0]
            threads = [threading.Thread(target=complete, args=(i,)) for i in range(RACERS)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            outcomes.append(statuses)
        race_seconds = time.monotonic() - t0
    _clean(server)

    winners = [sum(1 for s in statuses if 200 <= s < 300) for statuses in outcomes]
    losers = Counter(s for statuses in outcomes for s in statuses if not 200 <= s < 300)
    assert winners == [1] * TRIALS, [o for o in outcomes if sum(200 <= s < 300 for s in o) != 1][:5]
    assert set(losers) <= {409, 412}, losers

    ids = [instance_id for instance_id, _, _ in started]
    with engine.db.read_transaction() as s:
        instances = s.execute(select(ProcessInstance.id, ProcessInstance.version, ProcessInstance.status)
                              .where(ProcessInstance.id.in_(ids))).all()
        completions = dict(s.execute(select(AuditEvent.instance_id, func.count())
                                     .where(AuditEvent.kind == "task_completed")
                                     .group_by(AuditEvent.instance_id)).all())
        tasks = s.execute(select(HumanTask.instance_id, HumanTask.element_id, HumanTask.status,
                                 HumanTask.completed_by)).all()
        timers = Counter(s.scalars(select(WaitingTimer.instance_id)))
        fired = s.scalar(select(func.count()).select_from(TimerFiring))
    # every instance exactly as one completion leaves it: version 2, waiting on its 30-day timer
    assert {(v, st) for _, v, st in instances} == {(2, "waiting")} and len(instances) == TRIALS
    assert completions == {i: 1 for i in ids}
    assert sorted({(e, st, by) for _, e, st, by in tasks}) == [("review", "completed", "hr.li")]
    assert len(tasks) == TRIALS
    assert timers == {i: 1 for i in ids} and fired == 0
    report(f"http races ({engine.db.dialect})", trials=TRIALS, racers=RACERS, winners=sum(winners),
           conflicts_409=losers.get(409, 0), preconditions_412=losers.get(412, 0),
           race_s=round(race_seconds, 1))


def test_idempotent_starts_sent_three_times_at_once_make_exactly_one_instance_each(pg_url, tmp_path, disposing):
    # PostgreSQL, where the three copies really run at the same time (SQLite queues writers).
    engine, auth, server = _serve(pg_url, tmp_path, "idempotency", disposing)
    answers: dict[str, list[tuple[int, str | None, bool]]] = {f"start-{n:04d}": [] for n in range(STARTS)}
    lock = threading.Lock()

    def send(key, barrier):
        body = {"process_key": "approval", "business_key": key, "variables": {"candidate_id": key}}
        barrier.wait()
        status, headers, data = http("POST", f"{server.base}/process-instances", body,
                                     {**auth, "Idempotency-Key": key})
        with lock:
            answers[key].append((status, data.get("id") if status == 201 else data.get("type"),
                                 headers.get("Idempotent-Replayed") == "true"))

    keys = list(answers)
    group = 8                                   # 8 keys x 3 copies in flight together
    with server:
        t0 = time.monotonic()
        for at in range(0, STARTS, group):
            batch = keys[at:at + group]
            barrier = threading.Barrier(len(batch) * RETRIES)
            threads = [threading.Thread(target=send, args=(key, barrier)) for key in batch for _ in range(RETRIES)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
        burst_seconds = time.monotonic() - t0
        # A client retries until it gets its answer: every key now replays its one instance.
        for key in keys:
            status, headers, data = http("POST", f"{server.base}/process-instances",
                                         {"process_key": "approval", "business_key": key,
                                          "variables": {"candidate_id": key}}, {**auth, "Idempotency-Key": key})
            assert (status, headers.get("Idempotent-Replayed")) == (201, "true"), (key, status, data)
            answers[key].append((status, data["id"], True))
    _clean(server)

    statuses = Counter(status for replies in answers.values() for status, _, _ in replies)
    assert set(statuses) <= {201, 409}, statuses
    for key, replies in answers.items():
        assert len(replies) == RETRIES + 1
        created = {ident for status, ident, _ in replies if status == 201}
        assert len(created) == 1, (key, replies)
        assert sum(1 for status, _, replayed in replies if status == 201 and not replayed) == 1, (key, replies)
        assert all(ident.endswith(":request-in-flight") for status, ident, _ in replies if status == 409)
    with engine.db.read_transaction() as s:
        per_key = Counter(s.scalars(select(ProcessInstance.business_key)))
    assert len(per_key) == STARTS and set(per_key.values()) == {1}
    assert sum(per_key.values()) == STARTS
    report(f"idempotent starts ({engine.db.dialect})", keys=STARTS, requests=STARTS * (RETRIES + 1),
           instances=sum(per_key.values()), created=STARTS,
           in_flight_409=statuses.get(409, 0), replayed=statuses.get(201, 0) - STARTS,
           burst_s=round(burst_seconds, 1))
