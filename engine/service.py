"""The engine's front door: every public operation is one unit of work.

    engine = RecallEngine.from_settings(Settings.from_env())
    engine.deploy(["workflows"])
    inst = engine.start_instance("offer_recall", business_key="cand-42", variables={...})
    task = engine.list_tasks(instance_id=inst.id)[0]
    engine.complete_task(task.id, {...}, actor="hr.li")
    engine.fire_due_timers()
"""
from __future__ import annotations

import functools
import uuid
from types import SimpleNamespace
from datetime import timedelta
from pathlib import Path
from typing import Callable, Sequence
from uuid import UUID

from sqlalchemy import Integer, bindparam, false, or_, select, update
from sqlalchemy.exc import IntegrityError
from SpiffWorkflow.task import TaskState

from . import days, messages, sidetables, timers
from .bundle import load_bundle
from .clock import SharedSimulatedClock, SimulatedClock, SystemClock
from .config import Settings
from .db import Database
from .definitions import (
    DeployedProcess, SpecCache, definition_detail, definition_version, definition_versions, deploy_bundle,
    latest_definition_id,
)
from .errors import (
    InvalidState, NotAssignee, NotFound, StaleVersion, TaskNotReady,
)
from .assignment import check_four_eyes, check_users
from .datasize import (
    DEFAULT_MAX_INSTANCE_STATE_BYTES, DEFAULT_MAX_TASK_DATA_BYTES, check_data_size, check_state_size,
)
from .forms import refuse_reserved, start_schema_name, validate_form_data, validate_start_variables
from .models import (
    AuditEvent, HumanTask, MessageSubscription, ProcessDefinition, ProcessInstance, WaitingTimer,
)
from .runtime import Change, Loaded, Runtime, UnloadableInstance, again_on_conflict
from .serialization import StateSerializer
from .views import (
    AuditEntry, DefinitionDetail, DefinitionView, Delivery, FiringReport, InstanceView, SubscriptionView, TaskView, TimerView,
)

LIVE = ("running", "waiting")


