"""Derive the query tables (ready human tasks, waiting timers, message subscriptions)
from an in-memory workflow, and write them in the caller's transaction.

Queries never deserialize instances: the worker finds due timers, the inbox finds
tasks and the message router finds subscribers through these indexed rows.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition, TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.control import BoundaryEventSplit
from SpiffWorkflow.bpmn.specs.defaults import EndEvent
from SpiffWorkflow.task import TaskState

from .models import HumanTask, MessageSubscription, WaitingTimer

LANE_OWNERS_VAR = "lane_owners"


def lane_group(lane: str | None) -> str | None:
    """'Hiring Manager' -> 'hiring_manager': the candidate group of a lane's tasks."""
    if not lane:
        return None
    return re.sub(r"[^0-9a-z]+", "_", lane.strip().lower()).strip("_") or None


def correlation_key(values: dict) -> str:
    """Canonical text of correlation values: the indexed lookup key."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


@dataclass
class ReadyTask:
    id: str
    element_id: str
    title: str | None
    lane: str | None
    candidate_group: str | None
    assignee: str | None
    form_schema: str | None
    form_ui_schema: str | None
    data: dict
    due_at: datetime | None


@dataclass
class Timer:
    task_id: str
    element_id: str
    due_at: datetime


@dataclass
class Subscription:
    task_id: str
    element_id: str
    message_name: str
    correlation: dict


@dataclass
class Derived:
    ready_tasks: list[ReadyTask] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    errored_tasks: list = field(default_factory=list)
    status: str = "waiting"
    end_event: str | None = None


def timer_due(task) -> datetime | None:
    """Due time of a waiting timer task, read from its internal data (no evaluation)."""
    definition = task.task_spec.event_definition
    value = task.internal_data.get("event_value")
    if value is None:
        return None
    if isinstance(definition, CycleTimerEventDefinition):
        if not isinstance(value, dict) or value.get("cycles") == 0:
            return None
        due = datetime.fromisoformat(value["next"])
    elif isinstance(value, str):
        due = TimerEventDefinition.get_datetime(value) if "T" in value or "-" in value else None
        if due is None:
            return None
    else:
        return None
    return due if due.tzinfo else due.replace(tzinfo=timezone.utc)


def _event_definitions(spec):
    definition = getattr(spec, "event_definition", None)
    if isinstance(definition, MultipleEventDefinition):
        return list(definition.event_definitions)
    return [definition] if definition is not None else []


def all_tasks(wf: BpmnWorkflow):
    yield from wf.tasks.values()
    for sub in wf.subprocesses.values():
        yield from sub.tasks.values()


def _assignee(task, lane: str | None) -> str | None:
    owners = task.data.get(LANE_OWNERS_VAR)
    if not lane or not isinstance(owners, dict):
        return None
    owner = owners.get(lane)
    if isinstance(owner, list):
        owner = owner[0] if len(owner) == 1 else None
    return owner if isinstance(owner, str) and owner else None


def derive(wf: BpmnWorkflow) -> Derived:
    """Everything the side tables need, from one walk over the task tree."""
    out = Derived()
    boundary_due: dict = {}
    for task in wf.event_manager.tasks.values():
        if not task.has_state(TaskState.WAITING):
            continue
        for definition in _event_definitions(task.task_spec):
            if isinstance(definition, TimerEventDefinition):
                due = timer_due(task)
                if due is not None:
                    out.timers.append(Timer(str(task.id), task.task_spec.bpmn_id or task.task_spec.name, due))
                    if task.parent is not None and isinstance(task.parent.task_spec, BoundaryEventSplit):
                        current = boundary_due.get(task.parent.id)
                        boundary_due[task.parent.id] = due if current is None else min(current, due)
            elif isinstance(definition, MessageEventDefinition):
                correlation = {
                    prop.name: task.data.get(prop.name)
                    for prop in getattr(definition, "correlation_properties", []) or []
                }
                out.subscriptions.append(
                    Subscription(str(task.id), task.task_spec.bpmn_id or task.task_spec.name,
                                 definition.name, correlation)
                )
    for task in all_tasks(wf):
        if task.has_state(TaskState.ERROR):
            out.errored_tasks.append(task)
        elif task.has_state(TaskState.READY) and task.task_spec.manual:
            spec = task.task_spec
            lane = getattr(spec, "lane", None)
            props = (getattr(spec, "extensions", None) or {}).get("properties", {})
            out.ready_tasks.append(ReadyTask(
                id=str(task.id),
                element_id=spec.bpmn_id or spec.name,
                title=spec.bpmn_name,
                lane=lane,
                candidate_group=lane_group(lane),
                assignee=_assignee(task, lane),
                form_schema=props.get("formJsonSchemaFilename"),
                form_ui_schema=props.get("formUiSchemaFilename"),
                data=task.data,
                due_at=boundary_due.get(task.parent.id) if task.parent is not None else None,
            ))
    if out.errored_tasks:
        out.status = "error"
    elif wf.completed:
        out.status = "completed"
        out.end_event = reached_end_event(wf)
    elif out.ready_tasks:
        out.status = "running"
    return out


def reached_end_event(wf: BpmnWorkflow) -> str | None:
    """BPMN id of the top-level end event that completed last."""
    ends = [t for t in wf.tasks.values()
            if isinstance(t.task_spec, EndEvent) and t.has_state(TaskState.COMPLETED)]
    if not ends:
        return None
    return max(ends, key=lambda t: t.last_state_change).task_spec.bpmn_id


def write(session: Session, instance, derived: Derived, *, now: datetime, actor: str,
          completed: set[str], prefill) -> list[str]:
    """Bring the instance's side rows in line with `derived`; returns ids of tasks that left `ready`.

    A task that left `ready` is `completed` when it is in `completed` (done by `actor`
    in this unit of work), otherwise `cancelled` (an interrupting event took it away).
    Only differences are written: most changes leave most rows as they were.
    """
    instance_id = instance.id
    existing = {r.id: r for r in session.execute(
        select(HumanTask.id, HumanTask.assignee, HumanTask.due_at)
        .where(HumanTask.instance_id == instance_id, HumanTask.status == "ready"))}
    ready = {t.id: t for t in derived.ready_tasks}
    left = [task_id for task_id in existing if task_id not in ready]
    done = [task_id for task_id in left if task_id in completed]
    gone = [task_id for task_id in left if task_id not in completed]
    if done:
        session.execute(update(HumanTask).where(HumanTask.id.in_(done))
                        .values(status="completed", completed_at=now, completed_by=actor))
    if gone:
        session.execute(update(HumanTask).where(HumanTask.id.in_(gone))
                        .values(status="cancelled", completed_at=now))
    new_rows = [dict(
        id=t.id, instance_id=instance_id, element_id=t.element_id, process_key=instance.process_key,
        title=t.title, lane=t.lane, candidate_group=t.candidate_group, assignee=t.assignee,
        status="ready", form_schema=t.form_schema, form_ui_schema=t.form_ui_schema,
        data=prefill(t.data), created_at=now, due_at=t.due_at, completed_at=None, completed_by=None,
    ) for task_id, t in ready.items() if task_id not in existing]
    if new_rows:
        session.execute(insert(HumanTask), new_rows)
    for task_id, t in ready.items():
        row = existing.get(task_id)
        if row is not None and (row.due_at != t.due_at or (t.assignee and row.assignee != t.assignee)):
            session.execute(update(HumanTask).where(HumanTask.id == task_id)
                            .values(due_at=t.due_at, assignee=t.assignee or row.assignee))

    _sync(session, WaitingTimer, instance_id, (WaitingTimer.task_id, WaitingTimer.due_at),
          {(t.task_id, t.due_at): dict(instance_id=instance_id, task_id=t.task_id, element_id=t.element_id,
                                       due_at=t.due_at, attempts=0) for t in derived.timers})
    _sync(session, MessageSubscription, instance_id,
          (MessageSubscription.task_id, MessageSubscription.correlation_key),
          {(s.task_id, correlation_key(s.correlation)): dict(
              instance_id=instance_id, task_id=s.task_id, element_id=s.element_id,
              message_name=s.message_name, correlation_key=correlation_key(s.correlation),
              correlation=s.correlation) for s in derived.subscriptions})
    return left


def _sync(session: Session, model, instance_id: str, key_columns, wanted: dict) -> None:
    """Delete the instance's rows whose key is not wanted, insert the wanted ones missing."""
    have = {tuple(r[1:]): r[0] for r in session.execute(
        select(model.id, *key_columns).where(model.instance_id == instance_id))}
    stale = [row_id for key, row_id in have.items() if key not in wanted]
    if stale:
        session.execute(delete(model).where(model.id.in_(stale)))
    missing = [row for key, row in wanted.items() if key not in have]
    if missing:
        session.execute(insert(model), missing)
