"""The engine's session-level operations: start, cancel, retry, complete, claim/release/reassign a task,
signal, deliver, scrub, audit.

Each runs in the caller's `Session` and never commits, so a caller with a unit of work of its
own composes them (the archive records a decline and starts its case in one transaction). Every
rule of an operation lives here once: `RecallEngine` (engine/service.py) only opens the unit of
work, applies its retry policy and calls one of these; the archive (engine/archive/) and the
privacy jobs call the same ones. Each that changes a case goes through the one change path
(`Runtime.change`); who holds a task (claim, release, reassign) is the task's row only.

    ops = engine.ops
    with engine.db.write_transaction() as session:
        changed = ops.start(session, "offer_recall", variables={...}, business_key="cand-42", actor="hr.li")
        ops.audit(session, changed.instance.id, "decline_recorded", "hr.li", details={...})
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Callable
from uuid import UUID

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.spiff.specs.event_definitions import SignalEventDefinition
from SpiffWorkflow.task import TaskState

from . import messages, sidetables
from .assignment import check_four_eyes, check_may_hold, check_users
from .datasize import check_data_size, check_state_size
from .definitions import latest_definition_id
from .errors import ConcurrentChange, InvalidState, NotAssignee, NotFound, StaleVersion, TaskNotReady
from .forms import refuse_reserved, start_schema_name, validate_form_data, validate_start_variables
from .instances import Change, InstanceRecord, Loaded, UnloadableInstance, instance_columns
from .models import HumanTask, ProcessInstance
from .runtime import Runtime
from .status import ENDED, LIVE
from .views import Delivery, TaskView, task_view

# A completion hook runs in a task completion's unit of work, after the change, as that user's
# change: hook(session, ops, instance_id=, element_id=, data=, actor=, definition=). The archive applies a
# consent answer and a confirmed decline this way.
CompletionHook = Callable[..., object]


@dataclass(frozen=True, slots=True)
class Changed:
    """An instance as one operation just saved it: enough for the caller's view, read from memory."""

    instance: InstanceRecord
    definition_version: int
    derived: sidetables.Derived


class CancelOutcome(Enum):
    CANCELLED = "cancelled"             # through the change path (`change` is set)
    CANCELLED_BY_ROW = "cancelled_by_row"   # its state could not be loaded: status, side rows and audit by row
    ALREADY_ENDED = "already_ended"     # only with only_if_active=True: nothing done


@dataclass(frozen=True, slots=True)
class Cancellation:
    instance_id: str
    outcome: CancelOutcome
    change: Changed | None = None

    @property
    def cancelled(self) -> bool:
        return self.outcome is not CancelOutcome.ALREADY_ENDED


class SignalOutcome(Enum):
    DELIVERED = "delivered"
    NOT_LIVE = "not_live"               # the case has ended or is in error
    NOT_AWAITED = "not_awaited"         # nothing in the case catches this signal now
    UNLOADABLE = "unloadable"           # its state cannot be loaded: put in error with an incident


# The task to complete and its instance's whole record in one query (the hottest path).
_TASKS = HumanTask.__table__
_TASK_VIEW_COLUMNS = tuple(_TASKS.c[name] for name in sidetables.TASK_VIEW_COLUMNS)
_INSTANCE_PREFIX = "inst__"
_TASK_AND_INSTANCE = (
    select(*_TASK_VIEW_COLUMNS, _TASKS.c.form_schema, *instance_columns(_INSTANCE_PREFIX))
    .join(ProcessInstance.__table__, ProcessInstance.__table__.c.id == _TASKS.c.instance_id)
    .where(_TASKS.c.id == bindparam("b_id")))


def subject_of(variables: dict | None) -> dict:
    """Whom a case is about, in its `instance_started` audit (erasure finds the case by it)."""
    value = (variables or {}).get("candidate_id")
    return {"candidate_id": value} if isinstance(value, str) and value else {}


def check_start_variables(definition, variables: dict) -> None:
    """Start variables against the process's start schema (FormValidationError naming each bad one)."""
    validate_start_variables(definition.forms.get(start_schema_name(definition.process_key)), variables)


def signal_catcher(workflow: BpmnWorkflow, name: str) -> str | None:
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


