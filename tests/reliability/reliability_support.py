"""Helpers of the reliability suite: the hostile corpus, figures, worker logs, timer bundles, bulk
instances. The real processes and throwaway databases they run against are in tests/servers.py."""
from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.servers import pg_schema
from tests.support import PG_AVAILABLE

HOSTILE = Path(__file__).resolve().parent / "hostile"
LOCKED = "database is locked"


@pytest.fixture
def pg_url():
    """A migrated, empty PostgreSQL schema (skipped when PostgreSQL is unreachable)."""
    if not PG_AVAILABLE:
        pytest.skip("PostgreSQL is not reachable")
    with pg_schema() as url:
        yield url


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
