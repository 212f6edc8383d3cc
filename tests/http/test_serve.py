"""`recall serve` as a real process: health, a start, a completion, 8 racing completions, SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.servers import free_port, http, recall_cli
from tests.support import ENGINE_BUNDLE, ROOT, race

pytestmark = pytest.mark.slow


def test_serve_answers_over_http_and_stops_cleanly_on_sigterm(database_url, tmp_path):
    env = {**os.environ, "RECALL_DATABASE_URL": database_url, "RECALL_CLOCK": "simulated",
           "RECALL_WORKER_POLL_SECONDS": "0.2"}
    added = recall_cli("users", "add", "hr.li", "--role", "hr", env=env)
    assert added.returncode == 0, added.stderr
    token = added.stdout.strip().splitlines()[-1]
    assert len(token) >= 40 and " " not in token
    assert recall_cli("deploy", str(ENGINE_BUNDLE), env=env).returncode == 0
    port = free_port()
    log = open(tmp_path / "serve.log", "w+")
    server = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--port", str(port)], cwd=ROOT,
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/api/v1"
    auth = {"Authorization": f"Bearer {token}"}
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, _, health = http("GET", f"{base}/health")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "server did not come up"
                time.sleep(0.1)
        assert (status, health["database"]) == (200, "ok")
        assert http("GET", f"{base}/tasks")[0] == 401

        start = {"process_key": "approval", "variables": {"candidate_id": "c-1"}}
        status, headers, instance = http("POST", f"{base}/process-instances", start,
                                          {**auth, "Idempotency-Key": "serve-1"})
        assert status == 201 and headers["ETag"] == '"v1"'
        assert http("POST", f"{base}/process-instances", start, {**auth, "Idempotency-Key": "serve-1"})[2] == instance
        task_id = instance["ready_tasks"][0]["id"]
        status, headers, _ = http("GET", f"{base}/tasks/{task_id}", headers=auth)
        answer = {"data": {"decision": "no", "reason": "team"}}
        status, _, done = http("POST", f"{base}/tasks/{task_id}/complete", answer,
                                {**auth, "If-Match": headers["ETag"]})
        assert status == 200 and (done["status"], done["end_event"]) == ("completed", "end_rejected")

        # 8 threads complete one task over HTTP: exactly one 2xx
        racing = http("POST", f"{base}/process-instances", {**start, "variables": {"candidate_id": "c-2"}},
                       auth)[2]["ready_tasks"][0]["id"]
        statuses = race(8, lambda: http("POST", f"{base}/tasks/{racing}/complete", answer, auth)[0])
        assert sorted(statuses) == [200] + [409] * 7, statuses
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            raise
        log.seek(0)
        output = log.read()
        log.close()
    assert code == 0, output
    events = [json.loads(line.split(" ", 4)[-1])["event"] for line in output.splitlines() if '{"event"' in line]
    assert events[:2] == ["worker_started", "serve_started"] and events[-1] == "serve_stopped", output
    assert "worker_stopped" in events and "Traceback" not in output


def test_serve_without_the_embedded_worker(tmp_path):
    url = f"sqlite:///{tmp_path / 'recall.sqlite3'}"
    env = {**os.environ, "RECALL_DATABASE_URL": url, "RECALL_EMBEDDED_WORKER": "0"}
    assert recall_cli("db", "upgrade", env=env).returncode == 0
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                              cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                assert http("GET", f"http://127.0.0.1:{port}/api/v1/health")[0] == 200
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "server did not come up"
                time.sleep(0.1)
        # simulated-clock routes do not exist on the system clock
        assert http("GET", f"http://127.0.0.1:{port}/api/v1/testing/clock")[0] == 404
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=20)
    assert server.returncode == 0, output
    assert "serve_started" in output and '"embedded_worker": false' in output and "worker_started" not in output
