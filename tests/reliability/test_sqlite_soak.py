"""SQLite, the single-node default: 8 client threads against one `recall serve` for a minute —
starting cases, completing tasks, delivering messages, moving the (simulated) clock so the
embedded worker and the clock endpoint fire timers — zero 5xx, zero "database is locked".

RECALL_RELIABILITY_SOAK_SECONDS changes the minute (CI keeps the default).
"""
from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter

import pytest

from tests.reliability.reliability_support import LOCKED, report
from tests.servers import Server, add_user, engine_for, http, migrated_sqlite
from tests.support import ENGINE_BUNDLE

pytestmark = pytest.mark.slow

SECONDS = float(os.environ.get("RECALL_RELIABILITY_SOAK_SECONDS", "60"))
THREADS = 8
REVIEW = {"decision": "yes", "reason": "team", "manager": "mgr"}


class Soak:
    def __init__(self, base: str, tokens: dict[str, str]):
        self.base = base
        self.auth = {name: {"Authorization": f"Bearer {token}"} for name, token in tokens.items()}
        self.statuses: Counter = Counter()
        self.actions: Counter = Counter()
        self.failures: list = []
        self.replied_ready: list[str] = []        # candidates waiting for their reply (follow-up done)
        self.lock = threading.Lock()
        self.serial = 0

    def call(self, who, method, path, body=None, **headers):
        status, response_headers, data = http(method, self.base + path, body, {**self.auth[who], **headers})
        with self.lock:
            self.statuses[status] += 1
            if status >= 500 or LOCKED in str(data):
                self.failures.append((method, path, status, str(data)[:500]))
        return status, response_headers, data

    def next_candidate(self) -> str:
        with self.lock:
            self.serial += 1
            return f"soak-{self.serial}"

    # ---- actions ----
    def start_and_review(self, rng):
        candidate = self.next_candidate()
        status, headers, inst = self.call("hr.li", "POST", "/process-instances",
                                          {"process_key": "approval", "variables": {"candidate_id": candidate}})
        if status != 201:
            return
        task = inst["ready_tasks"][0]["id"]
        extra = {"If-Match": headers["ETag"]} if rng.random() < 0.5 else {}
        self.call("hr.li", "POST", f"/tasks/{task}/complete", {"data": REVIEW}, **extra)

    def follow_up(self, rng):
        status, _, page = self.call("mgr", "GET", "/tasks?element_id=follow_up&assignee=me&limit=20")
        if status != 200 or not page["items"]:
            return
        task = rng.choice(page["items"])
        status, _, inst = self.call("mgr", "POST", f"/tasks/{task['id']}/complete",
                                    {"data": {"message_sent": "Hello again"}})
        if status == 200:
            status, _, detail = self.call("root", "GET", f"/process-instances/{task['instance_id']}")
            if status == 200 and detail["waiting_messages"]:
                with self.lock:
                    self.replied_ready.append(detail["waiting_messages"][0]["correlation"]["candidate_id"])

    def reply(self, rng):
        with self.lock:
            candidate = self.replied_ready.pop(rng.randrange(len(self.replied_ready))) \
                if self.replied_ready and rng.random() < 0.8 else None
        candidate = candidate or f"nobody-{rng.randrange(10**6)}"          # buffered: nobody waits
        self.call("ats", "POST", "/messages", {"name": "candidate_replied",
                                               "correlation": {"candidate_id": candidate},
                                               "payload": {"text": "I am interested"}})

    def read(self, rng):
        status, _, page = self.call("root", "GET", "/process-instances?limit=20")
        if status == 200 and page["items"]:
            inst = rng.choice(page["items"])
            self.call("root", "GET", f"/process-instances/{inst['id']}")
            self.call("root", "GET", f"/process-instances/{inst['id']}/history?limit=50")
        self.call("hr.li", "GET", "/tasks?limit=20")

    def complete_twice(self, rng):
        """A stale completion: the task is gone, 409 expected (a conflict, never a 5xx)."""
        status, _, page = self.call("root", "GET", "/tasks?status=completed&limit=20")
        if status == 200 and page["items"]:
            task = rng.choice(page["items"])
            self.call("root", "POST", f"/tasks/{task['id']}/complete", {"data": REVIEW})

    def advance_clock(self, rng):
        self.call("root", "POST", "/testing/clock", {"advance": "P31D"})

    ACTIONS = (("start_and_review", 5), ("follow_up", 4), ("reply", 4), ("read", 3), ("complete_twice", 1))

    def run(self, seed: int, until: float, clock_keeper: bool):
        rng = random.Random(seed)
        names = [name for name, weight in self.ACTIONS for _ in range(weight)]
        next_tick = time.monotonic() + 1.5
        while time.monotonic() < until:
            if clock_keeper and time.monotonic() >= next_tick:
                action, next_tick = "advance_clock", time.monotonic() + 1.5
            else:
                action = rng.choice(names)
            try:
                getattr(self, action)(rng)
            except OSError as exc:          # a refused or reset connection counts as a failure too
                with self.lock:
                    self.failures.append((action, "connection", 0, repr(exc)))
            with self.lock:
                self.actions[action] += 1


def test_sqlite_eight_clients_for_a_minute_no_5xx_and_never_locked(tmp_path):
    url = migrated_sqlite(tmp_path / "recall.sqlite3")
    engine = engine_for(url)
    engine.deploy([ENGINE_BUNDLE])
    tokens = {name: add_user(url, name, role) for name, role in
              (("root", "admin"), ("hr.li", "hr"), ("mgr", "manager"), ("ats", "integrator"))}
    soak = Soak("", tokens)
    with Server(url, tmp_path / "serve.log", RECALL_CLOCK="simulated", RECALL_SERVE_THREADS="8",
                RECALL_RATE_LIMIT="off") as server:          # a load test: 429s are not what it looks for
        soak.base = server.base
        until = time.monotonic() + SECONDS
        threads = [threading.Thread(target=soak.run, args=(n, until, n == 0)) for n in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(SECONDS + 120)
        assert not any(t.is_alive() for t in threads)
        status, _, metrics = http("GET", f"{server.base}/metrics")
    assert server.returncode == 0, server.output[-3000:]

    assert soak.failures == []
    assert LOCKED not in server.output and "Traceback" not in server.output, server.output[-3000:]
    assert not [s for s in soak.statuses if s >= 500]
    with engine.db.read_transaction() as s:
        from sqlalchemy import func, select

        from engine.models import ProcessInstance
        states = dict(s.execute(select(ProcessInstance.status, func.count()).group_by(ProcessInstance.status)).all())
    ends = Counter(i.end_event for i in engine.list_instances(status="completed", limit=100000))
    assert soak.actions["start_and_review"] > 20 and soak.actions["reply"] > 20
    assert ends["end_done"] > 0, (ends, soak.actions)          # replies reached waiting cases
    assert "error" not in states
    requests = sum(soak.statuses.values())
    report("sqlite soak", seconds=SECONDS, threads=THREADS, requests=requests,
           per_s=round(requests / SECONDS, 1), statuses=dict(sorted(soak.statuses.items())),
           actions=dict(soak.actions), instances=states, ends=dict(ends), server_5xx=0, locked=0)
    assert status == 200 and "recall_task_completions_total" in metrics
    engine.db.dispose()
