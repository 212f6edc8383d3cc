"""Operability: /api/v1/metrics (Prometheus text), `recall status`, the worker's JSON logs, and a
timer incident seen end to end (metrics, status, API, retry)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from tests.reliability.reliability_support import json_lines
from tests.servers import add_user, engine_for, free_port, http, migrated_sqlite, start_worker
from tests.support import ENGINE_BUNDLE, ROOT

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? '
                    r'(-?[0-9.]+(?:e[+-]?[0-9]+)?|\+Inf|NaN)$')
REVIEW = {"decision": "yes", "reason": "salary", "manager": "mgr"}


def parse(text: str) -> dict[str, float]:
    """Check the exposition format line by line; returns {'name{labels}': value}."""
    samples, typed = {}, {}
    for line in text.rstrip("\n").split("\n"):
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in ("counter", "gauge", "histogram"), line
            typed[name] = kind
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        name = match.group(1)
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in typed else name
        assert family in typed, f"{name} has no # TYPE"
        samples[line.rsplit(" ", 1)[0]] = float(match.group(4).replace("+Inf", "inf"))
    return samples


def test_metrics_endpoint_counts_what_happens_and_reads_gauges_from_the_database(tmp_path):
    from api import create_app

    url = migrated_sqlite(tmp_path / "recall.sqlite3")
    app = create_app({"RECALL_DATABASE_URL": url, "RECALL_CLOCK": "simulated", "RECALL_EMBEDDED_WORKER": "0",
                      "RECALL_TIMER_MAX_ATTEMPTS": "2", "RECALL_TIMER_RETRY_SECONDS": "60"})     # for the incident below
    engine = app.extensions["recall"].engine
    engine.deploy([ENGINE_BUNDLE])
    hr = {"Authorization": f"Bearer {add_user(url, 'hr.li', 'hr')}"}
    root = {"Authorization": f"Bearer {add_user(url, 'root', 'admin')}"}
    client = app.test_client()

    def scrape():
        response = client.get("/api/v1/metrics")          # no token: public, like /health
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        return parse(response.get_data(as_text=True))

    before = scrape()
    started = client.post("/api/v1/process-instances", json={"process_key": "approval",
                                                             "variables": {"candidate_id": "c-m"}}, headers=hr)
    task = started.json["ready_tasks"][0]["id"]
    assert client.post(f"/api/v1/tasks/{task}/complete", json={"data": REVIEW}, headers=hr).status_code == 200
    assert client.post(f"/api/v1/tasks/{task}/complete", json={"data": REVIEW}, headers=hr).status_code == 409
    mid = scrape()
    assert mid["recall_task_completions_total"] == before["recall_task_completions_total"] + 1
    conflict = 'recall_conflicts_total{source="api",reason="task_not_ready"}'
    assert mid[conflict] == before.get(conflict, 0) + 1
    assert mid['recall_instances{status="waiting"}'] == 1 and mid["recall_timers_waiting"] == 1

    assert client.post("/api/v1/testing/clock", json={"advance": "P31D"}, headers=root).status_code == 200
    fired = scrape()
    assert fired["recall_timers_fired_total"] == before["recall_timers_fired_total"] + 1
    count = "recall_timer_lateness_seconds_count"
    assert fired[count] == before[count] + 1
    assert fired['recall_timer_lateness_seconds_bucket{le="+Inf"}'] == fired[count]
    # a day late (advanced 31 days, due after 30): in the 86400 s bucket, not below it
    assert fired['recall_timer_lateness_seconds_bucket{le="86400"}'] - before[
        'recall_timer_lateness_seconds_bucket{le="86400"}'] == 1
    assert fired['recall_timer_lateness_seconds_bucket{le="21600"}'] == before[
        'recall_timer_lateness_seconds_bucket{le="21600"}']

    # A timer whose firing keeps failing: an incident, visible in metrics and in the API, then retried.
    with engine.faults.injected("timer_fire"):
        client.post("/api/v1/testing/clock", json={"advance": "P2DT1M"}, headers=root)   # 2-day reminder
        client.post("/api/v1/testing/clock", json={"advance": "PT2M"}, headers=root)     # its retry
    broken = scrape()
    assert broken["recall_incidents_open"] == 1 and broken["recall_instances_in_error"] == 1
    assert broken["recall_timer_failures_total"] == fired["recall_timer_failures_total"] + 2
    assert broken["recall_timer_incidents_total"] == fired["recall_timer_incidents_total"] + 1
    instance = client.get(f"/api/v1/process-instances/{started.json['id']}", headers=hr).json
    assert instance["status"] == "error"
    assert instance["error"]["kind"] == "incident" and instance["error"]["element_id"] == "remind_after_2_days"
    assert "could not be fired after 2 attempts" in instance["error"]["message"]
    retried = client.post(f"/api/v1/process-instances/{started.json['id']}/retry", json={}, headers=root)
    assert retried.status_code == 200 and retried.json["status"] == "running"
    assert scrape()["recall_incidents_open"] == 0
    engine.db.dispose()


def test_recall_status_prints_statuses_overdue_timers_errors_and_incidents(tmp_path):
    from engine.clock import SimulatedClock
    from engine.timers import RetryPolicy, fire_due
    from tests.support import script_process, write_bundle

    url = migrated_sqlite(tmp_path / "recall.sqlite3")
    clock = SimulatedClock()
    engine = engine_for(url, clock)
    engine.deploy([ENGINE_BUNDLE])
    engine.deploy([write_bundle(tmp_path / "divide", {"divide": script_process("divide", "ratio = 1 / divisor")})])
    failing = engine.start_instance("divide", variables={"divisor": 0})
    stuck = engine.start_instance("approval", variables={"candidate_id": "c-1"})
    engine.complete_task(stuck.ready_tasks[0].id, REVIEW, actor="hr")
    late = engine.start_instance("approval", variables={"candidate_id": "c-2"})
    engine.complete_task(late.ready_tasks[0].id, REVIEW, actor="hr")
    clock.advance(timedelta(days=31))
    with engine.faults.injected("timer_fire", times=1):
        fire_due(engine.runtime, engine.db, limit=1, worker="w", policy=RetryPolicy(max_attempts=1))
    env = {**os.environ, "RECALL_DATABASE_URL": url, "RECALL_CLOCK": "system"}
    out = subprocess.run([sys.executable, "-m", "cli", "status"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert re.search(r"error\s+2", text) and re.search(r"waiting\s+1", text)
    assert "timers waiting: 2, due now: 1" in text
    assert re.search(r"timers overdue \(due more than 60 s ago\): 1, oldest due timer waiting for: \d", text)
    assert "instances in error: 2, incidents: 1" in text
    assert f"incident {stuck.id} (approval) at wait_day_30: timer wait_day_30 could not be fired after 1 " \
           "attempts: InjectedFault: injected fault at timer_fire" in text
    assert re.search(rf"error {failing.id} \(divide\) at run_script: .*division by zero", text)
    as_json = subprocess.run([sys.executable, "-m", "cli", "status", "--json"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=60)
    report = json.loads(as_json.stdout)
    assert report["incidents_total"] == 1 and report["incidents"][0]["attempts"] == 1
    assert report["timers_due"] == 1 and report["errors_total"] == 2
    engine.db.dispose()


@pytest.mark.slow
def test_the_worker_logs_json_lines_and_serves_its_metrics(tmp_path):
    from engine.clock import SimulatedClock

    url = migrated_sqlite(tmp_path / "recall.sqlite3")
    engine = engine_for(url, SimulatedClock(__import__("datetime").datetime.now(
        __import__("datetime").timezone.utc) - timedelta(days=31)))
    engine.deploy([ENGINE_BUNDLE])
    inst = engine.start_instance("approval", variables={"candidate_id": "c-log"})
    engine.complete_task(inst.ready_tasks[0].id, REVIEW, actor="hr")          # due a day ago
    port = free_port()
    log = tmp_path / "worker.log"
    worker = start_worker(url, log, RECALL_WORKER_POLL_SECONDS="0.1", RECALL_WORKER_METRICS_PORT=port)
    try:
        deadline = time.monotonic() + 30
        while not engine.get_instance(inst.id).ready_tasks:
            assert time.monotonic() < deadline and worker.poll() is None, log.read_text()[-2000:]
            time.sleep(0.1)
        status, headers, body = http("GET", f"http://127.0.0.1:{port}/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
        samples = parse(body)
        assert samples["recall_timers_fired_total"] == 1 and samples["recall_timer_lateness_seconds_count"] == 1
        assert samples['recall_instances{status="running"}'] == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    entries = json_lines(log.read_text())                   # every line is one JSON object
    assert all({"ts", "level", "logger"} <= set(e) for e in entries)
    events = [e.get("event") for e in entries]
    assert events[0] == "worker_started" and "worker_stopping" in events and events[-1] == "worker_stopped"
    fired = [e for e in entries if e.get("event") == "round" and e["fired"]]
    assert fired and fired[0]["fired"] == 1 and fired[0]["max_lateness_s"] > 86000
    assert entries[0]["metrics_port"] == port and entries[0]["database"] == "sqlite"
    engine.db.dispose()