class RecallEngine:
    def __init__(self, db: Database, *, clock=None, script_timeout: float = 1.0,
                 spec_cache_size: int = 64, message_ttl: timedelta = timedelta(days=7),
                 script_memory_mb: int = 256, script_workers: int = 2,
                 max_task_data_bytes: int = DEFAULT_MAX_TASK_DATA_BYTES,
                 max_instance_state_bytes: int = DEFAULT_MAX_INSTANCE_STATE_BYTES):
        from .sandbox import shared_pool
        from .scripting import make_script_engine

        self.db = db
        self.clock = clock or SystemClock()
        self.max_task_data_bytes = max_task_data_bytes      # one change's data (engine/datasize.py)
        self.max_instance_state_bytes = max_instance_state_bytes   # a case's stored state after an answer
        self.serializer = StateSerializer()
        self.specs = SpecCache(self.serializer, spec_cache_size)
        self.runtime = Runtime(self.serializer, self.specs, make_script_engine(
            timeout=script_timeout, sandbox=shared_pool(script_workers, script_memory_mb)),
                               self.clock, message_ttl=message_ttl)
        from .archive.consent import record_task_answer
        from .archive.records import record_decline_answer
        # Run in a task completion's unit of work, after the change: (session, runtime, instance_id,
        # element_id, data, actor). The archive applies a consent answer and a confirmed decline here,
        # as that user's change.
        self.completion_hooks: list[Callable] = [record_task_answer, record_decline_answer]

    @classmethod
    def from_settings(cls, settings: Settings, *, db: Database | None = None) -> "RecallEngine":
        days.use_zone(settings.timezone)     # one zone per process for the days people enter
        if settings.clock != "simulated":
            clock = SystemClock()
        elif settings.simulated_clock_file:     # one time for several processes (`recall serve --processes`)
            clock = SharedSimulatedClock(settings.simulated_clock_file)
        else:
            clock = SimulatedClock()
        return cls(db or Database(settings.database_url), clock=clock,
                   script_timeout=settings.script_timeout_seconds,
                   script_memory_mb=settings.script_memory_mb, script_workers=settings.script_workers,
                   spec_cache_size=settings.spec_cache_size,
                   message_ttl=timedelta(seconds=settings.message_ttl_seconds),
                   max_task_data_bytes=settings.max_task_data_bytes,
                   max_instance_state_bytes=settings.max_instance_state_bytes)

    # ---------- definitions ----------
    def validate(self, paths: Sequence[str | Path], *, forms_dir=None):
        return load_bundle(paths, forms_dir=forms_dir)

    def deploy(self, paths: Sequence[str | Path], *, forms_dir=None, actor: str = "system"
               ) -> list[DeployedProcess]:
        """Validate and store a new version of each changed process; raises BundleInvalid."""
        bundle = load_bundle(paths, forms_dir=forms_dir)
        with self.db.transaction() as s:
            results = deploy_bundle(s, bundle, self.serializer, actor=actor, now=self.clock.now())
            for r in results:
                if r.created:
                    self.runtime.audit(s, None, "definition_deployed", actor, r.process_key, None,
                                       {"version": r.version, "content_hash": r.content_hash})
            return results

    def list_definitions(self, *, process_key: str | None = None, latest_only: bool = False,
                         limit: int | None = 50, offset: int = 0) -> list[DefinitionView]:
        """Deployed versions by process key, newest first; `latest_only`: each process's newest alone."""
        with self.db.read_committed() as s:
            return definition_versions(s, process_key=process_key, latest_only=latest_only,
                                       limit=limit, offset=offset)

    def get_definition(self, process_key: str, version: int | None = None) -> DefinitionView:
        """One version (default: the latest) of a process."""
        with self.db.read_committed() as s:
            return definition_version(s, process_key, version)

    def get_definition_detail(self, process_key: str) -> DefinitionDetail:
        """Every version of a process, newest first, and the newest's bundle and form file names."""
        with self.db.read_committed() as s:
            return definition_detail(s, process_key)

    # ---------- instances ----------
    def start_instance(self, process_key: str, *, business_key: str | None = None,
                       variables: dict | None = None, actor: str = "system",
                       version: int | None = None) -> InstanceView:
        with self.db.transaction() as s:
            definition = self.specs.get(s, latest_definition_id(s, process_key, version))
            check_start_variables(definition, variables or {})
            check_data_size(variables, self.max_task_data_bytes, what="the start variables", prefix="variables.")
            wf = self.runtime.new_workflow(definition, dict(variables or {}))
            instance_id = str(uuid.uuid4())
            row = SimpleNamespace(id=instance_id, business_key=business_key, version=0, status="running",
                          process_key=process_key)
            loaded = Loaded(row, definition, wf)
            derived = self.runtime.change(s, loaded, None, Change(
                "instance_started", actor, None, None,
                {"process_key": process_key, "version": definition.version,
                 "business_key": business_key, "variables": sorted((variables or {}).keys()),
                 **_subject_of(variables)}),
                is_new=True)
            return _view_after(loaded, derived)

    def get_instance(self, instance_id: str) -> InstanceView:
        with self.db.read_committed() as s:
            return self._read_instance(s, instance_id)

    def list_instances(self, *, process_key=None, status=None, business_key=None,
                       limit: int = 50, offset: int = 0) -> list[InstanceView]:
        with self.db.read_committed() as s:
            q = _where_equal(select(ProcessInstance, ProcessDefinition.version).join(ProcessDefinition),
                             {ProcessInstance.process_key: process_key, ProcessInstance.status: status,
                              ProcessInstance.business_key: business_key})
            rows = s.execute(q.order_by(ProcessInstance.created_at, ProcessInstance.id)
                             .limit(limit).offset(offset)).all()
            return [_instance_view(inst, version) for inst, version in rows]

    def cancel_instance(self, instance_id: str, *, actor: str, reason: str = "",
                        expected_version: int | None = None) -> InstanceView:
        with self.db.transaction() as s:
            try:
                loaded = self.runtime.load(s, instance_id)
            except UnloadableInstance as exc:     # its state cannot be run: cancelled by row
                seen = s.scalar(select(ProcessInstance.version).where(ProcessInstance.id == instance_id))
                if expected_version is not None and seen != expected_version:
                    raise StaleVersion(f"instance {instance_id} is at version {seen}, not {expected_version}; "
                                       "reload and retry") from exc
                if not self.runtime.end_unloadable(s, exc, actor=actor, reason=reason, erase_state=False):
                    raise InvalidState(f"instance {instance_id} has already ended") from exc
                return self._read_instance(s, instance_id)
            if loaded.row.status in ("completed", "cancelled"):
                raise InvalidState(f"instance {instance_id} is already {loaded.row.status}")
            derived = self.runtime.change(s, loaded, lambda wf: wf.cancel(),
                                Change("instance_cancelled", actor, details={"reason": reason},
                                       forced_status="cancelled"),
                                expected_version=expected_version)
            return _view_after(loaded, derived)

    def retry_instance(self, instance_id: str, *, actor: str, data: dict | None = None,
                       upgrade: bool = False, expected_version: int | None = None) -> InstanceView:
        """Re-run the failed step of an instance in `error`.

        `data` corrects task data first; `upgrade` moves the instance to the latest
        version of its process (the fixed diagram) when every element it reached exists there.
        """
        with self.db.transaction() as s:
            row = s.get(ProcessInstance, instance_id)
            if row is None:
                raise NotFound(f"no process instance {instance_id}")
            target = latest_definition_id(s, row.process_key) if upgrade else None
            loaded = self.runtime.load(s, instance_id, definition_id=target)
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

            derived = self.runtime.change(s, loaded, retry, Change(
                "instance_retried", actor, failed[0].task_spec.bpmn_id if failed else None,
                str(failed[0].id) if failed else None,
                {"previous_error": loaded.row.error, "data_keys": sorted((data or {}).keys()),
                 "definition_version": loaded.definition.version}),
                expected_version=expected_version)
            return _view_after(loaded, derived)

    def history(self, instance_id: str) -> list[AuditEntry]:
        with self.db.read_committed() as s:
            if s.get(ProcessInstance, instance_id) is None:
                raise NotFound(f"no process instance {instance_id}")
            rows = s.scalars(select(AuditEvent).where(AuditEvent.instance_id == instance_id)
                             .order_by(AuditEvent.id)).all()
            return [AuditEntry(r.id, r.instance_id, r.at, r.actor, r.kind, r.element_id, r.task_id,
                               r.details) for r in rows]

    # ---------- human tasks ----------
    def list_tasks(self, *, instance_id=None, element_id=None, status: str | None = "ready",
                   assignee=None, groups: Sequence[str] | None = None, user: str | None = None,
                   limit: int = 50, offset: int = 0) -> list[TaskView]:
        """Inbox query. `user`+`groups`: tasks assigned to the user or open to one of the groups."""
        given = {"instance_id": instance_id, "element_id": element_id, "status": status, "assignee": assignee}
        filters = tuple(name for name, value in given.items() if value)
        scoped = groups is not None or user is not None
        shape = (filters, scoped, bool(scoped and user), bool(scoped and groups))
        params = {f"b_{name}": given[name] for name in filters}
        params.update(b_user=user, b_groups=list(groups or ()), b_limit=limit, b_offset=offset)
        with self.db.read_committed() as s:
            rows = s.connection().execute(_task_list_statement(shape), params)
            return [_task_view(r) for r in rows]

    def get_task(self, task_id: str, *, authorize: Callable[[TaskView], None] | None = None) -> TaskView:
        """One task with its form, prefill data and its instance's version (one query).

        `authorize(view)` runs before anything else is read and may raise to refuse."""
        with self.db.read_committed() as s:
            row = s.connection().execute(_TASK_DETAIL, {"b_id": task_id}).first()
            if row is None:
                raise NotFound(f"no task {task_id}")
            view = _task_view(row)
            if authorize is not None:
                authorize(view)
            definition = self.specs.get(s, row.definition_id)
            view.form = {"schema": definition.forms.get(row.form_schema) if row.form_schema else None,
                         "ui_schema": definition.forms.get(row.form_ui_schema) if row.form_ui_schema else None}
            view.data = row.data
            view.instance_version = row.instance_version
            return view

    def claim_task(self, task_id: str, *, user: str,
                   authorize: Callable[[TaskView], None] | None = None) -> TaskView:
        with self.db.transaction() as s:
            row = s.connection().execute(_TASK_ROW, {"b_id": task_id}).first()
            if row is None:
                raise NotFound(f"no task {task_id}")
            if authorize is not None:
                authorize(_task_view(row))
            if row.status != "ready":
                raise TaskNotReady(f"task {task_id} ({row.element_id}) is {row.status}")
            result = s.execute(
                update(HumanTask).where(HumanTask.id == task_id, HumanTask.status == "ready",
                                        or_(HumanTask.assignee.is_(None), HumanTask.assignee == user))
                .values(assignee=user).execution_options(synchronize_session=False))
            if result.rowcount != 1:
                raise NotAssignee(f"task {task_id} is assigned to {row.assignee}")
            definition_id = s.scalar(select(ProcessInstance.definition_id).where(ProcessInstance.id == row.instance_id))
            check_four_eyes(s, self.specs.get(s, definition_id), instance_id=row.instance_id,
                            element_id=row.element_id, user=user)
            self.runtime.audit(s, row.instance_id, "task_claimed", user, row.element_id, task_id, {})
            view = _task_view(row)
            view.assignee = user
            return view

    def complete_task(self, task_id: str, data: dict | None = None, *, actor: str,
                      expected_version: int | None = None, enforce_assignee: bool = False,
                      authorize: Callable[[TaskView], None] | None = None) -> InstanceView:
        """Validate `data` against the task's form, apply it and run on to the next wait state.

        `authorize(view)` (the API's permission check) runs first, in the same transaction,
        and may raise to refuse; then 409 if not ready, 412 if `expected_version` is stale.
        Without `expected_version`, a change the worker made to the instance meanwhile (a timer
        fired, a message arrived) is not the person's concern: the unit of work runs again on the
        new state (the task must still be ready then)."""
        data = dict(data or {})
        return again_on_conflict(lambda: self._complete_task(task_id, data, actor=actor,
                                                              expected_version=expected_version,
                                                              enforce_assignee=enforce_assignee,
                                                              authorize=authorize),
                                  pinned=expected_version is not None)

    def _complete_task(self, task_id: str, data: dict, *, actor: str, expected_version: int | None,
                       enforce_assignee: bool, authorize) -> InstanceView:
        with self.db.transaction() as s:
            row = s.connection().execute(_TASK_AND_INSTANCE, {"b_id": task_id}).first()
            if row is None:
                raise NotFound(f"no task {task_id}")
            if authorize is not None:
                authorize(_task_view(row))
            if row.status != "ready":
                raise TaskNotReady(f"task {task_id} ({row.element_id}) is already {row.status}")
            if enforce_assignee and row.assignee and row.assignee != actor:
                raise NotAssignee(f"task {task_id} is assigned to {row.assignee}")
            instance = SimpleNamespace(**{c.name: getattr(row, f"inst__{c.name}") for c in _INSTANCE_COLUMNS})
            loaded = self.runtime.load(s, row.instance_id, row=instance)
            if loaded.row.status not in LIVE:
                raise InvalidState(f"instance {row.instance_id} is {loaded.row.status}")
            task = loaded.workflow.get_task_from_id(UUID(task_id))
            if task is None or not task.has_state(TaskState.READY):
                raise TaskNotReady(f"task {task_id} ({row.element_id}) is no longer ready")
            check_four_eyes(s, loaded.definition, instance_id=row.instance_id, element_id=row.element_id, user=actor)
            schema = loaded.definition.forms.get(row.form_schema) if row.form_schema else None
            validate_form_data(schema, data)
            check_data_size(data, self.max_task_data_bytes, what="the answer")
            check_users(s, schema, data)

            def complete(wf):
                task.data.update(data)
                task.run()

            derived = self.runtime.change(s, loaded, complete, Change(
                "task_completed", actor, row.element_id, task_id, {"data": data},
                completed_tasks={task_id}), expected_version=expected_version)
            check_state_size(loaded.row.state, self.max_instance_state_bytes)
            for hook in self.completion_hooks:
                hook(s, self.runtime, instance_id=row.instance_id, element_id=row.element_id, data=data, actor=actor)
            return _view_after(loaded, derived)

    # ---------- messages and timers ----------
    def deliver_message(self, name: str, correlation: dict | None = None, payload: dict | None = None,
                        *, actor: str = "system", instance_id: str | None = None,
                        ttl: timedelta | None = None, mode: str = "buffer",
                        message_id: str | None = None) -> Delivery:
        """A message from outside: delivered, kept for later, or refused (see engine/messages.py).

        `mode="deliver_or_fail"`: 404/409 instead of keeping it; `message_id`: a second delivery
        of the same id answers like the first; `ttl` overrides the declared buffer duration."""
        check_data_size(payload, self.max_task_data_bytes, what="the payload", prefix="payload.")
        def receive():
            with self.db.transaction() as s:
                return messages.receive(self.runtime, s, name, dict(correlation or {}), dict(payload or {}),
                                        actor=actor, instance_id=instance_id, ttl=ttl, mode=mode,
                                        message_id=message_id)

        for attempt in (1, 2):
            try:
                return again_on_conflict(receive, pinned=False)
            except IntegrityError:
                # The same message_id committed by a concurrent delivery: the retry replays its answer.
                if message_id is None or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def expire_messages(self) -> int:
        with self.db.transaction() as s:
            return messages.expire_buffered(self.runtime, s)

    def fire_due_timers(self, *, limit: int = 100, worker: str = "worker") -> FiringReport:
        return timers.fire_due(self.runtime, self.db, limit=limit, worker=worker)

    def run_until_idle(self, *, worker: str = "inline") -> FiringReport:
        """Fire timers until none is due (simulated clock: after each advance)."""
        total = FiringReport()
        while True:
            report = self.fire_due_timers(worker=worker)
            total.fired += report.fired
            total.conflicts += report.conflicts
            total.errors += report.errors
            if report.fired == 0:
                return total

    # ---------- views ----------
    def _read_instance(self, s, instance_id: str) -> InstanceView:
        # populate_existing: the change path writes with Core statements, not through the session.
        found = s.execute(select(ProcessInstance, ProcessDefinition.version).join(ProcessDefinition)
                          .where(ProcessInstance.id == instance_id)
                          .execution_options(populate_existing=True)).first()
        if found is None:
            raise NotFound(f"no process instance {instance_id}")
        view = _instance_view(*found)
        view.ready_tasks = [_task_view(r) for r in s.scalars(
            select(HumanTask).where(HumanTask.instance_id == instance_id, HumanTask.status == "ready")
            .order_by(HumanTask.created_at, HumanTask.id))]
        view.waiting_timers = [TimerView(*r) for r in s.execute(
            select(WaitingTimer.element_id, WaitingTimer.due_at, WaitingTimer.task_id)
            .where(WaitingTimer.instance_id == instance_id).order_by(WaitingTimer.due_at))]
        view.waiting_messages = [SubscriptionView(*r) for r in s.execute(
            select(MessageSubscription.message_name, MessageSubscription.correlation,
                   MessageSubscription.element_id)
            .where(MessageSubscription.instance_id == instance_id).order_by(MessageSubscription.id))]
        return view


