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
import threading
from datetime import timedelta
from pathlib import Path
from typing import Callable, Sequence

from sqlalchemy import Integer, and_, bindparam, false, or_, select
from sqlalchemy.exc import IntegrityError

from . import days, sidetables, timers
from .bundle import load_bundle
from .clock import SystemClock, clock_for, install_spiff_clock
from .config import Settings
from .db import Database
from .faults import Faults
from .metrics import Metrics
from .definitions import (
    DeployedProcess, SpecCache, definition_detail, definition_version, definition_versions, deploy_bundle,
)
from .errors import NotFound
from .models import (
    AuditEvent, HumanTask, MessageSubscription, ProcessDefinition, ProcessInstance, WaitingTimer,
)
from .operations import Operations
from .runtime import Runtime, again_on_conflict
from .serialization import StateSerializer
from .timers import TimerRoundReport
from .views import (
    AuditEntry, DefinitionDetail, DefinitionView, Delivery, FiringReport, InstanceView, SubscriptionView, TaskView, TimerView,
    instance_view, task_view, view_after,
)


class RecallEngine:
    def __init__(self, db: Database, *, clock=None, settings: Settings | None = None, faults: Faults | None = None,
                 script_timeout: float | None = None, spec_cache_size: int | None = None,
                 message_ttl: timedelta | None = None, script_memory_mb: int | None = None,
                 script_workers: int | None = None, max_task_data_bytes: int | None = None,
                 max_instance_state_bytes: int | None = None):
        """`settings` configure the engine (default: `Settings()`); a keyword given here wins (tests).

        The engine owns its clock, metrics and fault points: nothing of it is global, so two
        engines in one process do not see each other (tests/integration/test_two_engines.py)."""
        from .sandbox import shared_pool
        from .scripting import make_script_engine

        self.settings = settings = (settings or Settings()).replacing(
            script_timeout_seconds=script_timeout, spec_cache_size=spec_cache_size,
            message_ttl_seconds=None if message_ttl is None else int(message_ttl.total_seconds()),
            script_memory_mb=script_memory_mb, script_workers=script_workers,
            max_task_data_bytes=max_task_data_bytes, max_instance_state_bytes=max_instance_state_bytes)
        self.db = db
        self.faults = faults or Faults.from_env()       # RECALL_FAULT_*: test-only, read once
        self.faults.watch(db)
        self.metrics = Metrics()
        install_spiff_clock()                           # SpiffWorkflow's timers read the clock Runtime binds
        self.clock = clock or SystemClock(self.faults.clock_skew)
        self.retry_policy = timers.RetryPolicy.from_settings(settings)
        self.serializer = StateSerializer()
        self.specs = SpecCache(self.serializer, settings.spec_cache_size)
        self.runtime = Runtime(self.serializer, self.specs, make_script_engine(
            timeout=settings.script_timeout_seconds,
            sandbox=shared_pool(settings.script_workers, settings.script_memory_mb)),
                               self.clock, message_ttl=timedelta(seconds=settings.message_ttl_seconds),
                               metrics=self.metrics, faults=self.faults)
        self.runtime.effects_engine = self              # service tasks' connectors write through this engine
        from . import notifications  # noqa: F401 - the `notify` connector and the notifications' worker job
        from . import http_connector  # noqa: F401 - the `http` connector (and its channel)
        # The session-level operations every caller composes (engine/operations.py); the methods
        # below open a unit of work around one of them. The talent archive plugs its completion
        # hooks and case lookup in here (engine.archive.install).
        # Held by a worker of this engine through each timer round and by run_until_idle: "advance
        # the clock and return once all that became due ran" must not return while the embedded
        # worker is still firing a timer it leased a moment before (flaky on PostgreSQL otherwise).
        self.timer_rounds = threading.Lock()
        self.ops = Operations(self.runtime, max_task_data_bytes=settings.max_task_data_bytes,
                              max_instance_state_bytes=settings.max_instance_state_bytes)

    @classmethod
    def from_settings(cls, settings: Settings, *, db: Database | None = None,
                      database_time: bool = False) -> "RecallEngine":
        """The engine `settings` describe. `database_time`: it will run a timer worker, so on
        PostgreSQL its system clock follows the database server's (engine/clock.py, `clock_for`)."""
        days.claim_zone(settings.timezone)     # one zone per process for the days people enter
        db = db or Database(settings.database_url)
        faults = Faults.from_env()
        clock = clock_for(settings, db, skew=faults.clock_skew, database_time=database_time)
        return cls(db, clock=clock, settings=settings, faults=faults)

    # ---------- definitions ----------
    def validate(self, paths: Sequence[str | Path], *, forms_dir=None):
        return load_bundle(paths, forms_dir=forms_dir, http_allow=self.settings.http_connector_allow)

    def deploy(self, paths: Sequence[str | Path], *, forms_dir=None, actor: str = "system",
               note: str | None = None) -> list[DeployedProcess]:
        """Validate and store a new version of each changed process; raises BundleInvalid."""
        bundle = load_bundle(paths, forms_dir=forms_dir, http_allow=self.settings.http_connector_allow)
        with self.db.write_transaction() as s:
            return self.store_bundle(s, bundle, actor=actor, note=note)

    def store_bundle(self, s, bundle, *, actor: str, note: str | None = None) -> list[DeployedProcess]:
        """Deploy a loaded bundle in the caller's unit of work (the studio's deploy composes it with its draft);
        `note`: the change note, on each new version and in its `definition_deployed` audit row."""
        results = deploy_bundle(s, bundle, self.serializer, actor=actor, now=self.clock.now(), note=note)
        for r in results:
            if r.created:
                self.ops.audit(s, None, "definition_deployed", actor, r.process_key, None,
                               {"version": r.version, "content_hash": r.content_hash,
                                **({"note": note} if note else {})})
        return results

    def list_definitions(self, *, process_key: str | None = None, latest_only: bool = False,
                         limit: int | None = 50, offset: int = 0) -> list[DefinitionView]:
        """Deployed versions by process key, newest first; `latest_only`: each process's newest alone."""
        with self.db.read_statements() as s:
            return definition_versions(s, process_key=process_key, latest_only=latest_only,
                                       limit=limit, offset=offset)

    def get_definition(self, process_key: str, version: int | None = None) -> DefinitionView:
        """One version (default: the latest) of a process."""
        with self.db.read_statements() as s:
            return definition_version(s, process_key, version)

    def get_definition_detail(self, process_key: str) -> DefinitionDetail:
        """Every version of a process, newest first, and the newest's bundle and form file names."""
        with self.db.read_statements() as s:
            return definition_detail(s, process_key)

    # ---------- instances ----------
    def start_instance(self, process_key: str, *, business_key: str | None = None,
                       variables: dict | None = None, actor: str = "system",
                       version: int | None = None) -> InstanceView:
        with self.db.write_transaction() as s:
            return view_after(self.ops.start(s, process_key, variables=variables, actor=actor,
                                             business_key=business_key, version=version))

    def get_instance(self, instance_id: str) -> InstanceView:
        with self.db.read_statements() as s:
            return self._read_instance(s, instance_id)

    def list_instances(self, *, process_key=None, status=None, business_key=None, updated_after=None,
                       version: int | None = None, sort: str = "created_at", after: tuple | None = None,
                       limit: int = 50, offset: int = 0) -> list[InstanceView]:
        """Instances in `sort` order (`created_at`, `updated_at`, `-` for newest first; then by id).

        `status` is one status or a list of them; `updated_after` keeps instances changed after that
        moment; `after` = (sort key, id) of the last row seen starts right after it (keyset paging:
        stable while instances start or change), `offset` counts rows (deprecated)."""
        column = ProcessInstance.updated_at if sort.lstrip("-") == "updated_at" else ProcessInstance.created_at
        descending = sort.startswith("-")
        statuses = [status] if isinstance(status, str) else list(status or ())
        with self.db.read_statements() as s:
            q = _where_equal(select(ProcessInstance, ProcessDefinition.version).join(ProcessDefinition),
                             {ProcessInstance.process_key: process_key,
                              ProcessInstance.business_key: business_key, ProcessDefinition.version: version})
            if statuses:
                q = q.where(ProcessInstance.status.in_(statuses))
            if updated_after is not None:
                q = q.where(ProcessInstance.updated_at > updated_after)
            if after is not None:
                key, last_id = after
                beyond = (column < key, ProcessInstance.id < last_id) if descending \
                    else (column > key, ProcessInstance.id > last_id)
                q = q.where(or_(beyond[0], and_(column == key, beyond[1])))
            order = (column.desc(), ProcessInstance.id.desc()) if descending else (column, ProcessInstance.id)
            rows = s.execute(q.order_by(*order).limit(limit).offset(offset)).all()
            return [instance_view(inst, version) for inst, version in rows]

    def ready_tasks_of(self, instance_ids: Sequence[str]) -> dict[str, list[TaskView]]:
        """The ready tasks of these instances (one query), oldest first per instance."""
        out: dict[str, list[TaskView]] = {i: [] for i in instance_ids}
        if not instance_ids:
            return out
        tasks = HumanTask.__table__.c
        with self.db.read_statements() as s:
            rows = s.execute(select(*_TASK_VIEW_COLUMNS).where(tasks.instance_id.in_(list(instance_ids)),
                                                               tasks.status == "ready")
                             .order_by(tasks.created_at, tasks.id))
            for row in rows:
                out[row.instance_id].append(task_view(row))
        return out

    def cancel_instance(self, instance_id: str, *, actor: str, reason: str = "",
                        expected_version: int | None = None) -> InstanceView:
        """Cancel a live or failed instance; InvalidState (409) if it has already ended.

        Without `expected_version` it runs again when the worker changed the instance meanwhile."""
        def once() -> InstanceView:
            with self.db.write_transaction() as s:
                done = self.ops.cancel(s, instance_id, actor=actor, reason=reason, expected_version=expected_version)
                return view_after(done.change) if done.change is not None else self._read_instance(s, instance_id)

        return again_on_conflict(once, pinned=expected_version is not None)

    def retry_instance(self, instance_id: str, *, actor: str, data: dict | None = None,
                       upgrade: bool = False, expected_version: int | None = None) -> InstanceView:
        """Re-run the failed step of an instance in `error` (see Operations.retry)."""
        with self.db.write_transaction() as s:
            return view_after(self.ops.retry(s, instance_id, actor=actor, data=data, upgrade=upgrade,
                                             expected_version=expected_version))

    def history(self, instance_id: str) -> list[AuditEntry]:
        with self.db.read_statements() as s:
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
        with self.db.read_statements() as s:
            rows = s.connection().execute(_task_list_statement(shape), params)
            return [task_view(r) for r in rows]

    def get_task(self, task_id: str, *, authorize: Callable[[TaskView], None] | None = None) -> TaskView:
        """One task with its form, prefill data and its instance's version (one query).

        `authorize(view)` runs before anything else is read and may raise to refuse."""
        with self.db.read_statements() as s:
            row = s.connection().execute(_TASK_DETAIL, {"b_id": task_id}).first()
            if row is None:
                raise NotFound(f"no task {task_id}")
            view = task_view(row)
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
        """Take a ready task (engine.ops.claim: NotAssignee when someone else holds it)."""
        with self.db.write_transaction() as s:
            return self.ops.claim(s, task_id, user=user, authorize=authorize)

    def release_task(self, task_id: str, *, actor: str,
                     authorize: Callable[[TaskView], None] | None = None) -> TaskView:
        """Back to the group's queue (engine.ops.release); a claim racing it makes it run again."""
        def unit():
            with self.db.write_transaction() as s:
                return self.ops.release(s, task_id, actor=actor, authorize=authorize)
        return again_on_conflict(unit, pinned=False)

    def reassign_task(self, task_id: str, *, to: str, actor: str,
                      authorize: Callable[[TaskView], None] | None = None) -> TaskView:
        """Give the task to `to` (engine.ops.reassign: 422 naming `to` when they may not hold it)."""
        def unit():
            with self.db.write_transaction() as s:
                return self.ops.reassign(s, task_id, to=to, actor=actor, authorize=authorize)
        return again_on_conflict(unit, pinned=False)

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
        with self.db.write_transaction() as s:
            return view_after(self.ops.complete(s, task_id, data, actor=actor, expected_version=expected_version,
                                                enforce_assignee=enforce_assignee, authorize=authorize))

    # ---------- messages and timers ----------
    def deliver_message(self, name: str, correlation: dict | None = None, payload: dict | None = None,
                        *, actor: str = "system", instance_id: str | None = None,
                        ttl: timedelta | None = None, mode: str = "buffer",
                        message_id: str | None = None, held_by: str | None = None) -> Delivery:
        """A message from outside: delivered, kept for later, or refused (see engine/messages.py).

        `mode="deliver_or_fail"`: 404/409 instead of keeping it; `message_id`: a second delivery
        of the same id answers like the first; `ttl` overrides the declared buffer duration;
        `held_by`: only for a candidate of whom that user holds a ready task (engine.ops)."""
        def receive():
            with self.db.write_transaction() as s:
                return self.ops.receive_message(s, name, dict(correlation or {}), dict(payload or {}),
                                                actor=actor, instance_id=instance_id, ttl=ttl, mode=mode,
                                                message_id=message_id, held_by=held_by)

        for attempt in (1, 2):
            try:
                return again_on_conflict(receive, pinned=False)
            except IntegrityError:
                # The same message_id committed by a concurrent delivery: the retry replays its answer.
                if message_id is None or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def expire_messages(self) -> int:
        with self.db.write_transaction() as s:
            return self.ops.expire_messages(s)

    def fire_due_timers(self, *, limit: int = 100, worker: str = "worker") -> TimerRoundReport:
        return timers.fire_due(self.runtime, self.db, limit=limit, worker=worker, policy=self.retry_policy)

    def run_until_idle(self, *, worker: str = "inline") -> FiringReport:
        """Fire timers until none is due (simulated clock: after each advance), after any round a
        worker of this engine has under way (it may hold leases on timers that are due)."""
        total = FiringReport()
        with self.timer_rounds:
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
        view = instance_view(*found)
        view.ready_tasks = [task_view(r) for r in s.scalars(
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


def _where_equal(query, conditions: dict):
    """Add `column == value` for every condition whose value is given."""
    for column, value in conditions.items():
        if value:
            query = query.where(column == value)
    return query
