"""Workflow state stored without its spec; the spec is stored once per definition version.

SpiffWorkflow embeds the whole spec in every serialized workflow (about half the
bytes). We register our own converter for `BpmnWorkflow` that leaves the spec out
and takes the (cached, already-restored) spec objects when loading. Every stored
state carries `serializer_version`; SpiffWorkflow's migrations run on load.

Two things SpiffWorkflow's serializer does not do for us, done here:

- User data round-trips whatever keys it has. SpiffWorkflow's registry treats any dict
  with a `typename` key as a serialized object, so a form answer, start variable or
  message payload like `{"x": {"typename": "nope"}}` made the whole case unloadable. On
  dump, every user dict (task data, deltas, internal data, workflow data, event payloads
  and correlations) with a `typename` key is wrapped as `{"typename": ESCAPED_DICT,
  "value": {...}}`; on load the wrapper is unwrapped. Instances stored before this (with
  a bare user `typename`) still load: an unknown type name is read back as plain data.
- A run never mutates the shared, cached spec. SpiffWorkflow starts an event
  sub-process by wiring `Start -> sub-process -> EndJoin` on the parsed spec at the
  first trigger; with one parsed spec per version shared by every instance, every later
  instance then predicted that branch and never ended (issue 13.1). Restored specs wire
  `sub-process -> EndJoin` once, at load, and their start task adds the triggered child
  without touching the spec (`IsolatedStartTask`).
"""
from __future__ import annotations

import json
import threading
import zlib
from copy import deepcopy
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default import AdHocSubprocessSpecConverter, BpmnProcessSpecConverter
from SpiffWorkflow.bpmn.serializer.default.task_spec import BpmnStartTaskConverter
from SpiffWorkflow.bpmn.serializer.default.workflow import (
    BpmnEventConverter, BpmnSubWorkflowConverter, BpmnWorkflowConverter, TaskConverter,
)
from SpiffWorkflow.bpmn.serializer.helpers.registry import DefaultRegistry
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_SERIALIZER_VERSION
from SpiffWorkflow.bpmn.specs import AdHocSubprocessSpec, BpmnProcessSpec
from SpiffWorkflow.bpmn.specs.control import BpmnStartTask, _EndJoin
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.util.subworkflow import BpmnSubWorkflow
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

# Our stored format: SpiffWorkflow's serializer version plus our own envelope revision.
SERIALIZER_VERSION = SPIFF_SERIALIZER_VERSION
_COMPRESSION_THRESHOLD = 2048   # bytes of JSON above which zlib pays off
_ZLIB_MAGIC = b"z:"


TYPENAME = "typename"                      # SpiffWorkflow's type marker
ESCAPED_DICT = "recall.user_dict"          # our wrapper for user dicts that carry a `typename` key


class IncompatibleSpec(ValueError):
    """Stored state cannot be loaded onto the given spec (elements it reached are gone)."""


# ---------------------------------------------------------------- user data escaping
def escape_user_data(value):
    """`value` with every dict that has a `typename` key wrapped (a user dict, not an object).

    Returns `value` itself when nothing needs escaping (no copy on the common path)."""
    if isinstance(value, dict):
        out = None
        for key, item in value.items():
            escaped = escape_user_data(item)
            if escaped is not item:
                if out is None:
                    out = dict(value)
                out[key] = escaped
        result = value if out is None else out
        if TYPENAME in value:
            return {TYPENAME: ESCAPED_DICT, "value": result if out is not None else dict(value)}
        return result
    if isinstance(value, (list, tuple)):
        out = None
        for index, item in enumerate(value):
            escaped = escape_user_data(item)
            if escaped is not item:
                if out is None:
                    out = list(value)
                out[index] = escaped
        return value if out is None else out
    return value


class RecallRegistry(DefaultRegistry):
    """SpiffWorkflow's registry with escaped user dicts, legacy user data, and per-thread encoder mode.

    SpiffWorkflow keeps `_encoder_mode` on the registry object and flips it around each
    dump; one registry serves every thread of a server process, so a dump in one thread
    changed how another thread's `convert` behaved. It is thread-local here."""

    def __init__(self):
        self._local = threading.local()
        super().__init__()

    @property
    def _encoder_mode(self) -> bool:
        return getattr(self._local, "encoder_mode", False)

    @_encoder_mode.setter
    def _encoder_mode(self, value: bool) -> None:
        self._local.encoder_mode = value

    def restore(self, val, **kwargs):
        if type(val) is dict and TYPENAME in val:
            name = val[TYPENAME]
            if name == ESCAPED_DICT and isinstance(val.get("value"), dict):
                return {k: self.restore(v) for k, v in val["value"].items()}
            if not isinstance(name, str) or name not in self.convert_from_dict:
                # A user dict stored before escaping existed: plain data, not an object.
                return {k: self.restore(v) for k, v in val.items()}
        return super().restore(val, **kwargs)


