"""The one path every instance change goes through: load → act → run → save.

`Runtime.change()` loads the serialized workflow, applies an action (complete a
task, fire timers, deliver a message, cancel, retry), runs the engine steps under
the engine's clock, saves the state with an optimistic-lock check on the instance
version, re-derives the side tables and appends audit events — all in the
caller's transaction. A failing script does not abort the transaction: the
instance is saved in `error` with a readable message.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta
from typing import Callable
from uuid import UUID

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.orm import Session
from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition as SpiffMessage

from . import clock as clock_mod
from . import connectors
from . import events as feed
from . import sidetables
from . import templates as message_templates
from .definitions import LoadedDefinition, SpecCache
from .errors import ConcurrentChange, InstanceFailure, InvalidState, NotFound, StaleVersion
from .instances import Change, InstanceRecord, Loaded, UnloadableInstance, instance_columns
from .messages import deliver
from .models import AuditEvent, BufferedMessage, HumanTask, MessageSubscription, ProcessInstance, WaitingTimer
from .status import ENDED, LIVE
from .serialization import (
    SERIALIZER_VERSION, IncompatibleSpec, StateSerializer, repair_predicted_event_subprocesses,
)

log = logging.getLogger("recall.engine")

_INSTANCES = ProcessInstance.__table__
_AUDIT = AuditEvent.__table__
# Built once: SQLAlchemy's per-statement construction and cache-key cost is most of a
# unit of work's time otherwise (docs/benchmarks.md, engine overhead profile).
_LOAD = select(*instance_columns()).where(_INSTANCES.c.id == bindparam("b_id"))
_INSERT_INSTANCE = insert(_INSTANCES)
_SAVE = (update(_INSTANCES)
         .where(_INSTANCES.c.id == bindparam("b_id"), _INSTANCES.c.version == bindparam("b_seen"))
         .values(version=bindparam("b_new")))
_INSERT_AUDIT = insert(_AUDIT)

MAX_BUFFER_ROUNDS = 20         # buffered messages delivered to one instance in one unit of work
# One unit of work may run at most this many engine steps / seconds of engine steps: a process
# that calls itself or a huge multi-instance must not spin a request or worker thread forever.
MAX_ENGINE_STEPS = 10_000
MAX_ENGINE_SECONDS = 3.0


class EngineStepLimit(Exception):
    """The engine steps of one unit of work ran past MAX_ENGINE_STEPS or MAX_ENGINE_SECONDS."""

    def __init__(self, message: str, task):
        super().__init__(message)
        self.task = task


# What an instance whose state could not be loaded is left with when erasure replaces it.
ERASED_STATE = b'{"erased":"the stored state could not be loaded and was replaced during erasure"}'


def describe_failure(exc: BaseException, wf: BpmnWorkflow) -> InstanceFailure:
    """Turn an exception from the engine steps into something a person can act on."""
    task = getattr(exc, "task", None)
    if task is None:
        errored = sidetables.derive(wf).errored_tasks
        task = errored[0] if errored else None
    spec = task.task_spec if task is not None else None
    cause = exc.__cause__ or exc.__context__
    message = str(exc)
    if cause is not None and str(cause) and str(cause) not in message:
        message = f"{message}: {cause}"
    line = getattr(exc, "line_number", None) or None
    kind = "timeout" if "time" in type(cause or exc).__name__.lower() else "script"
    return InstanceFailure(
        message=message or type(exc).__name__,
        element_id=(spec.bpmn_id or spec.name) if spec is not None else None,
        task_id=str(task.id) if task is not None else None,
        line=line,
        kind=kind,
        extra={"exception": type(cause or exc).__name__},
    )


CONFLICT_ATTEMPTS = 3


def again_on_conflict(unit, *, pinned: bool):
    """Run `unit` (one unit of work) again when another unit changed its instance meanwhile.

    `pinned`: the caller named the version it saw (If-Match): a conflict is theirs to resolve (412/409)."""
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return unit()
        except ConcurrentChange:
            if pinned or attempt == CONFLICT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")


class Runtime:
    def __init__(self, serializer: StateSerializer, specs: SpecCache, script_engine, clock,
                 *, message_ttl: timedelta, metrics, faults):
        self.serializer = serializer
        self.specs = specs
        self.script_engine = script_engine
        self.clock = clock
        self.message_ttl = message_ttl
        self.metrics = metrics          # the engine's own (engine/metrics.py), for timers and messages
        self.faults = faults            # the engine's own fault points (engine/faults.py, tests only)
        self.effects_engine = None      # the engine that writes service tasks' effects (engine/connectors.py)
        # (session, *, instance_id, data, at) -> RoleSource | None: a case's role profile for its suggestions'
        # facts (engine/role_facts.py); installed by the archive (engine/archive/__init__.py:install)
        self.role_source = None

    # ---------- load / create ----------
    def load(self, session: Session, instance_id: str, *, definition_id: int | None = None,
             row: InstanceRecord | None = None) -> Loaded:
        """Load an instance; with `definition_id`, onto another version of its process.

        `row`: its record, when the caller has just read it (a joined query saves the round trip)."""
        if row is None:
            found = session.connection().execute(_LOAD, {"b_id": instance_id}).first()
            if found is None:
                raise NotFound(f"no process instance {instance_id}")
            row = InstanceRecord.of(found)
        definition = self.specs.get(session, definition_id or row.definition_id)
        try:
            wf = self.serializer.load_state(row.state, definition.spec, definition.subprocess_specs,
                                            self.script_engine,
                                            check_compatible=definition.id != row.definition_id)
        except IncompatibleSpec as exc:
            raise InvalidState(f"instance {instance_id} cannot move to {definition.process_key} "
                               f"version {definition.version}: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with the stored bytes, say so
            raise UnloadableInstance(instance_id, f"{type(exc).__name__}: {exc}"[:1000]) from exc
        return Loaded(row, definition, wf, repaired=repair_predicted_event_subprocesses(wf))

    # ---------- instances whose state cannot be loaded ----------
    def _incident(self, exc: UnloadableInstance, now) -> dict:
        return {"kind": "incident", "message": f"the stored state of this instance cannot be loaded ({exc.reason})",
                "element_id": None, "task_id": None, "line": None,
                "exception": type(exc.__cause__ or exc).__name__, "failed_at": now.isoformat()}

    def quarantine(self, session: Session, exc: UnloadableInstance, *, actor: str) -> bool:
        """Put a live instance whose state cannot be loaded in `error` with an incident (audited).

        Runs in the caller's unit of work, which goes on with other instances. Returns False
        when the instance was not live (already in error, or ended)."""
        now = self.clock.now()
        incident = self._incident(exc, now)
        changed = session.execute(
            update(ProcessInstance).where(ProcessInstance.id == exc.instance_id, ProcessInstance.status.in_(LIVE))
            .values(status="error", error=incident, version=ProcessInstance.version + 1, updated_at=now)
            .execution_options(synchronize_session=False))
        if changed.rowcount != 1:
            return False
        log.error("instance %s put in error: %s", exc.instance_id, incident["message"])
        self.audit(session, exc.instance_id, "instance_error", actor, None, None, incident)
        return True

    def repair_stuck(self, session: Session, instance_id: str) -> bool:
        """Save a live instance the load repaired (issue 13.1's stuck cases) through the change path."""
        try:
            loaded = self.load(session, instance_id)
        except UnloadableInstance as exc:
            self.quarantine(session, exc, actor="engine")
            return False
        if not loaded.repaired or loaded.row.status not in LIVE:
            return False
        self.change(session, loaded, None, Change(
            "instance_repaired", "engine", details={"event_subprocess_branches": loaded.repaired}))
        return True

    def end_unloadable(self, session: Session, exc: UnloadableInstance, *, actor: str, reason: str,
                       erase_state: bool) -> bool:
        """Cancel an instance whose state cannot be loaded, by row: status, side tables, audit.

        `erase_state` replaces the stored state (it cannot be scrubbed field by field) - erasure
        must succeed for such a case too. Returns False if it had already ended (its state is
        still replaced when asked)."""
        now = self.clock.now()
        incident = self._incident(exc, now)
        values = {"version": ProcessInstance.version + 1, "updated_at": now}
        if erase_state:
            values["state"] = ERASED_STATE
        live = session.execute(
            update(ProcessInstance).where(ProcessInstance.id == exc.instance_id,
                                          ProcessInstance.status.in_((*LIVE, "error")))
            .values(status="cancelled", completed_at=now, error=incident, **values)
            .execution_options(synchronize_session=False)).rowcount == 1
        if not live and erase_state:            # an ended case: only its state is replaced
            session.execute(update(ProcessInstance).where(ProcessInstance.id == exc.instance_id).values(**values)
                            .execution_options(synchronize_session=False))
        if live:
            session.execute(update(HumanTask).where(HumanTask.instance_id == exc.instance_id,
                                                    HumanTask.status == "ready")
                            .values(status="cancelled").execution_options(synchronize_session=False))
            session.execute(delete(WaitingTimer).where(WaitingTimer.instance_id == exc.instance_id)
                            .execution_options(synchronize_session=False))
            session.execute(delete(MessageSubscription).where(MessageSubscription.instance_id == exc.instance_id)
                            .execution_options(synchronize_session=False))
            self.audit(session, exc.instance_id, "instance_cancelled", actor, None, None,
                       {"reason": reason, "state_unloadable": incident["message"]})
        if erase_state:
            self.audit(session, exc.instance_id, "data_erased", actor, None, None,
                       {"scope": "workflow_state", "state_replaced": True})
        return live

    def new_workflow(self, definition: LoadedDefinition, variables: dict) -> BpmnWorkflow:
        wf = BpmnWorkflow(definition.spec, definition.subprocess_specs, script_engine=self.script_engine)
        start = wf.get_tasks(spec_name="Start")[0]
        start.data.update(variables)
        return wf

    def json_data(self, data: dict) -> dict:
        return self.serializer.registry.convert(self.serializer.registry.clean(data))

    # ---------- the one change path ----------
    def run(self, wf: BpmnWorkflow, action: Callable[[BpmnWorkflow], None] | None,
            steps: list, *, clock=None, effects: connectors.Collector | None = None) -> InstanceFailure | None:
        """Apply `action` and run engine steps under `clock` (default: ours); never raises for diagram faults.

        SpiffWorkflow's do_engine_steps ends by refreshing timers, which can make a timer
        READY (due by now) without running it; the steps run again until no engine task is
        READY, so a unit of work never stops on a fired timer (that state looked stalled)."""
        started, count = time.monotonic(), [0]

        def bounded(task):
            count[0] += 1
            if count[0] > MAX_ENGINE_STEPS or time.monotonic() - started > MAX_ENGINE_SECONDS:
                raise EngineStepLimit(
                    f"the process ran more than {MAX_ENGINE_STEPS} steps or {MAX_ENGINE_SECONDS:g} s without "
                    f"waiting for anyone (endless loop, self-calling process or huge multi-instance?)", task)

        with clock_mod.bound(clock or self.clock), connectors.collecting(effects):
            try:
                if action is not None:
                    action(wf)
                wf.refresh_timers()
                wf.do_engine_steps(will_complete_task=bounded, did_complete_task=steps.append)
                while any(not t.task_spec.manual for t in wf.get_tasks(state=TaskState.READY)):
                    wf.do_engine_steps(will_complete_task=bounded, did_complete_task=steps.append)
            except Exception as exc:  # noqa: BLE001 - any diagram fault becomes an incident
                return describe_failure(exc, wf)
        return None

    def change(self, session: Session, loaded: Loaded, action, change: Change,
               *, expected_version: int | None = None, is_new: bool = False) -> sidetables.Derived:
        row = loaded.row
        if expected_version is not None and row.version != expected_version:
            raise StaleVersion(
                f"instance {row.id} is at version {row.version}, not {expected_version}; reload and retry")
        wf = loaded.workflow
        # One instant for the whole unit of work: every timer computed, checked and audited in
        # it sees the same time, even when the clock moves meanwhile (a simulated clock advanced
        # by another request jumps days; a timer armed before the jump and checked after it
        # fired inside one change).
        now = self.clock.now()
        clock = clock_mod.FixedClock(now)
        steps: list = []
        effects = (connectors.Collector(self.effects_engine, session, row.id, loaded.definition.templates)
                   if self.effects_engine is not None else None)     # what service tasks do, written below
        failure = self.run(wf, action, steps, clock=clock, effects=effects)
        audit = [self._audit_row(row.id, change.kind, change.actor, change.element_id, change.task_id,
                                 change.details, at=now), *self._step_rows(row.id, steps, at=now)]
        if loaded.repaired and change.kind != "instance_repaired":
            audit.insert(0, self._audit_row(row.id, "instance_repaired", "engine", None, None,
                                            {"event_subprocess_branches": loaded.repaired}, at=now))
            loaded.repaired = 0
        derived = sidetables.derive(wf)
        # Deliver messages that arrived before anyone waited for them, each audited after
        # the change that opened the wait.
        rounds = 0
        while failure is None and derived.subscriptions and rounds < MAX_BUFFER_ROUNDS:
            buffered = self._claim_buffered(session, row.id, derived.subscriptions, now=now)
            if buffered is None:
                break
            rounds += 1
            message, subscription = buffered
            steps = []
            failure = self.run(wf, self.message_action(message.name, message.correlation,
                                                         message.payload, subscription.task_id), steps, clock=clock,
                               effects=effects)
            audit.append(self._audit_row(
                row.id, "message_delivered", message.sent_by, subscription.element_id, subscription.task_id,
                {"name": message.name, "correlation": message.correlation, "buffered_id": message.id,
                 "payload": message.payload}, at=now))
            audit.extend(self._step_rows(row.id, steps, at=now))
            derived = sidetables.derive(wf)
        if failure is None and derived.stalled:
            failure = InstanceFailure(
                "the process stopped with nothing ready and nothing to wait for (SpiffWorkflow follows "
                "a task tree at most 1,000 levels deep: a loop of a few hundred rounds reaches it)",
                kind="stalled")
        if failure is not None:
            derived.status = "error"
            log.warning("instance %s in error at %s: %s", row.id, failure.element_id, failure.message)
            audit.append(self._audit_row(row.id, "instance_error", "engine", failure.element_id,
                                         failure.task_id, failure.as_dict(), at=now))
        if change.forced_status:
            derived.status = change.forced_status
        if derived.status == "completed":
            audit.append(self._audit_row(row.id, "instance_completed", "engine", derived.end_event, None,
                                         {"end_event": derived.end_event}, at=now))
        self._save(session, loaded, derived, change, failure, is_new=is_new, now=now)
        session.connection().execute(_INSERT_AUDIT, audit)
        feed.insert_rows(session, feed.for_change(
            audit, derived, instance_id=row.id, at=now, actor=change.actor,
            offer_answers=loaded.definition.vocabulary.message("offer_answer")))
        for event in wf.get_events():
            self._route_outbound(session, row.id, event, change.actor)
        if effects is not None:
            effects.write(now=now, actor=change.actor)
        return derived

    def _save(self, session, loaded, derived, change, failure, *, is_new, now):
        row = loaded.row
        values = dict(
            definition_id=loaded.definition.id,
            state=self.serializer.dump_state(loaded.workflow),
            serializer_version=SERIALIZER_VERSION,
            status=derived.status,
            end_event=derived.end_event,
            error=failure.as_dict() if failure else None,
            updated_at=now,
            completed_at=now if derived.status in ENDED else None,
        )
        if is_new:
            session.connection().execute(_INSERT_INSTANCE, [dict(
                id=row.id, process_key=loaded.definition.process_key, business_key=row.business_key,
                version=1, created_at=now, started_by=change.actor, **values)])
            loaded.row = row.saved(version=1, created_at=now, started_by=change.actor, **values)
        else:
            loaded.row = self._update(session, row, values)
        if derived.status in ENDED:
            derived.ready_tasks, derived.timers, derived.subscriptions = [], [], []
        templates, source = loaded.definition.templates, self.role_source
        derived.task_rows = sidetables.write(
            session, row, derived, now=now, actor=change.actor, completed=change.completed_tasks,
            prefill=lambda data: self.json_data(message_templates.prefill(
                templates, data, today=now.date(), role_source=source and (
                    lambda: source(session, instance_id=row.id, data=data, at=now)))), is_new=is_new)

    def _update(self, session: Session, row: InstanceRecord, values: dict) -> InstanceRecord:
        """Write `values` over the instance if it is still at the version `row` was read at."""
        result = session.connection().execute(_SAVE, [dict(b_id=row.id, b_seen=row.version,
                                                           b_new=row.version + 1, **values)])
        if result.rowcount != 1:
            raise ConcurrentChange(f"instance {row.id} was changed by someone else; reload and retry")
        return row.saved(version=row.version + 1, **values)

    def save_unrun(self, session: Session, loaded: Loaded, *, error: dict | None) -> None:
        """Save the workflow as it is in memory, without running it (status, end and times kept).

        For an ended case whose data was scrubbed: running it through `change` would re-stamp its
        completion and append a second `instance_completed`; it has no side rows to re-derive.
        Same statement and version check as every other save."""
        row = loaded.row
        loaded.row = self._update(session, row, dict(
            definition_id=row.definition_id, state=self.serializer.dump_state(loaded.workflow),
            serializer_version=SERIALIZER_VERSION, status=row.status, end_event=row.end_event, error=error,
            updated_at=self.clock.now(), completed_at=row.completed_at))

    # ---------- audit ----------
    def audit(self, session, instance_id, kind, actor, element_id=None, task_id=None, details=None):
        row = self._audit_row(instance_id, kind, actor, element_id, task_id, details)
        session.connection().execute(_INSERT_AUDIT, [row])
        feed.insert_rows(session, feed.from_audit(row))        # the integrators' feed, same transaction

    def _audit_row(self, instance_id, kind, actor, element_id=None, task_id=None, details=None,
                   *, at=None) -> dict:
        return dict(instance_id=instance_id, at=at or self.clock.now(), actor=actor, kind=kind,
                    element_id=element_id, task_id=task_id, details=details or {})

    def _step_rows(self, instance_id, steps, *, at=None) -> list[dict]:
        """One `element_completed` row per BPMN element the engine ran (internal specs skipped)."""
        return [self._audit_row(instance_id, "element_completed", "engine", task.task_spec.bpmn_id,
                                str(task.id), {"type": task.task_spec.__class__.__name__,
                                               "name": task.task_spec.bpmn_name}, at=at)
                for task in steps if task.task_spec.bpmn_id is not None and not task.task_spec.manual]

    # ---------- messages ----------
    def message_action(self, name, correlation, payload, task_id: str):
        """The action that delivers message `name` to the waiting task `task_id` of a workflow."""
        def send(wf: BpmnWorkflow):
            body = {**correlation, **(payload or {})}
            task = wf.get_task_from_id(UUID(task_id))
            definition = getattr(task.task_spec, "event_definition", None) if task else None
            spiff_correlations = {}
            if isinstance(definition, MessageEventDefinition) and definition.correlation_properties:
                spiff_correlations = definition.get_correlations(task, body)
            wf.send_event(BpmnEvent(SpiffMessage(name), payload=body, correlations=spiff_correlations))
        return send

    def _claim_buffered(self, session, instance_id, subscriptions, *, now):
        for sub in subscriptions:
            key = sidetables.correlation_key(sub.correlation)
            message = session.scalars(
                select(BufferedMessage).where(
                    BufferedMessage.status == "buffered", BufferedMessage.name == sub.message_name,
                    BufferedMessage.correlation_key == key, BufferedMessage.expires_at > now)
                .order_by(BufferedMessage.id).limit(1)
            ).first()
            if message is None:
                continue
            claimed = session.execute(
                update(BufferedMessage).where(BufferedMessage.id == message.id,
                                              BufferedMessage.status == "buffered")
                .values(status="delivered", delivered_at=now, delivered_to=instance_id)
                .execution_options(synchronize_session=False))
            if claimed.rowcount == 1:
                return message, sub
        return None

    def _route_outbound(self, session, instance_id, event, actor):
        """A message thrown by this instance and not caught inside it: deliver or buffer it."""
        definition = event.event_definition
        if not isinstance(definition, MessageEventDefinition):
            return
        correlation = {}
        for values in (event.correlations or {}).values():
            if isinstance(values, dict):
                correlation.update(values)
        deliver(self, session, definition.name, correlation, event.payload or {}, actor=actor,
                exclude_instance=instance_id)

