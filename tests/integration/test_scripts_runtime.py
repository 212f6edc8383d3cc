"""Restricted scripts at run time: an attack puts only its own instance in `error`."""
from __future__ import annotations

import time

import pytest

from engine.errors import InvalidState
from tests.support import ENGINE_BUNDLE, deploy_unchecked, script_process, write_bundle

ATTACKS = {
    "imports": ("import os\nx = os.getcwd()", "import"),
    "opens_files": ("data = open('/etc/passwd').read()", "open"),
    "walks_subclasses": ("x = ().__class__.__base__.__subclasses__()", "__class__"),
    "loops_forever": ("n = 0\nwhile True:\n    pass", "time"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_puts_the_instance_in_error_and_others_keep_working(engine, tmp_path, name):
    script, words = ATTACKS[name]
    engine.deploy([ENGINE_BUNDLE])
    deploy_unchecked(engine, write_bundle(tmp_path, {name: script_process(name, script)}))
    healthy = engine.start_instance("approval", variables={"candidate_id": "c-1"})

    started = time.monotonic()
    bad = engine.start_instance(name)
    assert time.monotonic() - started < 5
    assert bad.status == "error"
    assert bad.error["element_id"] == "run_script"
    assert bad.error["task_id"]
    assert words.lower() in bad.error["message"].lower(), bad.error
    if name != "walks_subclasses":       # refused at compile time: the line is the script's first
        assert bad.error["line"] in (1, 2, 3)
    assert engine.history(bad.id)[-1].kind == "instance_error"

    # Every other instance, and the engine, keep working.
    done = engine.complete_task(healthy.ready_tasks[0].id, {"decision": "no", "reason": "team"}, actor="hr")
    assert done.status == "completed"
    with pytest.raises(InvalidState):
        engine.cancel_instance(done.id, actor="hr")


def test_retry_after_correcting_data(engine, tmp_path):
    wf = write_bundle(tmp_path, {"divide": script_process("divide", "share = total / parts")})
    engine.deploy([wf])
    inst = engine.start_instance("divide", variables={"total": 10, "parts": 0})
    assert inst.status == "error" and "division" in inst.error["message"]
    with pytest.raises(InvalidState):
        engine.retry_instance(engine.start_instance("divide", variables={"total": 1, "parts": 1}).id,
                              actor="ops")
    fixed = engine.retry_instance(inst.id, actor="ops", data={"parts": 2})
    assert fixed.status == "running" and fixed.error is None
    assert engine.get_task(fixed.ready_tasks[0].id).data["share"] == 5
    assert engine.history(inst.id)[-2].kind == "instance_retried" or any(
        e.kind == "instance_retried" for e in engine.history(inst.id))


def test_retry_after_the_definition_is_fixed(engine, tmp_path):
    wf = write_bundle(tmp_path, {"typo": script_process("typo", "x = undefined_name + 1")})
    engine.deploy([wf])
    inst = engine.start_instance("typo")
    assert inst.status == "error" and "undefined_name" in inst.error["message"]
    again = engine.retry_instance(inst.id, actor="ops")           # same broken version: fails again
    assert again.status == "error"
    (wf / "typo.bpmn").write_text(script_process("typo", "x = 41 + 1"))
    assert engine.deploy([wf])[0].version == 2
    fixed = engine.retry_instance(inst.id, actor="ops", upgrade=True)
    assert (fixed.status, fixed.version) == ("running", 2)
    assert engine.get_task(fixed.ready_tasks[0].id).data["x"] == 42