# Built once: completing a task is the hottest path (see runtime.py).
_TASK_VIEW_COLUMNS = tuple(HumanTask.__table__.c[name] for name in sidetables.TASK_VIEW_COLUMNS)
# A task row with what its view and its form need (claim).
_TASK_ROW = select(*_TASK_VIEW_COLUMNS, HumanTask.__table__.c.form_schema).where(
    HumanTask.__table__.c.id == bindparam("b_id"))
# The task to complete and its instance's whole row (what Runtime.load reads) in one query.
_INSTANCE_COLUMNS = tuple(ProcessInstance.__table__.c)
_TASK_AND_INSTANCE = (
    select(*_TASK_VIEW_COLUMNS, HumanTask.__table__.c.form_schema,
           *(c.label(f"inst__{c.name}") for c in _INSTANCE_COLUMNS))
    .join(ProcessInstance.__table__, ProcessInstance.__table__.c.id == HumanTask.__table__.c.instance_id)
    .where(HumanTask.__table__.c.id == bindparam("b_id")))
_TASK_DETAIL = (
    select(*_TASK_VIEW_COLUMNS, HumanTask.__table__.c.form_schema, HumanTask.__table__.c.form_ui_schema,
           HumanTask.__table__.c.data, ProcessInstance.__table__.c.version.label("instance_version"),
           ProcessInstance.__table__.c.definition_id)
    .join(ProcessInstance.__table__, ProcessInstance.__table__.c.id == HumanTask.__table__.c.instance_id)
    .where(HumanTask.__table__.c.id == bindparam("b_id")))