class EscapingTaskConverter(TaskConverter):
    def to_dict(self, task):
        dct = super().to_dict(task)
        dct["data"] = escape_user_data(dct["data"])
        if dct["delta"]:
            dct["delta"]["updates"] = escape_user_data(dct["delta"]["updates"])
        dct["internal_data"] = self.registry.convert(escape_user_data(task.internal_data))
        return dct


class EscapingSubWorkflowConverter(BpmnSubWorkflowConverter):
    def to_dict(self, workflow):
        dct = super().to_dict(workflow)
        dct["data"] = self.registry.convert(escape_user_data(self.registry.clean(workflow.data)))
        return dct


class EscapingEventConverter(BpmnEventConverter):
    def to_dict(self, event):
        dct = super().to_dict(event)
        dct["payload"] = self.registry.convert(escape_user_data(event.payload))
        dct["correlations"] = {str(k): self.registry.convert(escape_user_data(v))
                               for k, v in event.correlations.items()}
        return dct


# ---------------------------------------------------------------- specs that runs never change
class IsolatedStartTask(BpmnStartTask):
    """A process's start task that starts event sub-processes without re-wiring the shared spec.

    SpiffWorkflow's `trigger_wf` connects `Start -> sub-process -> EndJoin` on the spec at the
    first trigger, and with it every later instance predicts that branch from Start (and its
    EndJoin waits for it for ever). The triggered child needs none of it at run time: it is
    marked `triggered` (Start's prediction never prunes it), and `wire_triggered_specs` gives
    the sub-process its EndJoin output and Start as an input (SpiffWorkflow checks a task has
    one) once, when the spec is loaded, without adding it to Start's outputs."""

    def trigger_wf(self, my_task, spec_name):
        child = my_task._add_child(self._wf_spec.task_specs[spec_name], TaskState.FUTURE)
        child.triggered = True
        child.task_spec._update(child)
        return child.id


class _IsolatedStartTaskConverter(BpmnStartTaskConverter):
    def __init__(self, target_class, registry, typename=None):
        super().__init__(target_class, registry, typename="BpmnStartTask")   # reads stored specs


def wire_triggered_specs(spec):
    """Wire once, at load, what SpiffWorkflow would wire on the shared spec while running.

    Event sub-processes: `sub-process -> EndJoin`, and Start as the sub-process's input
    without the sub-process among Start's outputs. Ad-hoc sub-processes: Start as the input
    of each conditional path (its `add_path` connects Start otherwise, at run time)."""
    start = spec.start
    end = spec.task_specs.get(f"{spec.name}.EndJoin")
    if end is not None:
        spec.end = end      # SpiffWorkflow's restore leaves `end` on a detached EndJoin
    triggered = [spec.task_specs.get(name) for name in getattr(start, "trigger_specs", ())]
    for sub in triggered:
        if sub is not None and end is not None and end not in sub.outputs:
            sub.connect(end)
    for sub in [*triggered, *getattr(spec, "conditional_paths", ())]:
        if sub is not None and start is not None and start not in sub.inputs:
            sub._connect_notify(start)          # one-sided: Start does not predict it
    return spec


def repair_predicted_event_subprocesses(workflow) -> int:
    """Undo, in one loaded workflow, what a spec mutated before the 13.1 fix left in its tree.

    An instance created in a process whose cached spec had been re-wired got an event
    sub-process predicted (and started) from its Start task, not triggered by any event; its
    EndJoin then waited for that branch for ever. Such a branch nobody used is cancelled; one
    a signal did reach (its start event fired) is kept, marked triggered, and ends normally.
    Returns how many branches were repaired (0 for every instance created since the fix)."""
    start, spec_start = workflow.task_tree, workflow.spec.start
    triggerable = set(getattr(spec_start, "trigger_specs", ())) - {ts.name for ts in spec_start.outputs}
    repaired = 0
    for child in list(start.children if start is not None else ()):
        if child.triggered or child.task_spec.name not in triggerable or child.has_state(TaskState.FINISHED_MASK):
            continue
        sub = workflow.subprocesses.get(child.id)
        used = sub is not None and any(
            t.task_spec.bpmn_id is not None and t.has_state(TaskState.COMPLETED | TaskState.READY | TaskState.STARTED
                                                            | TaskState.ERROR)
            for t in sub.tasks.values())
        if used:
            child.triggered = True
        else:
            child.cancel()
        repaired += 1
    if repaired:        # the EndJoin waiting for that branch looks again (the next engine steps run it)
        for task in list(workflow.tasks.values()):
            if task.state == TaskState.WAITING and isinstance(task.task_spec, _EndJoin):
                task.task_spec._update(task)
    return repaired


