"""What the change path works on: one instance record, a loaded instance, a change.

`InstanceRecord` is the one shape of a `process_instances` row in the engine. The hot paths
read the row joined to what brought them there (the task being completed, the subscription a
message goes to, the timer being fired) to save a round trip; each such query selects the
instance's columns (`instance_columns(prefix)`, or the whole table when no other column shares a
name) and `InstanceRecord.of(row, prefix)` builds the record from it - the one place a record is
made from a query. After a save the
record is replaced (`saved`), never patched.

This module imports nothing of the change path, so that the modules around it (messages,
timers, operations) can share these types without importing each other.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import TYPE_CHECKING

from .errors import InvalidState
from .models import ProcessInstance

if TYPE_CHECKING:
    from SpiffWorkflow.bpmn import BpmnWorkflow

    from .definitions import LoadedDefinition


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    """A `process_instances` row as the engine read or last saved it (immutable)."""

    id: str
    definition_id: int | None
    process_key: str
    business_key: str | None
    status: str
    end_event: str | None
    state: bytes | None
    serializer_version: str | None
    version: int                    # optimistic lock: 0 for an instance not saved yet
    error: dict | None
    created_at: datetime | None
    updated_at: datetime | None
    completed_at: datetime | None
    started_by: str | None

    @classmethod
    def of(cls, row, prefix: str = "") -> "InstanceRecord":
        """From any query result that selected `instance_columns(prefix)` (or the whole table)."""
        return cls(*[getattr(row, prefix + name) for name in _FIELDS])

    @classmethod
    def new(cls, instance_id: str, process_key: str, business_key: str | None) -> "InstanceRecord":
        """An instance about to be started: nothing stored yet (`Runtime.change(is_new=True)` inserts it)."""
        return cls(id=instance_id, definition_id=None, process_key=process_key, business_key=business_key,
                   status="running", end_event=None, state=None, serializer_version=None, version=0,
                   error=None, created_at=None, updated_at=None, completed_at=None, started_by=None)

    def saved(self, **values) -> "InstanceRecord":
        """The record as a save just wrote it."""
        return replace(self, **values)


_FIELDS = tuple(f.name for f in fields(InstanceRecord))
assert set(_FIELDS) == {c.name for c in ProcessInstance.__table__.c}, "InstanceRecord must mirror the table"


def instance_columns(prefix: str = "") -> tuple:
    """The instance table's columns, labelled `prefix + name`, for a query `InstanceRecord.of` reads."""
    columns = ProcessInstance.__table__.c
    return tuple(columns[name].label(prefix + name) if prefix else columns[name] for name in _FIELDS)


@dataclass
class Loaded:
    """An instance loaded for one change: its record, the definition it runs on, its workflow."""

    row: InstanceRecord
    definition: "LoadedDefinition"
    workflow: "BpmnWorkflow"
    repaired: int = 0               # branches a pre-13.1 shared-spec mutation had left (see serialization)


@dataclass
class Change:
    """What one action did, for the side tables and the audit trail."""

    kind: str
    actor: str
    element_id: str | None = None
    task_id: str | None = None
    details: dict = field(default_factory=dict)
    completed_tasks: set[str] = field(default_factory=set)
    forced_status: str | None = None


class UnloadableInstance(InvalidState):
    """The stored state of an instance cannot be loaded (corrupt row, unknown type, incompatible spec).

    Jobs skip such an instance (`Runtime.quarantine` puts it in `error` with an incident) and go on
    with the others; erasure and cancellation end it by row (`Runtime.end_unloadable`)."""

    def __init__(self, instance_id: str, reason: str):
        super().__init__(f"instance {instance_id} cannot be loaded: {reason}")
        self.instance_id, self.reason = instance_id, reason
