"""Derive the query tables (ready human tasks, waiting timers, message subscriptions)
from an in-memory workflow, and write them in the caller's transaction.

Queries never deserialize instances: the worker finds due timers, the inbox finds
tasks and the message router finds subscribers through these indexed rows.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import bindparam, cast, delete, insert, literal_column, null, select, union_all, update
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
    task_rows: list[dict] = field(default_factory=list)   # ready task rows after the save
    waiting_events: int = 0                                # catch events waiting (any kind)
    created_tasks: list[dict] = field(default_factory=list)    # task rows sidetables.write inserted
    assigned_tasks: list[tuple] = field(default_factory=list)  # (task id, element id, assignee, previous)

    @property
    def stalled(self) -> bool:
        """Not finished, yet nothing is ready and nothing waits: the run stopped by itself."""
        return self.status == "waiting" and not self.ready_tasks and not self.waiting_events
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
        out.waiting_events += 1
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
    out.ready_tasks.sort(key=_diagram_position(wf))   # parallel ready tasks in diagram order, not by task uuid
    if out.errored_tasks:
        out.status = "error"
    elif wf.completed:
        out.status = "completed"
        out.end_event = reached_end_event(wf)
    elif out.ready_tasks:
        out.status = "running"
    return out


def _diagram_position(wf: BpmnWorkflow):
    """Sort key of a ReadyTask: its element's place in the diagram, breadth first from the start along the
    outgoing flows in file order (a stored spec's task_specs come back in name order, its outputs lists
    keep the file's order), the top-level process before called ones; stable."""
    order: dict[str, int] = {}
    for spec in (wf.spec, *(sub.spec for sub in wf.subprocesses.values())):
        queue, seen = [spec.start] if getattr(spec, "start", None) is not None else [], set()
        while queue:
            task_spec = queue.pop(0)
            if task_spec.name in seen:
                continue
            seen.add(task_spec.name)
            order.setdefault(getattr(task_spec, "bpmn_id", None) or task_spec.name, len(order))
            queue.extend(task_spec.outputs)
    return lambda ready: order.get(ready.element_id, len(order))


def reached_end_event(wf: BpmnWorkflow) -> str | None:
    """BPMN id of the top-level end event that completed last."""
    ends = [t for t in wf.tasks.values()
            if isinstance(t.task_spec, EndEvent) and t.has_state(TaskState.COMPLETED)]
    if not ends:
        return None
    return max(ends, key=lambda t: t.last_state_change).task_spec.bpmn_id


_TASKS = HumanTask.__table__
_TIMERS = WaitingTimer.__table__
_SUBSCRIPTIONS = MessageSubscription.__table__
# Columns of a ready task a view needs (everything but the prefill data).
TASK_VIEW_COLUMNS = ("id", "element_id", "title", "instance_id", "process_key", "status", "assignee",
                     "candidate_group", "lane", "created_at", "due_at", "completed_at", "completed_by")
# Built once (see runtime.py): these run on every change of every instance.
_READY_TASKS = (select(*(_TASKS.c[name] for name in TASK_VIEW_COLUMNS))
                .where(_TASKS.c.instance_id == bindparam("b_instance"), _TASKS.c.status == "ready")
                .order_by(_TASKS.c.created_at, _TASKS.c.id))
_FINISH_TASKS = (update(_TASKS).where(_TASKS.c.id.in_(bindparam("b_ids", expanding=True)))
                 .values(status=bindparam("b_status"), completed_at=bindparam("b_at"),
                         completed_by=bindparam("b_by")))
_RETARGET_TASK = (update(_TASKS).where(_TASKS.c.id == bindparam("b_id"))
                  .values(due_at=bindparam("b_due"), assignee=bindparam("b_assignee")))
_INSERT_TASKS = insert(_TASKS)


def _sync_statements(table):
    return (delete(table).where(table.c.id.in_(bindparam("b_ids", expanding=True))), insert(table))


_TIMER_SYNC = _sync_statements(_TIMERS)
_SUBSCRIPTION_SYNC = _sync_statements(_SUBSCRIPTIONS)
# The instance's timer and subscription rows in one round trip: (kind, id, task_id, key).
_WAITING_ROWS = union_all(
    select(literal_column("'t'").label("kind"), _TIMERS.c.id, _TIMERS.c.task_id, _TIMERS.c.due_at,
           cast(null(), _SUBSCRIPTIONS.c.correlation_key.type).label("correlation_key"))
    .where(_TIMERS.c.instance_id == bindparam("b_instance")),
    select(literal_column("'s'"), _SUBSCRIPTIONS.c.id, _SUBSCRIPTIONS.c.task_id, cast(null(), _TIMERS.c.due_at.type),
           _SUBSCRIPTIONS.c.correlation_key)
    .where(_SUBSCRIPTIONS.c.instance_id == bindparam("b_instance")),
)


def write(session: Session, instance, derived: Derived, *, now: datetime, actor: str,
          completed: set[str], prefill, is_new: bool = False) -> list[dict]:
    """Bring the instance's side rows in line with `derived`; returns its ready task rows.

    A task that left `ready` is `completed` when it is in `completed` (done by `actor`
    in this unit of work), otherwise `cancelled` (an interrupting event took it away).
    Only differences are written: most changes leave most rows as they were. A new
    instance (`is_new`) has no rows yet: nothing is read.
    """
    connection = session.connection()
    instance_id = instance.id
    existing = {} if is_new else {
        r.id: r._asdict() for r in connection.execute(_READY_TASKS, {"b_instance": instance_id})}
    ready = {t.id: t for t in derived.ready_tasks}
    left = [task_id for task_id in existing if task_id not in ready]
    done = [task_id for task_id in left if task_id in completed]
    gone = [task_id for task_id in left if task_id not in completed]
    if done:
        connection.execute(_FINISH_TASKS, {"b_ids": done, "b_status": "completed", "b_at": now, "b_by": actor})
    if gone:
        connection.execute(_FINISH_TASKS, {"b_ids": gone, "b_status": "cancelled", "b_at": now, "b_by": None})
    rows = []
    new_rows = []
    for task_id, t in ready.items():
        row = existing.get(task_id)
        if row is None:
            row = dict(
                id=t.id, element_id=t.element_id, title=t.title, instance_id=instance_id,
                process_key=instance.process_key, status="ready", assignee=t.assignee,
                candidate_group=t.candidate_group, lane=t.lane, due_at=t.due_at,
                # tasks made ready together keep the diagram's order in every list (ordered by created_at, id)
                created_at=now + timedelta(microseconds=len(new_rows)),
                completed_at=None, completed_by=None)
            new_rows.append(dict(row, form_schema=t.form_schema, form_ui_schema=t.form_ui_schema,
                                 data=prefill(t.data)))
        elif row["due_at"] != t.due_at or (t.assignee and row["assignee"] != t.assignee):
            if t.assignee and row["assignee"] != t.assignee:
                derived.assigned_tasks.append((task_id, t.element_id, t.assignee, row["assignee"]))
            row["due_at"], row["assignee"] = t.due_at, t.assignee or row["assignee"]
            connection.execute(_RETARGET_TASK, {"b_id": task_id, "b_due": row["due_at"],
                                                "b_assignee": row["assignee"]})
        rows.append(row)
    if new_rows:
        connection.execute(_INSERT_TASKS, new_rows)
    derived.created_tasks = new_rows

    timers_have, subscriptions_have = {}, {}
    for r in () if is_new else connection.execute(_WAITING_ROWS, {"b_instance": instance_id}):
        if r.kind == "t":
            timers_have[(r.task_id, r.due_at)] = r.id
        else:
            subscriptions_have[(r.task_id, r.correlation_key)] = r.id
    _sync(connection, _TIMER_SYNC, timers_have,
          {(t.task_id, t.due_at): dict(instance_id=instance_id, task_id=t.task_id, element_id=t.element_id,
                                       due_at=t.due_at, attempts=0) for t in derived.timers})
    _sync(connection, _SUBSCRIPTION_SYNC, subscriptions_have,
          {(s.task_id, correlation_key(s.correlation)): dict(
              instance_id=instance_id, task_id=s.task_id, element_id=s.element_id,
              message_name=s.message_name, correlation_key=correlation_key(s.correlation),
              correlation=s.correlation) for s in derived.subscriptions})
    return sorted(rows, key=lambda r: (r["created_at"], r["id"]))


def _sync(connection, statements, have: dict, wanted: dict) -> None:
    """Delete the rows (`have`: key -> id) whose key is not wanted, insert the wanted ones missing."""
    delete_rows, insert_rows = statements
    stale = [row_id for key, row_id in have.items() if key not in wanted]
    if stale:
        connection.execute(delete_rows, {"b_ids": stale})
    missing = [row for key, row in wanted.items() if key not in have]
    if missing:
        connection.execute(insert_rows, missing)
