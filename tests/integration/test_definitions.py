"""Deploying bundles: versions, no-op redeploys, bad bundles, instances pinned to their version."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.errors import BundleInvalid, NotFound
from engine.models import ProcessDefinition, ProcessInstance
from tests.support import ENGINE_BUNDLE, script_process, write_bundle


def _count(db, model):
    with db.read_transaction() as s:
        return s.scalar(select(func.count()).select_from(model))


def test_deploy_twice_is_a_no_op(engine, db):
    first = engine.deploy([ENGINE_BUNDLE])
    second = engine.deploy([ENGINE_BUNDLE])
    assert [(r.process_key, r.version, r.created) for r in first] == [("approval", 1, True)]
    assert [(r.process_key, r.version, r.created) for r in second] == [("approval", 1, False)]
    assert _count(db, ProcessDefinition) == 1


def test_changed_content_makes_a_new_version(engine, tmp_path):
    wf = write_bundle(tmp_path, {"scripted": script_process("scripted", "x = 1")})
    assert engine.deploy([wf])[0].version == 1
    (wf / "scripted.bpmn").write_text(script_process("scripted", "x = 2"))
    assert engine.deploy([wf])[0].version == 2


def test_bad_bundle_deploys_nothing(engine, db, tmp_path):
    wf = write_bundle(tmp_path, {
        "good": script_process("good", "x = 1"),
        "bad": script_process("bad", "import os"),
    })
    with pytest.raises(BundleInvalid) as caught:
        engine.deploy([wf])
    assert any(d.element_id == "run_script" and "bad.bpmn" in d.file for d in caught.value.diagnostics)
    assert _count(db, ProcessDefinition) == 0


def test_instance_started_on_v1_finishes_on_v1(engine, db, tmp_path):
    wf = write_bundle(tmp_path, {"scripted": script_process("scripted", "x = 1", after="y = x + 10")})
    engine.deploy([wf])
    old = engine.start_instance("scripted")
    (wf / "scripted.bpmn").write_text(script_process("scripted", "x = 1", after="y = x + 20"))
    assert engine.deploy([wf])[0].version == 2
    new = engine.start_instance("scripted")
    assert (old.version, new.version) == (1, 2)

    engine.complete_task(old.ready_tasks[0].id, {}, actor="hr")
    engine.complete_task(new.ready_tasks[0].id, {}, actor="hr")
    done_old, done_new = engine.get_instance(old.id), engine.get_instance(new.id)
    assert (done_old.status, done_old.version) == ("completed", 1)
    assert (done_new.status, done_new.version) == ("completed", 2)
    history_old = [e for e in engine.history(old.id) if e.element_id == "after_check"]
    assert history_old, "the v1 script ran"
    with engine.db.read_transaction() as s:
        versions = dict(s.execute(select(ProcessInstance.id, ProcessDefinition.version)
                                  .join(ProcessDefinition)).all())
    assert versions == {old.id: 1, new.id: 2}


def test_specs_are_parsed_once_per_version_and_the_cache_is_bounded(db, clock, tmp_path):
    from engine.service import RecallEngine
    engine = RecallEngine(db, clock=clock, spec_cache_size=2)
    for n in range(3):
        wf = write_bundle(tmp_path / f"b{n}", {f"p{n}": script_process(f"p{n}", "x = 1")})
        engine.deploy([wf])
        engine.start_instance(f"p{n}")
    assert len(engine.specs) == 2
    loaded = engine.specs.get  # same object returned while cached
    with db.read_transaction() as s:
        first = loaded(s, 3)
        assert loaded(s, 3) is first


def test_definitions_are_listed_newest_first_and_read_by_key(engine, tmp_path):
    wf = write_bundle(tmp_path, {"scripted": script_process("scripted", "x = 1")})
    engine.deploy([wf])
    (wf / "scripted.bpmn").write_text(script_process("scripted", "x = 2"))
    engine.deploy([wf], actor="owner.wu")
    assert [(d.process_key, d.version) for d in engine.list_definitions()] == [("scripted", 2), ("scripted", 1)]
    latest = engine.get_definition("scripted")
    assert (latest.version, latest.deployed_by) == (2, "owner.wu")
    assert engine.get_definition("scripted", 1).version == 1
    with pytest.raises(NotFound):
        engine.get_definition("missing")
