"""A candidate's recall cases, driven through the engine's one change path.

Everything here runs in the caller's transaction and goes through `Runtime.change`
(start, signal, cancel), so versions, side tables and the audit trail stay as for any
other change.
"""
from __future__ import annotations

import uuid

from sqlalchemy import or_, select, union
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.spiff.specs.event_definitions import SignalEventDefinition
from SpiffWorkflow.task import TaskState

from ..archive_models import CandidateDecline
from ..definitions import latest_definition_id
from ..forms import start_schema_name, validate_start_variables
from ..models import AuditEvent, BufferedMessage, MessageSubscription, ProcessInstance
from ..runtime import Change, Loaded, UnloadableInstance
from ..sidetables import correlation_key

RECALL_PROCESS = "offer_recall"
LIVE = ("running", "waiting")
# A case is "in its cadence" while it listens for the candidate's reply (follow-ups or snooze).
CADENCE_MESSAGE = "candidate_replied"


class _NewInstance:
    """The row of an instance not saved yet (what Runtime.change(is_new=True) reads)."""

    def __init__(self, **values):
        self.__dict__.update(values)


def instance_ids(session: Session, candidate_id: str, *, thorough: bool = False) -> list[str]:
    """The candidate's cases: started by a recorded decline, or with the candidate id as business key.

    `thorough` (erasure, consent lapse): also cases started with the candidate id as the
    `candidate_id` start variable under any business key, and cases correlated on it (waiting for a
    message, or sent one: live or ended). It scans two kinds of audit events (docs/privacy.md has
    the measured cost), so the reads on every request use the indexed ways only."""
    by_decline = select(CandidateDecline.instance_id.label("id")).where(
        CandidateDecline.candidate_id == candidate_id, CandidateDecline.instance_id.is_not(None))
    by_key = select(ProcessInstance.id.label("id")).where(ProcessInstance.business_key == candidate_id)
    ways = [by_decline, by_key]
    if thorough:
        key = correlation_key({"candidate_id": candidate_id})
        ways.append(select(MessageSubscription.instance_id.label("id")).where(
            MessageSubscription.correlation_key == key))
        ways.append(select(BufferedMessage.delivered_to.label("id")).where(
            BufferedMessage.correlation_key == key, BufferedMessage.delivered_to.is_not(None)))
        ways.append(select(AuditEvent.instance_id.label("id")).where(
            AuditEvent.kind.in_(("instance_started", "message_delivered")), AuditEvent.instance_id.is_not(None),
            or_(AuditEvent.details["candidate_id"].as_string() == candidate_id,
                AuditEvent.details[("correlation", "candidate_id")].as_string() == candidate_id)))
    ids = union(*ways).subquery()
    return list(session.scalars(
        select(ProcessInstance.id).where(ProcessInstance.id.in_(select(ids.c.id)))
        .order_by(ProcessInstance.created_at, ProcessInstance.id)))


def subject_of(variables: dict | None) -> dict:
    """What the `instance_started` audit records of whom a case is about (found again at erasure)."""
    value = (variables or {}).get("candidate_id")
    return {"candidate_id": value} if isinstance(value, str) and value else {}


def start_recall(engine, session: Session, *, variables: dict, business_key: str, actor: str) -> str:
    """Start `offer_recall` in this unit of work (as RecallEngine.start_instance does in its own)."""
    runtime = engine.runtime
    definition = engine.specs.get(session, latest_definition_id(session, RECALL_PROCESS))
    validate_start_variables(definition.forms.get(start_schema_name(RECALL_PROCESS)), variables)
    workflow = runtime.new_workflow(definition, dict(variables))
    instance_id = str(uuid.uuid4())
    row = _NewInstance(id=instance_id, business_key=business_key, version=0, status="running",
                       process_key=RECALL_PROCESS)
    runtime.change(session, Loaded(row, definition, workflow), None, Change(
        "instance_started", actor, None, None,
        {"process_key": RECALL_PROCESS, "version": definition.version, "business_key": business_key,
         "variables": sorted(variables), **subject_of(variables)}), is_new=True)
    return instance_id


def live_cases(session: Session, ids: list[str]) -> list[str]:
    if not ids:
        return []
    return list(session.scalars(select(ProcessInstance.id).where(
        ProcessInstance.id.in_(ids), ProcessInstance.status.in_(LIVE)).order_by(ProcessInstance.created_at)))


def in_cadence(session: Session, ids: list[str]) -> list[str]:
    """Live cases waiting for the candidate's reply (read from the subscription side table)."""
    if not ids:
        return []
    return list(session.scalars(
        select(MessageSubscription.instance_id).distinct()
        .join(ProcessInstance, ProcessInstance.id == MessageSubscription.instance_id)
        .where(MessageSubscription.instance_id.in_(ids), MessageSubscription.message_name == CADENCE_MESSAGE,
               ProcessInstance.status.in_(LIVE))))


def signal_catcher(workflow, name: str) -> str | None:
    """BPMN id of what in this workflow would catch signal `name` now, or None.

    A waiting catch event, or the signal start event of an event sub-process (SpiffWorkflow
    starts those from the process's start task when the event arrives, see EventManager).
    """
    definition = SignalEventDefinition(name)
    event = BpmnEvent(definition)
    for task in workflow.event_manager.tasks.values():
        if task.has_state(TaskState.WAITING) and task.task_spec.catches(task, event):
            return task.task_spec.bpmn_id
    for spec_name in getattr(workflow.spec.start, "trigger_specs", []):
        sub_spec = workflow.subprocess_specs.get(spec_name)
        for start in getattr(sub_spec, "bpmn_start_events", []):
            if start.event_definition == definition:
                return start.bpmn_id
    return None


def send_signal(engine, session: Session, instance_id: str, name: str, payload: dict, *,
                correlation: dict, actor: str) -> bool:
    """Deliver BPMN signal `name` to one case if it waits for it; audited as a delivery.

    A case whose state cannot be loaded is put in error (incident) and skipped."""
    runtime = engine.runtime
    try:
        loaded = runtime.load(session, instance_id)
    except UnloadableInstance as exc:
        runtime.quarantine(session, exc, actor=actor)
        return False
    if loaded.row.status not in LIVE:
        return False
    catcher = signal_catcher(loaded.workflow, name)
    if catcher is None:
        return False
    event = BpmnEvent(SignalEventDefinition(name), payload=dict(payload))
    runtime.change(session, loaded, lambda wf: wf.send_event(event), Change(
        "message_delivered", actor, catcher, None,
        {"name": name, "correlation": correlation, "payload": payload, "event": "signal"}))
    return True


def cancel_case(engine, session: Session, instance_id: str, *, actor: str, reason: str,
                also=None) -> bool:
    """Cancel a live case (optionally doing `also(workflow)` in the same change).

    A case whose state cannot be loaded is cancelled by row; with `also` (erasure) its state is
    replaced, since it cannot be scrubbed."""
    runtime = engine.runtime
    try:
        loaded = runtime.load(session, instance_id)
    except UnloadableInstance as exc:
        return runtime.end_unloadable(session, exc, actor=actor, reason=reason, erase_state=also is not None)
    if loaded.row.status not in LIVE and loaded.row.status != "error":
        return False

    def cancel(wf):
        wf.cancel()
        if also is not None:
            also(wf)

    runtime.change(session, loaded, cancel, Change("instance_cancelled", actor, details={"reason": reason},
                                                   forced_status="cancelled"))
    return True
