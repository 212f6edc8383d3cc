"""One case never changes what another sees (issue 13.1): no run mutates a shared, cached spec.

The cached parsed specs (SpecCache) are fingerprinted - every attribute reachable from each
process spec and sub-process spec, task spec inputs/outputs, event definitions and event
callbacks - before and after each kind of engine operation, which must leave them unchanged.
Other process-wide state one instance could change for another is covered below it.
"""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from SpiffWorkflow.bpmn import BpmnEvent
from SpiffWorkflow.specs.base import TaskSpec
from SpiffWorkflow.specs.WorkflowSpec import WorkflowSpec
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition as SpiffMessage
from SpiffWorkflow.util.event import Event

from engine.instances import Change
from tests.archive.archive_helpers import (
    archive_decline, complete, reply, reoffer_and_accept, send_follow_up, task, wait,
)
from tests.support import ATS, BOT, ENGINE_BUNDLE, HR, MANAGER, WORKFLOWS


@pytest.fixture
def archive(recall):
    from engine.archive import PrivacySettings, TalentArchive
    return TalentArchive(recall, settings=PrivacySettings(retention_days=180, renewal_days=30))


# ---------------------------------------------------------------- fingerprints


def _render(value, seen: set):
    if isinstance(value, TaskSpec):
        return f"<task spec {value.name}>"
    if isinstance(value, WorkflowSpec):
        return f"<process spec {value.name}>"
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, dict):
        return {str(k): _render(v, seen) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_render(v, seen) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(json.dumps(_render(v, seen), sort_keys=True) for v in value)
    if isinstance(value, Event):
        subscribers = [*(value.hard_subscribers or []), *(value.weak_subscribers or [])]
        return ["event", [_callback(s[0]) for s in subscribers]]
    if callable(value):
        return _callback(value)
    if id(value) in seen:
        return f"<seen {type(value).__qualname__}>"
    seen.add(id(value))
    attributes = getattr(value, "__dict__", None)
    if attributes is None:
        return f"<{type(value).__qualname__}>"
    return {"__class__": type(value).__qualname__,
            **{k: _render(v, seen) for k, v in sorted(attributes.items()) if k != "lock"}}


def _callback(fn):
    owner = getattr(fn, "__self__", None)
    name = getattr(owner, "name", type(owner).__qualname__) if owner is not None else None
    return f"<callback {getattr(fn, '__qualname__', type(fn).__qualname__)} of {name}>"


def _spec_fingerprint(spec) -> str:
    """A stable serialization of a process spec: its attributes and every task spec's."""
    seen: set = set()
    body = {"__class__": type(spec).__qualname__,
            **{k: _render(v, seen) for k, v in sorted(vars(spec).items()) if k != "task_specs"},
            "task_specs": {name: {"__class__": type(ts).__qualname__,
                                  "inputs": [t.name for t in ts.inputs], "outputs": [t.name for t in ts.outputs],
                                  **{k: _render(v, seen) for k, v in sorted(vars(ts).items())
                                     if k not in ("_wf_spec",)}}
                           for name, ts in sorted(spec.task_specs.items())}}
    return json.dumps(body, sort_keys=True, ensure_ascii=False)


def fingerprints(engine) -> dict[str, str]:
    """Every cached definition: its spec and each sub-process spec, plus its forms and templates."""
    out = {}
    for definition in list(engine.specs._items.values()):
        key = f"{definition.process_key}@{definition.version}"
        out[key] = _spec_fingerprint(definition.spec)
        for name, sub in sorted(definition.subprocess_specs.items()):
            out[f"{key}/{name}"] = _spec_fingerprint(sub)
        out[f"{key}/forms"] = json.dumps(dict(definition.forms), sort_keys=True)
        out[f"{key}/templates"] = json.dumps(dict(definition.templates), sort_keys=True)
    return out


class SpecWatch:
    """Assert that no step changes a cached spec; every step is named in the failure."""

    def __init__(self, engine):
        self.engine, self.before, self.steps = engine, fingerprints(engine), 0

    def step(self, name: str):
        after = fingerprints(self.engine)
        changed = sorted(k for k in self.before.keys() & after.keys() if self.before[k] != after[k])
        assert not changed, f"{name} changed the shared spec(s) {changed}"
        self.before, self.steps = after, self.steps + 1


# ---------------------------------------------------------------- issue 13.1 as reported


def _case(archive, name):
    candidate = archive.create_candidate({"name": name}, actor=HR)
    return candidate, archive.record_decline(candidate.id, {"reason": "family"}, actor=ATS).instance_id


def test_a_signal_does_not_stop_later_cases_from_ending(archive, recall):
    first, case = _case(archive, "甲")
    archive_decline(recall, case)
    wait(recall, days=31)
    assert archive.record_signal(first.id, {"kind": "open_to_work"}, actor=BOT).delivered_to == [case]

    _, later = _case(archive, "乙")
    view = archive_decline(recall, later, consent=False)
    assert (view.status, view.end_event) == ("completed", "end_no_consent")
    # and the signalled case itself still ends: react, then the candidate says no
    complete(recall, case, "react_to_signal", action="contacted", channel="wecom", message_sent="最近好吗?")
    reply(recall, first.id, "暂时不考虑")
    complete(recall, case, "assess_reply", outcome="not_interested")
    assert (recall.get_instance(case).status, recall.get_instance(case).end_event) == (
        "completed", "end_not_interested")


# ---------------------------------------------------------------- every kind of operation


def test_no_engine_operation_changes_a_cached_spec(archive, recall):
    """Start, complete, DMN, timers, boundary events, signals (event sub-processes), messages
    (delivered and buffered), call activities, cancel - on the real workflows."""
    candidate, case = _case(archive, "丙")
    watch = SpecWatch(recall)
    assert watch.before, "nothing cached after the start"
    archive_decline(recall, case)
    watch.step("complete archive_decline")
    wait(recall, days=31)                                   # timer wait_day_30, DMN pick_template_day_30
    watch.step("timer wait_day_30 + DMN")
    archive.record_signal(candidate.id, {"kind": "open_to_work"}, actor=BOT)
    watch.step("signal candidate_signal (non-interrupting event sub-process)")
    complete(recall, case, "react_to_signal", action="contacted", channel="wecom", message_sent="你好")
    watch.step("complete inside the event sub-process")
    send_follow_up(recall, case, "follow_up_day_30")
    watch.step("complete follow_up_day_30")
    reply(recall, candidate.id, "可以聊聊")                  # interrupting boundary message on the cadence
    watch.step("message candidate_replied (boundary)")
    complete(recall, case, "assess_reply", outcome="interested", involve_manager=True)
    watch.step("complete assess_reply -> call activity department_handoff")
    if task(recall, case, "request_manager_contact"):
        complete(recall, case, "request_manager_contact", manager_username=MANAGER,
                 talking_points="团队新的弹性政策")
        watch.step("complete request_manager_contact")
        wait(recall, days=2, hours=1)                       # non-interrupting boundary timer
        watch.step("boundary timer manager_reminder_due")
        wait(recall, days=4)                                # interrupting boundary timer
        watch.step("boundary timer manager_contact_overdue")
    # a buffered message: a reply while the case is with the hiring manager waits for the cadence
    delivery = recall.deliver_message("candidate_replied", {"candidate_id": candidate.id}, {"text": "还在吗"},
                                      actor=BOT)
    assert delivery.buffered_id is not None
    watch.step("buffered message")
    recall.cancel_instance(case, actor=HR, reason="test")
    watch.step("cancel")

    # a second case runs the whole way to onboarding: call activities reoffer, onboarding_goals
    other, case2 = _case(archive, "丁")
    watch = SpecWatch(recall)
    archive_decline(recall, case2)
    wait(recall, days=31)
    reply(recall, other.id, "想回来")
    complete(recall, case2, "assess_reply", outcome="interested", involve_manager=False)
    watch.step("assess_reply -> call activity reoffer")
    reoffer_and_accept(recall, case2, other.id, start_date="2026-03-01")
    watch.step("reoffer (DMN reoffer_approval) accepted -> onboarding_goals")
    recall.deliver_message("new_hire_feedback", {"candidate_id": other.id}, {"text": "还不错"}, actor=BOT)
    watch.step("message new_hire_feedback")
    wait(recall, days=2)
    watch.step("timer feedback_overdue")
    assert watch.steps >= 4


PROBE_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core"
                  id="probe_definitions" targetNamespace="http://offer-recall.test/probe">
  <bpmn:message id="stop_probe" name="stop_probe"/>
  <bpmn:message id="note_probe" name="note_probe"/>
  <bpmn:process id="isolation_probe" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="compute" name="Compute">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>ratio = 10 / divisor</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:userTask id="review" name="Review">
      <bpmn:extensionElements>
        <spiffworkflow:properties>
          <spiffworkflow:property name="formJsonSchemaFilename" value="review.schema.json"/>
        </spiffworkflow:properties>
      </bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end_reviewed"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="compute"/>
    <bpmn:sequenceFlow id="f2" sourceRef="compute" targetRef="review"/>
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end_reviewed"/>
    <bpmn:subProcess id="noted" triggeredByEvent="true">
      <bpmn:startEvent id="note_received" isInterrupting="false">
        <bpmn:outgoing>n1</bpmn:outgoing>
        <bpmn:messageEventDefinition messageRef="note_probe"/>
      </bpmn:startEvent>
      <bpmn:scriptTask id="count_note" name="Count">
        <bpmn:incoming>n1</bpmn:incoming><bpmn:outgoing>n2</bpmn:outgoing>
        <bpmn:script>notes = 1</bpmn:script>
      </bpmn:scriptTask>
      <bpmn:endEvent id="end_note"><bpmn:incoming>n2</bpmn:incoming></bpmn:endEvent>
      <bpmn:sequenceFlow id="n1" sourceRef="note_received" targetRef="count_note"/>
      <bpmn:sequenceFlow id="n2" sourceRef="count_note" targetRef="end_note"/>
    </bpmn:subProcess>
    <bpmn:subProcess id="stopped" triggeredByEvent="true">
      <bpmn:startEvent id="stop_received" isInterrupting="false">
        <bpmn:outgoing>s1</bpmn:outgoing>
        <bpmn:messageEventDefinition messageRef="stop_probe"/>
      </bpmn:startEvent>
      <bpmn:endEvent id="end_stopped"><bpmn:incoming>s1</bpmn:incoming>
        <bpmn:terminateEventDefinition/></bpmn:endEvent>
      <bpmn:sequenceFlow id="s1" sourceRef="stop_received" targetRef="end_stopped"/>
    </bpmn:subProcess>
  </bpmn:process>
</bpmn:definitions>
"""


@pytest.fixture
def probe(engine, tmp_path):
    bundle = tmp_path / "probe"
    (bundle / "workflows").mkdir(parents=True)
    (bundle / "forms").mkdir()
    (bundle / "workflows" / "isolation_probe.bpmn").write_text(PROBE_BPMN, encoding="utf-8")
    (bundle / "forms" / "review.schema.json").write_bytes(
        (Path(ENGINE_BUNDLE).parent / "forms" / "review.schema.json").read_bytes())
    engine.deploy([bundle / "workflows"], forms_dir=bundle / "forms")
    return engine


def _send(engine, instance_id, name):
    with engine.db.write_transaction() as s:
        loaded = engine.runtime.load(s, instance_id)
        engine.runtime.change(s, loaded, lambda wf: wf.send_event(BpmnEvent(SpiffMessage(name), payload={})),
                              Change("message_delivered", "test", None, None, {"name": name}))


def test_event_sub_processes_error_and_retry_leave_the_spec_alone(probe):
    """(Interrupting event sub-processes are refused at deploy: SpiffWorkflow ignores isInterrupting.)"""
    engine = probe
    broken = engine.start_instance("isolation_probe", variables={"divisor": 0}, actor=HR)
    assert broken.status == "error"
    watch = SpecWatch(engine)
    view = engine.retry_instance(broken.id, actor=HR, data={"divisor": 2})
    assert [t.element_id for t in view.ready_tasks] == ["review"]
    watch.step("retry")

    first = engine.start_instance("isolation_probe", variables={"divisor": 5}, actor=HR)
    watch.step("start")
    _send(engine, first.id, "note_probe")
    watch.step("non-interrupting message event sub-process")
    _send(engine, first.id, "stop_probe")
    watch.step("event sub-process ending in a terminate end event")
    review = engine.list_tasks(instance_id=first.id, element_id="review")[0]
    done = engine.complete_task(review.id, {"decision": "no", "reason": "salary"}, actor=HR)
    assert (done.status, done.end_event) == ("completed", "end_reviewed")
    # the next instance is not affected by either: it waits on review and ends at its own end
    later = engine.start_instance("isolation_probe", variables={"divisor": 1}, actor=HR)
    assert [t.element_id for t in later.ready_tasks] == ["review"]
    done = engine.complete_task(later.ready_tasks[0].id, {"decision": "yes", "reason": "team"}, actor=HR)
    assert (done.status, done.end_event) == ("completed", "end_reviewed")
    watch.step("complete")


# ---------------------------------------------------------------- other process-wide state


def test_a_caller_changing_a_form_it_was_given_does_not_change_it_for_others(archive, recall):
    _, case = _case(archive, "戊")
    ready = recall.list_tasks(instance_id=case)[0]
    first = recall.get_task(ready.id)
    first.form["schema"]["properties"].clear()
    first.form["schema"]["title"] = "changed by one caller"
    again = recall.get_task(ready.id)
    assert again.form["schema"]["properties"] and again.form["schema"].get("title") != "changed by one caller"


def test_a_dump_in_one_thread_does_not_change_conversion_in_another(engine):
    """SpiffWorkflow keeps the registry's encoder mode on the (shared) registry object."""
    registry = engine.serializer.registry
    inside, release = threading.Event(), threading.Event()

    def dumping():
        registry._encoder_mode = True          # what dump_state does around its encoding
        inside.set()
        release.wait(5)
        registry._encoder_mode = False

    thread = threading.Thread(target=dumping)
    thread.start()
    try:
        assert inside.wait(5)
        when = datetime(2026, 1, 5, tzinfo=timezone.utc)
        converted = engine.runtime.json_data({"at": when, "wait": timedelta(days=1)})
        json.dumps(converted)               # plain JSON: the other thread's dump did not leak here
    finally:
        release.set()
        thread.join()


def test_cases_left_stuck_by_a_mutated_spec_are_repaired(archive, recall, db, clock, tmp_path):
    """Cases saved while the cached spec had been re-wired (before the fix) end after a restart.

    The lifecycle's end events are terminate end events now (which end a case whatever else is
    open); the diagram of that time had plain end events, so that is the version deployed here."""
    import re
    import shutil

    from SpiffWorkflow.specs.base import TaskSpec as PlainTaskSpec

    from engine.archive.jobs import repair_stuck_cases
    from engine.service import RecallEngine

    shutil.copytree(WORKFLOWS, tmp_path / "workflows")
    shutil.copytree(WORKFLOWS.parent / "forms", tmp_path / "forms")
    main = tmp_path / "workflows" / "offer_recall.bpmn"
    main.write_text(re.sub(r"\s*<bpmn:terminateEventDefinition [^>]*/>", "", main.read_text()))
    recall.deploy([tmp_path / "workflows"], actor="process.owner")
    _, before = _case(archive, "旧甲")                             # created before the mutation
    definition = max((d for d in recall.specs._items.values() if d.process_key == "offer_recall"),
                     key=lambda d: d.version)
    assert "terminateEventDefinition" not in main.read_text() and definition.version == 2
    # what SpiffWorkflow's trigger_wf did to the shared spec at the first signal
    PlainTaskSpec.connect(definition.spec.start, definition.spec.task_specs["signal_reaction"])
    _, stuck = _case(archive, "旧乙")
    assert archive_decline(recall, stuck, consent=False).end_event is None     # the reported symptom

    restarted = RecallEngine(db, clock=clock)                   # a new process: a fresh spec cache
    assert repair_stuck_cases(restarted) == [stuck]
    assert (restarted.get_instance(stuck).status, restarted.get_instance(stuck).end_event) == (
        "completed", "end_no_consent")
    assert "instance_repaired" in [h.kind for h in restarted.history(stuck)]
    assert repair_stuck_cases(restarted) == []                  # nothing else to do, nothing rewritten
    # the case created before the mutation was never affected
    view = archive_decline(restarted, before, consent=False)
    assert (view.status, view.end_event) == ("completed", "end_no_consent")


def test_engines_on_different_databases_do_not_share_message_catalogues(probe, tmp_path, clock):
    """Definition ids are per database: a process-wide cache keyed by id alone mixed them up."""
    from engine.db import Database
    from engine.migrate import upgrade
    from engine.service import RecallEngine

    other_db = Database(f"sqlite:///{tmp_path / 'other.sqlite3'}")
    upgrade(other_db)
    try:
        other = RecallEngine(other_db, clock=clock)
        other.deploy([ENGINE_BUNDLE])                   # definition id 1 there: approval
        with pytest.raises(Exception) as refused:       # probe's id 1 catches no candidate_replied
            probe.deliver_message("candidate_replied", {"candidate_id": "c-9"}, {"text": "hi"}, actor=BOT)
        assert "candidate_replied" in str(refused.value)
        inst = other.start_instance("approval", business_key="c-9", variables={"candidate_id": "c-9"})
        delivery = other.deliver_message("candidate_replied", {"candidate_id": "c-9"}, {"text": "hi"}, actor=BOT)
        assert delivery.delivered_to == [] and inst.id          # accepted (buffered): approval catches it
    finally:
        other_db.dispose()


def test_one_instance_s_script_variables_never_reach_another(probe):
    engine = probe
    environment = engine.runtime.script_engine.environment
    helpers_before = sorted(environment.globals)
    first = engine.start_instance("isolation_probe", variables={"divisor": 5, "secret": "only-first"}, actor=HR)
    later = engine.start_instance("isolation_probe", variables={"divisor": 2}, actor=HR)
    with engine.db.read_transaction() as s:
        data = engine.runtime.load(s, later.id).workflow.get_tasks(spec_name="review")[0].data
    assert data["ratio"] == 5 and "secret" not in data and first.id != later.id
    assert sorted(environment.globals) == helpers_before


ADHOC_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="adhoc_definitions"
                  targetNamespace="http://offer-recall.test/adhoc">
  <bpmn:process id="adhoc_probe" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="init"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>count = 0</bpmn:script></bpmn:scriptTask>
    <bpmn:adHocSubProcess id="adhoc"><bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:scriptTask id="always"><bpmn:script>seen = 1</bpmn:script></bpmn:scriptTask>
      <bpmn:scriptTask id="bump">
        <bpmn:standardLoopCharacteristics><bpmn:loopCondition>count &lt; 2</bpmn:loopCondition>
        </bpmn:standardLoopCharacteristics>
        <bpmn:script>count = count + 1</bpmn:script></bpmn:scriptTask>
      <bpmn:completionCondition>count &gt;= 2</bpmn:completionCondition>
    </bpmn:adHocSubProcess>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="init"/>
    <bpmn:sequenceFlow id="f2" sourceRef="init" targetRef="adhoc"/>
    <bpmn:sequenceFlow id="f3" sourceRef="adhoc" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_an_ad_hoc_sub_process_run_leaves_the_spec_alone(engine, tmp_path):
    """SpiffWorkflow's add_path connected Start to a conditional path on the shared spec: the
    second instance then ran differently from the first. (SpiffWorkflow 3.2 fails both at that
    point with KeyError 'data_objects'; they must fail alike.)"""
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "adhoc_probe.bpmn").write_text(ADHOC_BPMN, encoding="utf-8")
    engine.deploy([tmp_path / "workflows"])
    first = engine.start_instance("adhoc_probe", actor=HR)
    watch = SpecWatch(engine)
    second = engine.start_instance("adhoc_probe", actor=HR)
    watch.step("second ad-hoc run")
    assert (second.status, second.error and second.error["message"]) == (
        first.status, first.error and first.error["message"])
