"""Helpers of the reliability suite: real `recall serve` / `recall worker` processes, HTTP, PostgreSQL.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.support import PG_AVAILABLE, PG_URL, ROOT, WORKFLOWS

HOSTILE = Path(__file__).resolve().parent / "hostile"
LOCKED = "database is locked"



def migrated_sqlite(path: Path) -> str:
    from engine.db import Database
    from engine.migrate import upgrade

    url = f"sqlite:///{path}"
    database = Database(url)
    upgrade(database)
    database.dispose()
    return url


@contextmanager
def pg_schema():
    """A migrated, empty PostgreSQL schema of its own; yields its URL, drops it afterwards."""
    from engine.db import Database
    from engine.migrate import upgrade

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = f"{PG_URL}?options=-csearch_path%3D{schema}"
    try:
        database = Database(url)
        upgrade(database)
        database.dispose()
        yield url
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def pg_url():
    """A migrated, empty PostgreSQL schema (skipped when PostgreSQL is unreachable)."""
    if not PG_AVAILABLE:
        pytest.skip("PostgreSQL is not reachable")
    with pg_schema() as url:
        yield url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body=None, headers: dict | None = None, timeout: float = 60,
         raw: bytes | None = None):
    """(status, headers, parsed JSON body or text) — never raises for an HTTP status."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.headers, _body(response.read(), response.headers)
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers, _body(error.read(), error.headers)


def _body(raw: bytes, headers):
    if "json" in (headers.get("Content-Type") or ""):
        return json.loads(raw or b"null")
    return raw.decode("utf-8", "replace")


def engine_for(url: str, clock=None):
    from engine.db import Database
    from engine.service import RecallEngine

    return RecallEngine(Database(url), clock=clock)


def add_user(url: str, name: str, role: str, groups=()) -> str:
    from engine import users
    from engine.db import Database

    database = Database(url)
    try:
        return users.add_user(database, name, role, groups)[1]
    finally:
        database.dispose()


class Server:
    """`recall serve` as a real process, its output in a log file."""

    def __init__(self, url: str, log_path: Path, **env):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        self.log_path = log_path
        self.env = {**os.environ, "RECALL_DATABASE_URL": url, "RECALL_WORKER_POLL_SECONDS": "0.2",
                    **{k: str(v) for k, v in env.items()}}
        self.proc: subprocess.Popen | None = None
        self.output = ""

    def __enter__(self) -> "Server":
        self._log = open(self.log_path, "w+")
        self.proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(self.port)],
                                     cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            try:
                if http("GET", f"{self.base}/health", timeout=5)[0] == 200:
                    return self
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"recall serve did not come up:\n{self.output[-3000:]}")
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, timeout: float = 20) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._log.seek(0)
        self.output = self._log.read()
        self._log.close()
        code, self.proc = self.proc.returncode, None
        self.returncode = code
        return code

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.proc is not None else self.output


@contextmanager
def served_workflows(kind: str, tmp: Path, *, user: str = "hr.li", **env):
    """A real `recall serve` on a fresh `kind` database ("sqlite"/"postgresql") with workflows/
    deployed; yields (server, token of `user`, an HR). `env`: extra RECALL_* settings."""
    if kind == "postgresql":
        if not PG_AVAILABLE:
            pytest.skip("PostgreSQL is not reachable")
        context = pg_schema()
        url = context.__enter__()
    else:
        context, url = None, migrated_sqlite(tmp / "recall.sqlite3")
    try:
        from engine.db import Database
        from engine.service import RecallEngine

        engine = RecallEngine(Database(url))
        engine.deploy([WORKFLOWS], actor="process.owner")
        engine.db.dispose()
        token = add_user(url, user, "hr")
        with Server(url, tmp / "serve.log", RECALL_CLOCK="simulated", **env) as server:
            yield server, token
    finally:
        if context is not None:
            context.__exit__(None, None, None)


def start_worker(url: str, log_path: Path, **env) -> subprocess.Popen:
    """`recall worker` as a real process (JSON log lines on stderr, appended to log_path)."""
    environ = {**os.environ, "RECALL_DATABASE_URL": url, **{k: str(v) for k, v in env.items()}}
    for name in ("RECALL_FAULT_PAUSE", "RECALL_FAULT_FAIL"):
        if name not in env:
            environ.pop(name, None)
    log = open(log_path, "a")
    try:
        return subprocess.Popen([sys.executable, "-m", "cli", "worker"], cwd=ROOT, env=environ,
                                stdout=log, stderr=subprocess.STDOUT)
    finally:
        log.close()


def json_lines(text_: str) -> list[dict]:
    """The JSON objects of a worker log (every line must be one)."""
    entries = []
    for line in text_.splitlines():
        if line.strip():
            entries.append(json.loads(line))
    return entries


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def report(name: str, **figures) -> None:
    """Print the figures of a reliability test (shown with `pytest -s`, kept in the log otherwise)."""
    print(f"\n[reliability] {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


TICK_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d_tick"
                  targetNamespace="http://offer-recall.test/reliability">
  <bpmn:process id="tick" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait_an_hour"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>"PT1H"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:scriptTask id="count"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:script>ticked = True</bpmn:script></bpmn:scriptTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait_an_hour"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait_an_hour" targetRef="count"/>
    <bpmn:sequenceFlow id="f3" sourceRef="count" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def tick_bundle(root: Path) -> Path:
    """start -> one-hour timer -> script -> end: one timer per instance."""
    workflows = root / "workflows"
    workflows.mkdir(parents=True, exist_ok=True)
    (root / "forms").mkdir(exist_ok=True)
    (workflows / "tick.bpmn").write_text(TICK_BPMN)
    return workflows


def clone_instances(db, copies: int) -> int:
    """Copy every instance (state, side rows, start event) `copies` times; returns how many now exist.

    A fast way to a few thousand waiting instances: starting each through the engine costs
    ~15 ms here. Copies are real instances (their own ids, state, timer rows); what the
    reliability tests exercise - claiming and firing - is the same for them.
    """
    from collections import defaultdict

    from sqlalchemy import func, insert, select

    from engine.models import AuditEvent, HumanTask, ProcessInstance, WaitingTimer

    with db.write_transaction() as s:
        assert s.scalar(select(func.count()).select_from(HumanTask)) == 0, "only for instances without tasks"
        rows = s.execute(select(ProcessInstance.__table__)).mappings().all()
        timers = defaultdict(list)
        for t in s.execute(select(WaitingTimer.__table__)).mappings():
            timers[t["instance_id"]].append({k: v for k, v in t.items() if k != "id"})
        started = {e["instance_id"]: {k: v for k, v in e.items() if k != "id"}
                   for e in s.execute(select(AuditEvent.__table__).where(AuditEvent.kind == "instance_started"))
                   .mappings()}
        new_rows, new_timers, new_events = [], [], []
        for row in rows:
            for _ in range(copies):
                new_id = str(uuid.uuid4())
                new_rows.append({**row, "id": new_id})
                new_timers += [{**t, "instance_id": new_id} for t in timers[row["id"]]]
                new_events.append({**started[row["id"]], "instance_id": new_id})
        for table, values in ((ProcessInstance.__table__, new_rows), (WaitingTimer.__table__, new_timers),
                              (AuditEvent.__table__, new_events)):
            for start in range(0, len(values), 500):
                s.execute(insert(table), values[start:start + 500])
        return s.scalar(select(func.count()).select_from(ProcessInstance))