@functools.lru_cache(maxsize=64)
def _task_list_statement(shape):
    """The inbox query for one combination of filters, built once (values are bound)."""
    filters, scoped, by_user, by_groups = shape
    tasks = HumanTask.__table__.c
    q = select(*_TASK_VIEW_COLUMNS)
    for name in filters:
        q = q.where(tasks[name] == bindparam(f"b_{name}"))
    if scoped:
        visible = []
        if by_user:
            visible.append(tasks.assignee == bindparam("b_user"))
        if by_groups:
            visible.append(tasks.candidate_group.in_(bindparam("b_groups", expanding=True))
                           & tasks.assignee.is_(None))
        q = q.where(or_(*visible)) if visible else q.where(false())
    return (q.order_by(tasks.created_at, tasks.id)
            .limit(bindparam("b_limit", type_=Integer)).offset(bindparam("b_offset", type_=Integer)))


def _subject_of(variables: dict | None) -> dict:
    """Whom a case is about, in its `instance_started` audit (erasure finds the case by it)."""
    value = (variables or {}).get("candidate_id")
    return {"candidate_id": value} if isinstance(value, str) and value else {}


def check_start_variables(definition, variables: dict) -> None:
    """Start variables against the process's start schema (FormValidationError naming each bad one)."""
    validate_start_variables(definition.forms.get(start_schema_name(definition.process_key)), variables)


