"""`recall serve --processes 2` as real processes: both children serve, a killed child is replaced,
SIGTERM stops everything, one simulated time for all, children of a killed supervisor exit."""
from __future__ import annotations

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.servers import http, recall_cli
from tests.support import ENGINE_BUNDLE, REVIEW_YES, ROOT

pytestmark = pytest.mark.slow


def _events(path: Path) -> list[dict]:
    return [json.loads(line.split(" ", 4)[-1]) for line in path.read_text().splitlines() if '{"event"' in line]


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in glob.glob(f"/proc/{pid}/task/*/children"):
        try:
            found.update(int(child) for child in Path(task).read_text().split())
        except FileNotFoundError:
            pass
    return found


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])        # utime + stime


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def _wait_for(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return result


class Supervisor:
    def __init__(self, database_url: str, tmp_path: Path):
        self.tmp_path = tmp_path
        self.env = {**os.environ, "RECALL_DATABASE_URL": database_url, "RECALL_CLOCK": "simulated",
                    "RECALL_WORKER_POLL_SECONDS": "0.2", "TMPDIR": str(tmp_path)}
        self.tokens = {}
        for name, role in (("root", "admin"), ("hr.li", "hr")):
            added = recall_cli("users", "add", name, "--role", role, env=self.env)
            assert added.returncode == 0, added.stderr
            self.tokens[name] = added.stdout.strip().splitlines()[-1]
        assert recall_cli("deploy", str(ENGINE_BUNDLE), env=self.env).returncode == 0
        self.log = tmp_path / "serve.log"
        with open(self.log, "w") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", "0",
                                             "--processes", "2"], cwd=ROOT, env=self.env, stdout=log,
                                            stderr=subprocess.STDOUT)
        self.pid = self.process.pid
        started = _wait_for(lambda: self.process.poll() is None and self.event("serve_started"), 30,
                            "no serve_started event")
        self.port = int(started[0]["url"].split(":")[2].split("/")[0])      # port 0: the one it got
        self.base = f"http://127.0.0.1:{self.port}/api/v1"
        self.wait_for_children(set())

    def event(self, name: str) -> list[dict]:
        return [e for e in _events(self.log) if e["event"] == name]

    def wait_for_children(self, not_these: set[int]) -> set[int]:
        """Two children, none of `not_these`, each having said it serves."""
        def ready():
            pids = _children(self.pid)
            started = {e["pid"] for e in self.event("serve_child_started")}
            return pids if len(pids) == 2 and not pids & not_these and pids <= started else None
        return _wait_for(ready, 60, f"two serving children did not come up\n{self.log.read_text()}")

    def call(self, method, path, body=None, user="root"):
        return http(method, self.base + path, body, {"Authorization": f"Bearer {self.tokens[user]}"})

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise


@pytest.fixture
def supervisor(database_url, tmp_path):
    server = Supervisor(database_url, tmp_path)
    try:
        yield server
    finally:
        server.stop()
        mark = f"--supervisor-pid\0{server.pid}\0".encode()
        for pid in {e["pid"] for e in server.event("serve_child_spawned")}:
            try:                            # should a test have failed half-way: only our own children
                if mark in Path(f"/proc/{pid}/cmdline").read_bytes() and not _gone(pid):
                    os.kill(pid, signal.SIGKILL)
            except FileNotFoundError:
                pass


def test_serve_help_documents_processes():
    from cli import main
    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    assert "--processes" in help_text and "RECALL_SERVE_PROCESSES" in help_text
    assert "--listen-fd" not in help_text and "--supervisor-pid" not in help_text