class _WiredProcessSpecConverter(BpmnProcessSpecConverter):
    def from_dict(self, dct):
        return wire_triggered_specs(super().from_dict(dct))


class _WiredAdHocSpecConverter(AdHocSubprocessSpecConverter):
    def from_dict(self, dct):
        return wire_triggered_specs(super().from_dict(dct))


class SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Serializes a top-level workflow without `spec`/`subprocess_specs`."""

    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["data"] = self.registry.convert(escape_user_data(self.registry.clean(workflow.data)))
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        if spec is None:
            # A full SpiffWorkflow serialization (e.g. imported): fall back to the default path.
            return super().from_dict(dct)
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], _uuid, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(_uuid(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _uuid(value):
    from uuid import UUID
    return UUID(value)


def _make_registry():
    config = deepcopy(SPIFF_CONFIG)
    config[BpmnWorkflow] = SpeclessWorkflowConverter
    config[BpmnSubWorkflow] = EscapingSubWorkflowConverter
    config[Task] = EscapingTaskConverter
    config[BpmnEvent] = EscapingEventConverter
    config[BpmnProcessSpec] = _WiredProcessSpecConverter
    config[AdHocSubprocessSpec] = _WiredAdHocSpecConverter
    config.pop(BpmnStartTask, None)
    config[BpmnStartTask] = BpmnStartTaskConverter          # parsed specs (deploy) dump as before
    config[IsolatedStartTask] = _IsolatedStartTaskConverter  # registered last: stored specs restore as this
    return BpmnWorkflowSerializer.configure(config, registry=RecallRegistry())


class StateSerializer:
    """Turns workflows and specs into bytes/JSON and back."""

    def __init__(self) -> None:
        self.registry = _make_registry()
        self._serializer = BpmnWorkflowSerializer(self.registry, version=SERIALIZER_VERSION)
        self._encoder = self._serializer._encoder_cls

    # --- specs (stored once per definition version) ---
    def dump_specs(self, spec, subprocess_specs: dict) -> str:
        dct = {
            "spec": self.registry.convert(spec),
            "subprocess_specs": {k: self.registry.convert(v) for k, v in sorted(subprocess_specs.items())},
        }
        return json.dumps(dct, sort_keys=True, ensure_ascii=False)

    def load_specs(self, text: str) -> tuple[Any, dict]:
        dct = json.loads(text)
        spec = self.registry.restore(dct["spec"])
        subs = {k: self.registry.restore(v) for k, v in dct["subprocess_specs"].items()}
        return spec, subs

    # --- instance state (stored per instance, without the spec) ---
    def dump_state(self, workflow: BpmnWorkflow, *, compress: bool = True) -> bytes:
        self.registry._encoder_mode = True
        try:
            dct = self.registry.convert(workflow)
            dct[BpmnWorkflowSerializer.VERSION_KEY] = SERIALIZER_VERSION
            raw = json.dumps(dct, cls=self._encoder, separators=(",", ":"), ensure_ascii=False).encode()
        finally:
            self.registry._encoder_mode = False
        if compress and len(raw) > _COMPRESSION_THRESHOLD:
            return _ZLIB_MAGIC + zlib.compress(raw, 6)
        return raw

    def load_state(self, data: bytes, spec, subprocess_specs: dict, script_engine,
                   *, check_compatible: bool = False) -> BpmnWorkflow:
        if data.startswith(_ZLIB_MAGIC):
            data = zlib.decompress(data[len(_ZLIB_MAGIC):])
        dct = json.loads(data)
        version = dct.pop(BpmnWorkflowSerializer.VERSION_KEY, None)
        if version != SERIALIZER_VERSION and version in MIGRATIONS:
            dct["spec"], dct["subprocess_specs"] = {}, {}   # migrations expect the keys
            MIGRATIONS[version](dct)
            dct.pop("spec", None), dct.pop("subprocess_specs", None)
        if check_compatible:
            known = set(spec.task_specs).union(*(s.task_specs for s in subprocess_specs.values()))
            tasks = [*dct["tasks"].values(), *(t for sp in dct["subprocesses"].values()
                                               for t in sp["tasks"].values())]
            missing = sorted({t["task_spec"] for t in tasks} - known)
            if missing:
                raise IncompatibleSpec(
                    "the new version lacks elements this instance has reached: " + ", ".join(missing))
        workflow = self.registry.restore(dct, spec=spec, subprocess_specs=subprocess_specs)
        workflow.script_engine = script_engine
        return workflow

    def full_size(self, workflow: BpmnWorkflow) -> int:
        """Bytes SpiffWorkflow's own serializer would store (spec embedded); for measurements."""
        standard = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(SPIFF_CONFIG))
        return len(standard.serialize_json(workflow).encode())