def _where_equal(query, conditions: dict):
    """Add `column == value` for every condition whose value is given."""
    for column, value in conditions.items():
        if value:
            query = query.where(column == value)
    return query


def _instance_view(inst: ProcessInstance, version: int) -> InstanceView:
    return InstanceView(
        id=inst.id, process_key=inst.process_key, version=version, business_key=inst.business_key,
        status=inst.status, end_event=inst.end_event, error=inst.error, created_at=inst.created_at,
        updated_at=inst.updated_at, completed_at=inst.completed_at, row_version=inst.version)


def _view_after(loaded, derived) -> InstanceView:
    """The instance as the change just saved it, from memory (no read-back queries)."""
    view = _instance_view(loaded.row, loaded.definition.version)
    view.ready_tasks = [_task_view(SimpleNamespace(**r)) for r in derived.task_rows]
    view.waiting_timers = [TimerView(t.element_id, t.due_at, t.task_id)
                           for t in sorted(derived.timers, key=lambda t: t.due_at)]
    view.waiting_messages = [SubscriptionView(m.message_name, m.correlation, m.element_id)
                             for m in derived.subscriptions]
    return view


def _task_view(r) -> TaskView:
    """From a HumanTask row or any row with its view columns."""
    return TaskView(
        id=r.id, element_id=r.element_id, title=r.title, instance_id=r.instance_id,
        process_key=r.process_key, status=r.status, assignee=r.assignee,
        candidate_groups=[r.candidate_group] if r.candidate_group else [], lane=r.lane,
        created_at=r.created_at, due_at=r.due_at, completed_at=r.completed_at,
        completed_by=r.completed_by)