def test_both_children_answer_requests(supervisor, database_url):
    children = _children(supervisor.pid)
    assert supervisor.call("GET", "/health")[0] == 200
    before = {pid: _cpu_ticks(pid) for pid in children}
    statuses = []

    def client():
        for _ in range(40):                 # urllib: a fresh connection per request
            statuses.append(supervisor.call("GET", "/tasks", user="hr.li")[0])

    threads = [threading.Thread(target=client) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert statuses == [200] * 240
    grown = {pid: _cpu_ticks(pid) - before[pid] for pid in children}
    # 240 authenticated requests cost well over a second of CPU; an idle child spends ~nothing
    assert all(ticks >= 10 for ticks in grown.values()), grown
    assert _children(supervisor.pid) == children
    sqlite_warned = bool(supervisor.event("serve_sqlite_processes"))
    assert sqlite_warned == database_url.startswith("sqlite")
    assert len(supervisor.event("worker_started")) == 1          # the timer worker runs once, in the supervisor


def test_a_killed_child_is_replaced(supervisor):
    children = _children(supervisor.pid)
    victim = min(children)
    os.kill(victim, signal.SIGKILL)
    replaced = supervisor.wait_for_children({victim})
    assert replaced - children and victim not in replaced
    exited = supervisor.event("serve_child_exited")
    assert [(e["pid"], e["code"], e["signal"]) for e in exited] == [(victim, -9, "SIGKILL")]
    for _ in range(20):
        assert supervisor.call("GET", "/tasks", user="hr.li")[0] == 200


def test_sigterm_stops_the_supervisor_and_its_children(supervisor):
    children = _children(supervisor.pid)
    assert supervisor.call("GET", "/health")[0] == 200
    assert glob.glob(str(supervisor.tmp_path / "recall-clock-*"))
    assert supervisor.stop() == 0
    assert all(_gone(pid) for pid in children)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", supervisor.port), timeout=5).close()
    with socket.socket() as probe:          # nothing listens there any more
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", supervisor.port))
        probe.listen()
    events = [e["event"] for e in _events(supervisor.log)]
    assert events.count("serve_child_stopped") == 2 and "worker_stopped" in events
    assert events[-1] == "serve_stopped" and "serve_child_exited" not in events
    assert "Traceback" not in supervisor.log.read_text()
    assert not glob.glob(str(supervisor.tmp_path / "recall-clock-*"))    # the shared clock's file is gone


def test_all_children_share_the_simulated_clock(supervisor):
    status, _, instance = supervisor.call("POST", "/process-instances",
                                          {"process_key": "approval", "variables": {"candidate_id": "c-1"}},
                                          user="hr.li")
    assert status == 201
    task_id = instance["ready_tasks"][0]["id"]
    assert supervisor.call("POST", f"/tasks/{task_id}/complete", {"data": REVIEW_YES}, user="hr.li")[0] == 200
    waiting = supervisor.call("GET", f"/process-instances/{instance['id']}", user="hr.li")[2]
    assert [t["element_id"] for t in waiting["waiting_timers"]] == ["wait_day_30"]

    status, _, moved = supervisor.call("POST", "/testing/clock", {"advance": "P31D"})
    assert (status, moved["now"]) == (200, "2026-02-05T09:00:00+00:00")
    seen, lock = [], threading.Lock()

    def read():
        for _ in range(10):
            answer = supervisor.call("GET", "/testing/clock", user="hr.li")
            with lock:
                seen.append((answer[0], answer[2]["now"]))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert seen == [(200, "2026-02-05T09:00:00+00:00")] * 40
    fired = supervisor.call("GET", f"/process-instances/{instance['id']}", user="hr.li")[2]
    assert [t["element_id"] for t in fired["ready_tasks"]] == ["follow_up"]       # the P30D timer fired
    assert [(t["element_id"], t["due_at"]) for t in fired["waiting_timers"]] == [
        ("remind_after_2_days", "2026-02-07T09:00:00+00:00")]                      # armed at the shared time


def test_children_exit_when_the_supervisor_is_killed(supervisor):
    children = _children(supervisor.pid)
    os.kill(supervisor.pid, signal.SIGKILL)
    supervisor.process.wait(timeout=10)
    _wait_for(lambda: all(_gone(pid) for pid in children), 10, "children outlived their supervisor")
    orphaned = {e["pid"] for e in supervisor.event("serve_child_orphaned")}
    assert orphaned == children and len(supervisor.event("serve_child_stopped")) == 2
