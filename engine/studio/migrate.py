"""Moving running cases from one version of a process to another (issue 19, docs/studio.md).

SpiffWorkflow 3.2 stores a case's tasks with the *name* of their task spec (the BPMN element id, or a
derived name like `<id>.BoundaryEventSplit`); our stored state carries no spec at all
(engine/serialization.py). So a state re-attaches to another version's spec when every task spec name
it holds exists there: `Runtime.load(definition_id=...)` does exactly that (`check_compatible`). Here, on
top of it:

- the plan's mapping renames task specs in the stored state first (old element id -> new, by default
  equal ids); predicted tasks (FUTURE/LIKELY/MAYBE) of elements the new version removed are dropped — the
  new spec predicts afresh when the waiting element completes;
- a case is refused, in words, when it waits at an element the new version removed, has passed one (its
  history cannot be kept), has an open user task whose form changed incompatibly (a new required field, a
  changed type, enum values gone); a case waiting inside a called process moves with it (the called
  process's tasks re-attach by name like the caller's; its forms and timers are judged the same way);
- timers: `keep` leaves each waiting timer's due time (internal_data['event_value']) as it is;
  `recompute` evaluates the new version's expression with the case's data: a date expression as is
  (`add_duration(decline_date, "P60D")`), a duration from the moment the timer started waiting (the old
  due time minus the old duration);
- each case moves in its own unit of work through `Runtime.change` (version-checked save, side tables
  rebuilt, audit `instance_migrated` with from/to), re-checked inside it: what the dry run said is not
  trusted, a case that changed since is assessed again.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone

from sqlalchemy import select, update
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition, DurationTimerEventDefinition, TimerEventDefinition,
)
from SpiffWorkflow.util.task import TaskState

from .. import clock as clock_mod
from .. import sidetables
from ..errors import InvalidState, NotFound
from ..instances import Change, InstanceRecord, UnloadableInstance, instance_columns
from ..models import HumanTask, MessageSubscription, ProcessDefinition, ProcessInstance, WaitingTimer
from ..status import LIVE

PREDICTED = TaskState.FUTURE | TaskState.LIKELY | TaskState.MAYBE
OPEN = TaskState.WAITING | TaskState.READY | TaskState.STARTED
TIMER_MODES = ("keep", "recompute")
_ZLIB = b"z:"


@dataclass
class Plan:
    process_key: str
    from_version: int
    to_version: int
    mapping: dict[str, str] = field(default_factory=dict)
    timers: str = "keep"


@dataclass
class Assessment:
    instance_id: str
    business_key: str | None
    version: int                     # the case's optimistic version when assessed
    status: str
    waiting_at: list[str]
    movable: bool
    reasons: list[str]
    timers: list[dict]               # [{element_id, due_at, new_due_at}]
    outcome: str | None = None       # after a move: moved | refused | already_moved | skipped

    def as_dict(self) -> dict:
        return {"instance_id": self.instance_id, "business_key": self.business_key, "version": self.version,
                "status": self.status, "waiting_at": self.waiting_at, "movable": self.movable,
                "reasons": self.reasons, "timers": self.timers, "outcome": self.outcome}


def definition_row(session, process_key: str, version: int) -> ProcessDefinition:
    row = session.scalars(select(ProcessDefinition).where(ProcessDefinition.process_key == process_key,
                                                          ProcessDefinition.version == version)).first()
    if row is None:
        raise NotFound(f"no deployed process definition {process_key} version {version}")
    return row


# ---------------------------------------------------------------- the stored state, remapped
def _state_dict(data: bytes) -> dict:
    if data.startswith(_ZLIB):
        data = zlib.decompress(data[len(_ZLIB):])
    return json.loads(data)


def _all_task_dicts(dct: dict):
    yield dct["tasks"]
    for sub in dct.get("subprocesses", {}).values():
        yield sub["tasks"]


def remap_state(data: bytes, mapping: dict[str, str], known: set[str]) -> tuple[bytes, list[dict]]:
    """The stored state with task specs renamed by `mapping` and predicted tasks of removed elements dropped.

    Returns (state, [{"task_spec", "state"}]) — the tasks that still name an element `known` lacks."""
    dct = _state_dict(data)
    missing = []
    for tasks in _all_task_dicts(dct):
        for task in tasks.values():
            name = task["task_spec"]
            base, dot, rest = name.partition(".")
            if name in mapping:
                task["task_spec"] = mapping[name]
            elif dot and base in mapping:           # derived specs: <id>.BoundaryEventSplit ...
                task["task_spec"] = f"{mapping[base]}.{rest}"
        dropped = {tid for tid, t in tasks.items() if t["task_spec"] not in known and t["state"] & PREDICTED}
        changed = True
        while changed:                              # a dropped prediction's predicted children go too
            changed = False
            for tid, t in tasks.items():
                if tid not in dropped and t.get("parent") in dropped and t["state"] & PREDICTED:
                    dropped.add(tid)
                    changed = True
        for tid in dropped:
            tasks.pop(tid)
        for t in tasks.values():
            if dropped and t.get("children"):
                t["children"] = [c for c in t["children"] if c not in dropped]
        missing.extend({"task_spec": t["task_spec"], "state": t["state"]}
                       for t in tasks.values() if t["task_spec"] not in known)
    return json.dumps(dct, separators=(",", ":"), ensure_ascii=False).encode(), missing


def _known_specs(definition) -> set[str]:
    return set(definition.spec.task_specs).union(*(s.task_specs for s in definition.subprocess_specs.values()))


# ---------------------------------------------------------------- forms
def form_incompatibilities(old: dict | None, new: dict | None, path: str = "") -> list[str]:
    """Why data entered against `old` may not satisfy `new` (empty: compatible)."""
    if not isinstance(new, dict):
        return []
    old = old if isinstance(old, dict) else {}
    problems = []
    for name in sorted(set(new.get("required") or []) - set(old.get("required") or [])):
        problems.append(f"the new required field '{path}{name}'")
    old_props, new_props = old.get("properties") or {}, new.get("properties") or {}
    for name in sorted(set(old_props) & set(new_props)):
        a, b = old_props[name], new_props[name]
        if not isinstance(a, dict) or not isinstance(b, dict):
            continue
        if a.get("type") != b.get("type") and b.get("type") is not None:
            problems.append(f"field '{path}{name}' now of type {b.get('type')} (was {a.get('type')})")
        if isinstance(a.get("enum"), list) and isinstance(b.get("enum"), list):
            gone = [v for v in a["enum"] if v not in b["enum"]]
            if gone:
                problems.append(f"field '{path}{name}' no longer allows {', '.join(map(str, gone))}")
        if b.get("type") == "object":
            problems.extend(form_incompatibilities(a, b, f"{path}{name}."))
    return problems


def _form_name(spec) -> str | None:
    return ((getattr(spec, "extensions", None) or {}).get("properties") or {}).get("formJsonSchemaFilename")


# ---------------------------------------------------------------- timers
def _due(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        due = TimerEventDefinition.get_datetime(value)
    except ValueError:
        return None
    return due if due.tzinfo else due.replace(tzinfo=timezone.utc)


def _evaluate_due(task, definition, *, started: datetime) -> str:
    value = task.workflow.script_engine.evaluate(task, definition.expression)
    if isinstance(definition, DurationTimerEventDefinition):
        parsed = TimerEventDefinition.parse_iso_duration(value)
        return (started + TimerEventDefinition.get_timedelta_from_start(parsed, started)).isoformat()
    if isinstance(value, datetime):
        value = value.isoformat()
    _ = TimerEventDefinition.get_datetime(value)     # raises for what SpiffWorkflow could not read either
    return value


def plan_timers(wf, old_definition, mode: str, clock) -> tuple[list[dict], list[str], dict]:
    """The waiting timers of `wf` (already on the new spec): [{element_id, due_at, new_due_at}], problems,
    and {task: new event_value} to apply. `keep`: nothing changes."""
    report, problems, apply = [], [], {}
    old_specs = {old_definition.spec.name: old_definition.spec.task_specs,     # per process: ids may repeat
                 **{name: sub.task_specs for name, sub in old_definition.subprocess_specs.items()}}
    with clock_mod.bound(clock):
        for task in sidetables.all_tasks(wf):
            definition = getattr(task.task_spec, "event_definition", None)
            if task.state != TaskState.WAITING or not isinstance(definition, TimerEventDefinition):
                continue
            element = task.task_spec.bpmn_id or task.task_spec.name
            value = task.internal_data.get("event_value")
            entry = {"element_id": element, "due_at": _iso(_due(value)), "new_due_at": _iso(_due(value)),
                     "fires_at_once": False}     # recomputed into the past: it fires as the case moves
            report.append(entry)
            if mode != "recompute" or value is None:
                continue
            if isinstance(definition, CycleTimerEventDefinition):
                entry["note"] = "cycle timers are kept"
                continue
            old = getattr(old_specs.get(task.workflow.spec.name, {}).get(task.task_spec.name), "event_definition", None)
            old_expression = getattr(old, "expression", None)
            if old_expression == definition.expression and type(old) is type(definition):
                continue
            try:
                started = clock.now()
                if isinstance(old, DurationTimerEventDefinition) and _due(value) is not None:
                    parsed = TimerEventDefinition.parse_iso_duration(
                        task.workflow.script_engine.evaluate(task, old_expression))
                    started = _due(value) - TimerEventDefinition.get_timedelta_from_end(parsed, _due(value))
                new_value = _evaluate_due(task, definition, started=started)
            except Exception as exc:  # noqa: BLE001 - any evaluation failure is a reason, in words
                problems.append(f"the new timer of {element} ({definition.expression}) cannot be evaluated "
                                f"for this case: {exc}")
                continue
            entry["new_due_at"] = _iso(_due(new_value))
            entry["fires_at_once"] = _due(new_value) is not None and _due(new_value) <= clock.now()
            apply[task] = new_value
    return report, problems, apply


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value is not None else None


# ---------------------------------------------------------------- assessing and moving one case
class Mover:
    """Assess and move cases of one plan; `runtime` is the engine's (engine/runtime.py)."""

    def __init__(self, runtime, plan: Plan, *, actor: str):
        if plan.timers not in TIMER_MODES:
            raise ValueError(f"timers must be one of {', '.join(TIMER_MODES)}")
        self.runtime, self.plan, self.actor = runtime, plan, actor

    def definitions(self, session):
        old = definition_row(session, self.plan.process_key, self.plan.from_version)
        new = definition_row(session, self.plan.process_key, self.plan.to_version)
        if old.id == new.id:
            raise InvalidState("from_version and to_version are the same version")
        return old, new

    def mapping_problems(self, session, old_row, new_row) -> dict[str, list[str]]:
        """{mapping.<old id>: [why]} for a mapping that names elements the versions do not have."""
        old_known = _known_specs(self.runtime.specs.get(session, old_row.id))
        new_known = _known_specs(self.runtime.specs.get(session, new_row.id))
        problems: dict[str, list[str]] = {}
        for old, new in self.plan.mapping.items():
            if old not in old_known:
                problems.setdefault(f"mapping.{old}", []).append(
                    f"version {self.plan.from_version} has no element {old}")
            if new not in new_known:
                problems.setdefault(f"mapping.{old}", []).append(
                    f"version {self.plan.to_version} has no element {new}")
        return problems

    def candidates(self, session, old_row, instance_ids: list[str] | None) -> list[str]:
        query = select(ProcessInstance.id).where(ProcessInstance.definition_id == old_row.id,
                                                 ProcessInstance.status.in_(LIVE))
        if instance_ids is not None:
            query = select(ProcessInstance.id).where(ProcessInstance.id.in_(instance_ids))
        found = list(session.scalars(query.order_by(ProcessInstance.created_at, ProcessInstance.id)))
        if instance_ids is not None:
            order = {iid: i for i, iid in enumerate(instance_ids)}
            found.sort(key=lambda iid: order[iid])
        return found

    def assess(self, session, instance_id: str, old_row, new_row):
        """(Assessment, Loaded on the new version or None, {task: new event_value})."""
        record = session.connection().execute(
            select(*instance_columns()).where(ProcessInstance.id == instance_id)).first()
        if record is None:
            return Assessment(instance_id, None, 0, "unknown", [], False,
                              [f"no case {instance_id}"], [], outcome="skipped"), None, {}
        row = InstanceRecord.of(record)
        result = Assessment(row.id, row.business_key, row.version, row.status, [], False, [], [])
        if row.process_key != self.plan.process_key:
            result.reasons.append(f"it is a case of {row.process_key}, not {self.plan.process_key}")
            result.outcome = "skipped"
            return result, None, {}
        if row.definition_id == new_row.id:
            result.movable, result.outcome = True, "already_moved"
            result.reasons.append(f"it is already on version {self.plan.to_version}")
            return result, None, {}
        if row.definition_id != old_row.id:
            result.reasons.append(f"it runs on another version, not version {self.plan.from_version}")
            result.outcome = "skipped"
            return result, None, {}
        if row.status not in LIVE:
            result.reasons.append(f"it is {row.status}: only running cases move")
            result.outcome = "skipped"
            return result, None, {}
        old_def = self.runtime.specs.get(session, old_row.id)
        new_def = self.runtime.specs.get(session, new_row.id)
        try:
            current = self.runtime.serializer.load_state(row.state, old_def.spec, old_def.subprocess_specs,
                                                         self.runtime.script_engine)
        except Exception as exc:  # noqa: BLE001 - an unloadable case cannot move; say why
            result.reasons.append(f"its stored state cannot be loaded ({type(exc).__name__})")
            return result, None, {}
        open_tasks = [t for t in sidetables.all_tasks(current)
                      if t.has_state(OPEN) and t.task_spec.bpmn_id is not None]
        result.waiting_at = sorted({t.task_spec.bpmn_id for t in open_tasks})
        mapping = self.plan.mapping
        state, missing = remap_state(row.state, mapping, _known_specs(new_def))
        for item in missing:
            element = item["task_spec"].partition(".")[0]
            if item["state"] & OPEN:
                result.reasons.append(f"it waits at {element}, which version {self.plan.to_version} removed "
                                      f"(map it to an element of the new version, or let it finish here)")
            else:
                result.reasons.append(f"it has passed {element}, which version {self.plan.to_version} removed: "
                                      f"its history cannot be kept on the new version")
        result.reasons = list(dict.fromkeys(result.reasons))
        for task in open_tasks:
            if not task.task_spec.manual or task.state != TaskState.READY:
                continue
            new_name = mapping.get(task.task_spec.name, task.task_spec.name)
            new_spec = new_def.spec.task_specs.get(new_name) or next(
                (s.task_specs[new_name] for s in new_def.subprocess_specs.values() if new_name in s.task_specs), None)
            if new_spec is None:
                continue
            old_form, new_form = _form_name(task.task_spec), _form_name(new_spec)
            old_schema = old_def.forms.get(old_form) if old_form else None
            new_schema = new_def.forms.get(new_form) if new_form else None
            problems = form_incompatibilities(old_schema, new_schema)
            if problems:
                result.reasons.append(f"its open task {task.task_spec.bpmn_id} uses a form that changed "
                                      f"incompatibly: {'; '.join(problems)}")
        if result.reasons:
            return result, None, {}
        try:
            loaded = self.runtime.load(session, row.id, definition_id=new_row.id, row=replace(row, state=state))
        except (InvalidState, UnloadableInstance) as exc:
            result.reasons.append(str(exc))
            return result, None, {}
        clock = clock_mod.FixedClock(self.runtime.clock.now())
        result.timers, problems, apply = plan_timers(loaded.workflow, old_def, self.plan.timers, clock)
        result.reasons.extend(problems)
        result.movable = not result.reasons
        return result, (loaded if result.movable else None), apply

    def move(self, session, instance_id: str, old_row, new_row) -> Assessment:
        """Assess and, when movable, move one case in the caller's unit of work."""
        result, loaded, apply = self.assess(session, instance_id, old_row, new_row)
        if result.outcome is not None:
            return result
        if loaded is None:
            result.outcome = "refused"
            return result

        def set_timers(wf):
            for task, value in apply.items():
                task._set_internal_data(event_value=value)
                task.internal_data.pop("event_fired", None)

        derived = self.runtime.change(session, loaded, set_timers, Change(
            "instance_migrated", self.actor, details={
                "process_key": self.plan.process_key, "from_version": self.plan.from_version,
                "to_version": self.plan.to_version, "timers": self.plan.timers,
                "mapping": {k: v for k, v in self.plan.mapping.items() if k != v},
                "timer_changes": [t for t in result.timers if t["due_at"] != t["new_due_at"]]}),
            expected_version=result.version)
        _retarget_side_rows(session, instance_id, derived)
        result.outcome, result.version, result.status = "moved", loaded.row.version, loaded.row.status
        return result


def _retarget_side_rows(session, instance_id: str, derived) -> None:
    """Side rows kept across the move (same task id) take the new version's element and form."""
    for t in derived.ready_tasks:
        session.execute(update(HumanTask).where(HumanTask.id == t.id, HumanTask.instance_id == instance_id)
                        .values(element_id=t.element_id, title=t.title, form_schema=t.form_schema,
                                form_ui_schema=t.form_ui_schema, lane=t.lane)
                        .execution_options(synchronize_session=False))
    for t in derived.timers:
        session.execute(update(WaitingTimer).where(WaitingTimer.instance_id == instance_id,
                                                   WaitingTimer.task_id == t.task_id)
                        .values(element_id=t.element_id).execution_options(synchronize_session=False))
    for s in derived.subscriptions:
        session.execute(update(MessageSubscription).where(MessageSubscription.instance_id == instance_id,
                                                          MessageSubscription.task_id == s.task_id)
                        .values(element_id=s.element_id).execution_options(synchronize_session=False))
