"""Workflow state stored without its spec; the spec is stored once per definition version.

SpiffWorkflow embeds the whole spec in every serialized workflow (about half the
bytes). We register our own converter for `BpmnWorkflow` that leaves the spec out
and takes the (cached, already-restored) spec objects when loading. Every stored
state carries `serializer_version`; SpiffWorkflow's migrations run on load.
"""
from __future__ import annotations

import json
import zlib
from copy import deepcopy
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.migration.version_migration import MIGRATIONS
from SpiffWorkflow.bpmn.serializer.workflow import VERSION as SPIFF_SERIALIZER_VERSION
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

# Our stored format: SpiffWorkflow's serializer version plus our own envelope revision.
SERIALIZER_VERSION = SPIFF_SERIALIZER_VERSION
_COMPRESSION_THRESHOLD = 2048   # bytes of JSON above which zlib pays off
_ZLIB_MAGIC = b"z:"


class IncompatibleSpec(ValueError):
    """Stored state cannot be loaded onto the given spec (elements it reached are gone)."""


class SpeclessWorkflowConverter(BpmnWorkflowConverter):
    """Serializes a top-level workflow without `spec`/`subprocess_specs`."""

    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)
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
    return BpmnWorkflowSerializer.configure(config)


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
