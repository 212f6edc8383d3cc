"""Plain dataclasses the engine returns (and the functions that build them); the API turns them into JSON."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace


@dataclass
class DefinitionView:
    id: int
    process_key: str
    version: int
    content_hash: str
    deployed_at: datetime
    deployed_by: str
    note: str | None = None     # the change note of a deploy from the studio (docs/studio.md)


@dataclass
class DefinitionDetail:
    """A process's versions, newest first, and the file names of the newest's bundle and forms."""
    versions: list[DefinitionView]
    files: list[str]
    forms: list[str]


@dataclass
class TimerView:
    element_id: str
    due_at: datetime
    task_id: str


@dataclass
class SubscriptionView:
    name: str
    correlation: dict
    element_id: str


@dataclass
class TaskView:
    id: str
    element_id: str
    title: str | None
    instance_id: str
    process_key: str
    status: str
    assignee: str | None
    candidate_groups: list[str]
    lane: str | None
    created_at: datetime
    due_at: datetime | None
    completed_at: datetime | None = None
    completed_by: str | None = None
    form: dict | None = None        # {"schema": ..., "ui_schema": ...}; only on single-task reads
    data: dict | None = None        # prefill; only on single-task reads
    instance_version: int | None = None
    assignee_name: str | None = None        # display names (else the user name), filled by readmodels.name_tasks
    completed_by_name: str | None = None


@dataclass
class InstanceView:
    id: str
    process_key: str
    version: int                    # definition version the instance runs on
    business_key: str | None
    status: str
    end_event: str | None
    error: dict | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    row_version: int                # optimistic-lock version (ETag material)
    ready_tasks: list[TaskView] = field(default_factory=list)
    waiting_timers: list[TimerView] = field(default_factory=list)
    waiting_messages: list[SubscriptionView] = field(default_factory=list)


@dataclass
class AuditEntry:
    id: int
    instance_id: str | None
    at: datetime
    actor: str
    kind: str
    element_id: str | None
    task_id: str | None
    details: dict
    actor_name: str | None = None   # the directory's display name (else the user name); None: not a person


@dataclass
class Delivery:
    """Result of delivering a message: who got it, or that it was buffered."""

    delivered_to: list[str]
    buffered_id: int | None = None
    expires_at: datetime | None = None
    replayed: bool = False          # a second delivery of the same message_id: the first answer


@dataclass
class FiringReport:
    fired: int = 0          # timers fired
    conflicts: int = 0      # skipped because the instance changed under us
    errors: int = 0         # instances that went to `error` while firing


def task_view(r) -> TaskView:
    """From a HumanTask row, a mapping's attributes or any row with the task view columns."""
    return TaskView(
        id=r.id, element_id=r.element_id, title=r.title, instance_id=r.instance_id,
        process_key=r.process_key, status=r.status, assignee=r.assignee,
        candidate_groups=[r.candidate_group] if r.candidate_group else [], lane=r.lane,
        created_at=r.created_at, due_at=r.due_at, completed_at=r.completed_at,
        completed_by=r.completed_by)


def instance_view(inst, version: int) -> InstanceView:
    """From a ProcessInstance row or an InstanceRecord, and the version of the definition it runs on."""
    return InstanceView(
        id=inst.id, process_key=inst.process_key, version=version, business_key=inst.business_key,
        status=inst.status, end_event=inst.end_event, error=inst.error, created_at=inst.created_at,
        updated_at=inst.updated_at, completed_at=inst.completed_at, row_version=inst.version)


def view_after(changed) -> InstanceView:
    """The instance as a change just saved it (an operations.Changed), from memory: no read-back queries."""
    view = instance_view(changed.instance, changed.definition_version)
    derived = changed.derived
    view.ready_tasks = [task_view(SimpleNamespace(**r)) for r in derived.task_rows]
    view.waiting_timers = [TimerView(t.element_id, t.due_at, t.task_id)
                           for t in sorted(derived.timers, key=lambda t: t.due_at)]
    view.waiting_messages = [SubscriptionView(m.message_name, m.correlation, m.element_id)
                             for m in derived.subscriptions]
    return view
