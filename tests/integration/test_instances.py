"""Instances: stored state without the spec, status and end event, derived side tables."""
from __future__ import annotations

import json
import zlib

import pytest
from sqlalchemy import select

from engine.errors import FormValidationError, NotAssignee, TaskNotReady
from engine.models import AuditEvent, HumanTask, ProcessInstance
from engine.serialization import SERIALIZER_VERSION
from tests.support import ENGINE_BUNDLE


@pytest.fixture
def deployed(engine):
    engine.deploy([ENGINE_BUNDLE])
    return engine


def _state(db, instance_id) -> tuple[dict, str]:
    with db.read_transaction() as s:
        row = s.get(ProcessInstance, instance_id)
        raw = row.state
        raw = zlib.decompress(raw[2:]) if raw.startswith(b"z:") else raw
        return json.loads(raw), row.serializer_version


def test_state_is_stored_without_the_spec_and_with_serializer_version(deployed, db):
    inst = deployed.start_instance("approval", business_key="c-1", variables={"candidate_id": "c-1"})
    state, version = _state(db, inst.id)
    assert version == SERIALIZER_VERSION
    assert state["serializer_version"] == SERIALIZER_VERSION
    assert "spec" not in state and "subprocess_specs" not in state
    assert "task_specs" not in json.dumps(state)


def test_start_derives_ready_task_with_lane_group_and_form_prefill(deployed):
    inst = deployed.start_instance("approval", business_key="c-1", variables={"candidate_id": "c-1"})
    assert inst.status == "running" and inst.business_key == "c-1" and inst.version == 1
    [task] = inst.ready_tasks
    assert (task.element_id, task.title, task.lane, task.candidate_groups) == (
        "review", "Review the decline", "HR", ["hr"])
    full = deployed.get_task(task.id)
    assert full.form["schema"]["required"] == ["decision", "reason"]
    assert full.form["ui_schema"] == {"ui:order": ["decision", "reason", "manager", "score"]}
    assert full.data["candidate_id"] == "c-1"
    assert full.data["greeting"] == "hello c-1"       # set by the script task before it


def test_invalid_form_data_is_refused_per_field_and_nothing_is_applied(deployed, db):
    inst = deployed.start_instance("approval", variables={"candidate_id": "c-1"})
    task = inst.ready_tasks[0]
    with db.read_transaction() as s:
        audit_before = len(s.scalars(select(AuditEvent.id)).all())
    with pytest.raises(FormValidationError) as caught:
        deployed.complete_task(task.id, {"decision": "maybe", "score": 11}, actor="hr")
    fields = {e.field: e.message for e in caught.value.errors}
    assert set(fields) == {"decision", "reason", "score"}
    assert "maybe" in fields["decision"] and "required" in fields["reason"]
    after = deployed.get_instance(inst.id)
    assert after.row_version == inst.row_version
    assert [t.id for t in after.ready_tasks] == [task.id]
    with db.read_transaction() as s:
        assert len(s.scalars(select(AuditEvent.id)).all()) == audit_before


def test_completing_runs_to_the_next_wait_state_and_records_who(deployed, db):
    inst = deployed.start_instance("approval", variables={"candidate_id": "c-1"})
    task = inst.ready_tasks[0]
    after = deployed.complete_task(task.id, {"decision": "no", "reason": "team"}, actor="hr.li")
    assert (after.status, after.end_event) == ("completed", "end_rejected")
    assert after.ready_tasks == [] and after.waiting_timers == []
    with db.read_transaction() as s:
        row = s.get(HumanTask, task.id)
        assert (row.status, row.completed_by) == ("completed", "hr.li")
    with pytest.raises(TaskNotReady):
        deployed.complete_task(task.id, {"decision": "no", "reason": "team"}, actor="hr.li")
    kinds = [e.kind for e in deployed.history(inst.id)]
    assert kinds[0] == "instance_started" and "task_completed" in kinds and kinds[-1] == "instance_completed"


def test_lane_owner_assigns_the_managers_task_and_the_inbox_filters(deployed, clock):
    from datetime import timedelta
    inst = deployed.start_instance("approval", variables={"candidate_id": "c-1"})
    deployed.complete_task(inst.ready_tasks[0].id,
                           {"decision": "yes", "reason": "salary", "manager": "wang"}, actor="hr")
    clock.advance(timedelta(days=30, seconds=1))
    assert deployed.fire_due_timers().fired == 1
    [task] = deployed.get_instance(inst.id).ready_tasks
    assert (task.element_id, task.assignee, task.candidate_groups) == ("follow_up", "wang", ["hiring_manager"])
    # due_at comes from the 2-day boundary timer on the task
    assert task.due_at == clock.now() + timedelta(days=2)
    assert [t.id for t in deployed.list_tasks(user="wang", groups=[])] == [task.id]
    assert deployed.list_tasks(user="zhang", groups=["hiring_manager"]) == []   # assigned, not open
    with pytest.raises(NotAssignee):
        deployed.claim_task(task.id, user="zhang")
    with pytest.raises(NotAssignee):
        deployed.complete_task(task.id, {"message_sent": "hi"}, actor="zhang", enforce_assignee=True)


def test_claim_assigns_an_open_task_once(deployed):
    inst = deployed.start_instance("approval", variables={"candidate_id": "c-1"})
    task = inst.ready_tasks[0]
    assert deployed.list_tasks(groups=["hr"], user="li")[0].id == task.id
    assert deployed.claim_task(task.id, user="li").assignee == "li"
    assert deployed.claim_task(task.id, user="li").assignee == "li"      # idempotent for the holder
    with pytest.raises(NotAssignee):
        deployed.claim_task(task.id, user="zhao")
    assert deployed.list_tasks(groups=["hr"], user="zhao") == []


def test_cancel_ends_the_instance_and_its_tasks(deployed, db):
    inst = deployed.start_instance("approval", variables={"candidate_id": "c-1"})
    done = deployed.cancel_instance(inst.id, actor="admin", reason="duplicate")
    assert done.status == "cancelled" and done.ready_tasks == []
    with db.read_transaction() as s:
        assert s.get(HumanTask, inst.ready_tasks[0].id).status == "cancelled"
    assert deployed.history(inst.id)[-1].kind == "instance_cancelled"


def test_list_instances_filters(deployed):
    a = deployed.start_instance("approval", business_key="a", variables={"candidate_id": "a"})
    deployed.start_instance("approval", business_key="b", variables={"candidate_id": "b"})
    assert [i.id for i in deployed.list_instances(business_key="a")] == [a.id]
    assert len(deployed.list_instances(process_key="approval", status="running")) == 2
    assert len(deployed.list_instances(limit=1)) == 1