class Operations:
    """Session-level operations on instances, with the rules each must obey (see module doc)."""

    def __init__(self, runtime: Runtime, *, max_task_data_bytes: int, max_instance_state_bytes: int):
        self.runtime = runtime
        self.max_task_data_bytes = max_task_data_bytes      # one change's data (engine/datasize.py)
        self.max_instance_state_bytes = max_instance_state_bytes   # a case's stored state after an answer
        # Registered by an extension of the engine (the talent archive: engine.archive.install).
        self.completion_hooks: list[CompletionHook] = []
        self.cases_of_candidate: messages.CandidateCases | None = None

    @property
    def clock(self):
        """The engine's clock (what every audit time and timer check reads)."""
        return self.runtime.clock

    def audit(self, session: Session, instance_id: str | None, kind: str, actor: str,
              element_id: str | None = None, task_id: str | None = None, details: dict | None = None) -> None:
        """Append one audit event (the archive's own events too: one trail)."""
        self.runtime.audit(session, instance_id, kind, actor, element_id, task_id, details)

    def _changed(self, loaded: Loaded, derived: sidetables.Derived) -> Changed:
        return Changed(loaded.row, loaded.definition.version, derived)

    # ---------------------------------------------------------------- start
    def start(self, session: Session, process_key: str, *, variables: dict | None, actor: str,
              business_key: str | None = None, version: int | None = None,
              definition_id: int | None = None) -> Changed:
        """Start the latest (or `version`) of a process: start variables checked, `instance_started` audited.
        `definition_id`: the caller read which one already (a bulk call starting many cases)."""
        variables = dict(variables or {})
        definition = self.runtime.specs.get(session, definition_id or latest_definition_id(session, process_key, version))
        check_start_variables(definition, variables)
        # a start variable marked x-recall-user (onboarding_goals' manager_username) names a known user
        check_users(session, definition.forms.get(start_schema_name(process_key)), variables, prefix="variables.")
        check_data_size(variables, self.max_task_data_bytes, what="the start variables", prefix="variables.")
        wf = self.runtime.new_workflow(definition, dict(variables))
        loaded = Loaded(InstanceRecord.new(str(uuid.uuid4()), process_key, business_key), definition, wf)
        derived = self.runtime.change(session, loaded, None, Change(
            "instance_started", actor, None, None,
            {"process_key": process_key, "version": definition.version, "business_key": business_key,
             "variables": sorted(variables), **subject_of(variables)}),
            is_new=True)
        return self._changed(loaded, derived)

    # ---------------------------------------------------------------- cancel
    def cancel(self, session: Session, instance_id: str, *, actor: str, reason: str = "",
               expected_version: int | None = None, only_if_active: bool = False,
               scrub: Callable[[BpmnWorkflow], None] | None = None) -> Cancellation:
        """Cancel a running, waiting or failed instance.

        An instance that has already ended raises InvalidState (the API's 409), or with
        `only_if_active` is left alone (ALREADY_ENDED). `scrub(workflow)` changes its data in the same
        change (erasure); an instance whose state cannot be loaded is cancelled by row, and with
        `scrub` its state is replaced since it cannot be scrubbed field by field."""
        try:
            loaded = self.runtime.load(session, instance_id)
        except UnloadableInstance as exc:
            if expected_version is not None:
                seen = session.scalar(select(ProcessInstance.version).where(ProcessInstance.id == instance_id))
                if seen != expected_version:
                    raise StaleVersion(f"instance {instance_id} is at version {seen}, not {expected_version}; "
                                       "reload and retry") from exc
            if self.runtime.end_unloadable(session, exc, actor=actor, reason=reason, erase_state=scrub is not None):
                return Cancellation(instance_id, CancelOutcome.CANCELLED_BY_ROW)
            if only_if_active:
                return Cancellation(instance_id, CancelOutcome.ALREADY_ENDED)
            raise InvalidState(f"instance {instance_id} has already ended") from exc
        if loaded.row.status in ENDED:
            if only_if_active:
                return Cancellation(instance_id, CancelOutcome.ALREADY_ENDED)
            raise InvalidState(f"instance {instance_id} is already {loaded.row.status}")

        def cancel(wf):
            wf.cancel()
            if scrub is not None:
                scrub(wf)

        derived = self.runtime.change(session, loaded, cancel, Change(
            "instance_cancelled", actor, details={"reason": reason}, forced_status="cancelled"),
            expected_version=expected_version)
        return Cancellation(instance_id, CancelOutcome.CANCELLED, self._changed(loaded, derived))

    # ---------------------------------------------------------------- retry
    def retry(self, session: Session, instance_id: str, *, actor: str, data: dict | None = None,
              upgrade: bool = False, expected_version: int | None = None) -> Changed:
        """Re-run the failed step of an instance in `error`.

        `data` corrects task data first; `upgrade` moves the instance to the latest version of its
        process (the fixed diagram) when every element it reached exists there."""
        process_key = session.scalar(select(ProcessInstance.process_key).where(ProcessInstance.id == instance_id))
        if process_key is None:
            raise NotFound(f"no process instance {instance_id}")
        target = latest_definition_id(session, process_key) if upgrade else None
        loaded = self.runtime.load(session, instance_id, definition_id=target)
        if loaded.row.status != "error":
            raise InvalidState(f"instance {instance_id} is {loaded.row.status}, not in error")
        failed = [t for t in sidetables.all_tasks(loaded.workflow) if t.has_state(TaskState.ERROR)]
        refuse_reserved(data or {}, what="retry data")
        check_data_size(data, self.max_task_data_bytes, what="the retry data", prefix="data.")

        def retry(wf):
            for task in failed:
                if data:
                    task.data.update(data)
                task._set_state(TaskState.READY)

        derived = self.runtime.change(session, loaded, retry, Change(
            "instance_retried", actor, failed[0].task_spec.bpmn_id if failed else None,
            str(failed[0].id) if failed else None,
            {"previous_error": loaded.row.error, "data_keys": sorted((data or {}).keys()),
             "definition_version": loaded.definition.version}),
            expected_version=expected_version)
        return self._changed(loaded, derived)

    # ---------------------------------------------------------------- complete
    def complete(self, session: Session, task_id: str, data: dict, *, actor: str,
                 expected_version: int | None = None, enforce_assignee: bool = False,
                 authorize: Callable[[TaskView], None] | None = None) -> Changed:
        """Validate `data` against the task's form, apply it and run on to the next wait state.

        `authorize(view)` runs first and may raise to refuse; then TaskNotReady if the task is not
        ready, StaleVersion if `expected_version` is not the instance's. The completion hooks run
        after the change, in the same unit of work."""
        row = session.connection().execute(_TASK_AND_INSTANCE, {"b_id": task_id}).first()
        if row is None:
            raise NotFound(f"no task {task_id}")
        if authorize is not None:
            authorize(task_view(row))
        if row.status != "ready":
            raise TaskNotReady(f"task {task_id} ({row.element_id}) is already {row.status}")
        if enforce_assignee and row.assignee and row.assignee != actor:
            raise NotAssignee(f"task {task_id} is assigned to {row.assignee}")
        loaded = self.runtime.load(session, row.instance_id, row=InstanceRecord.of(row, _INSTANCE_PREFIX))
        if loaded.row.status not in LIVE:
            raise InvalidState(f"instance {row.instance_id} is {loaded.row.status}")
        task = loaded.workflow.get_task_from_id(UUID(task_id))
        if task is None or not task.has_state(TaskState.READY):
            raise TaskNotReady(f"task {task_id} ({row.element_id}) is no longer ready")
        check_four_eyes(session, loaded.definition, instance_id=row.instance_id, element_id=row.element_id,
                        user=actor)
        schema = loaded.definition.forms.get(row.form_schema) if row.form_schema else None
        validate_form_data(schema, data)
        check_data_size(data, self.max_task_data_bytes, what="the answer")
        check_users(session, schema, data)

        def complete(wf):
            task.data.update(data)
            task.run()

        derived = self.runtime.change(session, loaded, complete, Change(
            "task_completed", actor, row.element_id, task_id, {"data": data},
            completed_tasks={task_id}), expected_version=expected_version)
        check_state_size(loaded.row.state, self.max_instance_state_bytes)
        for hook in self.completion_hooks:
            hook(session, self, instance_id=row.instance_id, element_id=row.element_id, data=data, actor=actor,
                 definition=loaded.definition)
        return self._changed(loaded, derived)

    # ---------------------------------------------------------------- who holds a task
    def claim(self, session: Session, task_id: str, *, user: str,
              authorize: Callable[[TaskView], None] | None = None) -> TaskView:
        """Take a ready task: unclaimed or already `user`'s (NotAssignee if someone else holds it);
        the four-eyes rule holds; audited `task_claimed` (again on a second claim by the holder).

        The task's row and the case's stamp (`_touch_case`); the workflow's state does not know who holds
        a task."""
        row = self._ready_task(session, task_id, authorize)
        stamp = self._touch_case(session, row.instance_id)
        result = session.execute(
            update(_TASKS).where(_TASKS.c.id == task_id, _TASKS.c.status == "ready",
                                 or_(_TASKS.c.assignee.is_(None), _TASKS.c.assignee == user))
            .values(assignee=user))
        if result.rowcount != 1:
            raise NotAssignee(f"task {task_id} is assigned to {row.assignee}")
        definition_id = session.scalar(select(ProcessInstance.definition_id)
                                       .where(ProcessInstance.id == row.instance_id))
        check_four_eyes(session, self.runtime.specs.get(session, definition_id), instance_id=row.instance_id,
                        element_id=row.element_id, user=user)
        self.audit(session, row.instance_id, "task_claimed", user, row.element_id, task_id, {})
        view = task_view(row)
        view.assignee = user
        view.instance_version = stamp
        return view

    def release(self, session: Session, task_id: str, *, actor: str,
                authorize: Callable[[TaskView], None] | None = None) -> TaskView:
        """Give a claimed task back to its group's queue; audited `task_released` with who held it.

        The task's row and the case's stamp, like a claim.
        An unclaimed task is answered as it is, with no audit: a second click changes nothing."""
        row = self._ready_task(session, task_id, authorize)
        view = task_view(row)
        if row.assignee is None:
            return view
        view.instance_version = self._touch_case(session, row.instance_id)
        self._set_assignee(session, row, None)
        self.audit(session, row.instance_id, "task_released", actor, row.element_id, task_id,
                   {"from": row.assignee})
        view.assignee = None
        return view

    def reassign(self, session: Session, task_id: str, *, to: str, actor: str,
                 authorize: Callable[[TaskView], None] | None = None) -> TaskView:
        """Give a ready task to `to`: a member of its group, or a manager for a hand-off
        (`assignment.check_may_hold`, 422 naming `to`); the four-eyes rule holds for them too.

        Audited `task_reassigned` with from/to; reassigning to the holder changes nothing."""
        row = self._ready_task(session, task_id, authorize)
        view = task_view(row)
        check_may_hold(session, to, row.candidate_group)
        if row.assignee == to:
            return view
        definition_id = session.scalar(select(ProcessInstance.definition_id)
                                       .where(ProcessInstance.id == row.instance_id))
        check_four_eyes(session, self.runtime.specs.get(session, definition_id), instance_id=row.instance_id,
                        element_id=row.element_id, user=to)
        view.instance_version = self._touch_case(session, row.instance_id)
        self._set_assignee(session, row, to)
        self.audit(session, row.instance_id, "task_reassigned", actor, row.element_id, task_id,
                   {"from": row.assignee, "to": to})
        view.assignee = to
        return view

    def _ready_task(self, session: Session, task_id: str, authorize):
        row = session.execute(select(*_TASK_VIEW_COLUMNS).where(_TASKS.c.id == task_id)).first()
        if row is None:
            raise NotFound(f"no task {task_id}")
        if authorize is not None:
            authorize(task_view(row))
        if row.status != "ready":
            raise TaskNotReady(f"task {task_id} ({row.element_id}) is {row.status}")
        return row

    def _touch_case(self, session: Session, instance_id: str) -> int:
        """A change of who holds a task is a change of its case: the instance's version (its ETag) and
        `updated_at` move on, like after any step of the workflow. Locks the instance's row before the
        task's, in the order a workflow change takes them (no deadlock on PostgreSQL); a change of the
        workflow racing this one then loses its optimistic lock and runs again."""
        return session.execute(
            update(ProcessInstance).where(ProcessInstance.id == instance_id)
            .values(version=ProcessInstance.version + 1, updated_at=self.clock.now())
            .returning(ProcessInstance.version).execution_options(synchronize_session=False)).scalar_one()

    @staticmethod
    def _set_assignee(session: Session, row, assignee: str | None) -> None:
        """Change the holder only if nobody changed it since `row` was read (a racing claim)."""
        holder = _TASKS.c.assignee.is_(None) if row.assignee is None else _TASKS.c.assignee == row.assignee
        result = session.execute(update(_TASKS).where(_TASKS.c.id == row.id, _TASKS.c.status == "ready", holder)
                                 .values(assignee=assignee))
        if result.rowcount != 1:
            raise ConcurrentChange(f"task {row.id} changed hands meanwhile")

    # ---------------------------------------------------------------- signals and messages
    def signal(self, session: Session, instance_id: str, name: str, payload: dict, *,
               correlation: dict, actor: str) -> SignalOutcome:
        """Deliver BPMN signal `name` to one instance if it waits for it; audited as a delivery.

        An instance whose state cannot be loaded is put in error (incident) and skipped."""
        try:
            loaded = self.runtime.load(session, instance_id)
        except UnloadableInstance as exc:
            self.runtime.quarantine(session, exc, actor=actor)
            return SignalOutcome.UNLOADABLE
        if loaded.row.status not in LIVE:
            return SignalOutcome.NOT_LIVE
        catcher = signal_catcher(loaded.workflow, name)
        if catcher is None:
            return SignalOutcome.NOT_AWAITED
        event = BpmnEvent(SignalEventDefinition(name), payload=dict(payload))
        self.runtime.change(session, loaded, lambda wf: wf.send_event(event), Change(
            "message_delivered", actor, catcher, None,
            {"name": name, "correlation": correlation, "payload": payload, "event": "signal"}))
        return SignalOutcome.DELIVERED

    def receive_message(self, session: Session, name: str, correlation: dict, payload: dict, *, actor: str,
                        instance_id: str | None = None, mode: str = "buffer", message_id: str | None = None,
                        ttl: timedelta | None = None, held_by: str | None = None) -> Delivery:
        """A message from outside: checked, delivered, kept for later or refused (engine/messages.py).

        `held_by`: recorded by a person who may only speak for the candidate of a case where they
        hold a ready task (a hiring manager during their hand-off); NotAssignee otherwise."""
        if held_by is not None:
            self._check_holds_case(session, held_by, correlation, instance_id)
        check_data_size(payload, self.max_task_data_bytes, what="the payload", prefix="payload.")
        return messages.receive(self.runtime, session, name, correlation, payload, actor=actor,
                                instance_id=instance_id, ttl=ttl, mode=mode, message_id=message_id,
                                cases_of_candidate=self.cases_of_candidate)

    def _check_holds_case(self, session: Session, user: str, correlation: dict, instance_id: str | None) -> None:
        candidate = correlation.get("candidate_id")
        cases = (self.cases_of_candidate(session, candidate)
                 if isinstance(candidate, str) and candidate and self.cases_of_candidate is not None else [])
        if instance_id is not None:
            cases = [case for case in cases if case == instance_id]
        held = cases and session.scalar(select(HumanTask.id).where(
            HumanTask.instance_id.in_(cases), HumanTask.assignee == user, HumanTask.status == "ready").limit(1))
        if not held:
            raise NotAssignee(f"{user} holds no task in a case of candidate {candidate!r}: a hiring manager "
                              "records the candidate's messages only during their hand-off")

    def expire_messages(self, session: Session) -> int:
        """Drop buffered messages past their expiry (each audited)."""
        return messages.expire_buffered(self.runtime, session)

    # ---------------------------------------------------------------- ended cases and repair
    def scrub_ended(self, session: Session, instance_id: str, scrub: Callable[[BpmnWorkflow], None], *,
                    actor: str, error: Callable[[dict], dict] | None = None) -> None:
        """Scrub a completed or cancelled case's workflow data (and, with `error`, its error) and save it.

        Saved as it is, not run (`Runtime.save_unrun`); audited `data_erased`. A case whose state
        cannot be loaded has its state replaced instead."""
        try:
            loaded = self.runtime.load(session, instance_id)
        except UnloadableInstance as exc:
            self.runtime.end_unloadable(session, exc, actor=actor, reason="erasure", erase_state=True)
            return
        scrub(loaded.workflow)
        record = loaded.row
        self.runtime.save_unrun(session, loaded,
                                error=error(record.error) if error is not None and record.error else record.error)
        self.audit(session, instance_id, "data_erased", actor, None, None, {"scope": "workflow_state"})

    def repair_stuck(self, session: Session, instance_id: str) -> bool:
        """Save a live instance the load repaired (issue 13.1's stuck cases); False if nothing to repair."""
        return self.runtime.repair_stuck(session, instance_id)
