"""Messages: correlation lookup, buffering of early messages, expiry."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.errors import MessageNotRoutable
from engine.models import BufferedMessage
from tests.support import ENGINE_BUNDLE


def _start(engine, candidate_id):
    return engine.start_instance("approval", business_key=candidate_id, variables={"candidate_id": candidate_id})


def _to_reply_wait(engine, clock, candidate_id, inst=None):
    inst = inst or _start(engine, candidate_id)
    engine.complete_task(inst.ready_tasks[0].id,
                         {"decision": "yes", "reason": "salary", "manager": "wang"}, actor="hr")
    clock.advance(timedelta(days=30, seconds=1))
    engine.fire_due_timers()
    task = engine.get_instance(inst.id).ready_tasks[0]
    return engine.complete_task(task.id, {"message_sent": "hello"}, actor="wang")


@pytest.fixture
def deployed(engine):
    engine.deploy([ENGINE_BUNDLE])
    return engine


def test_message_goes_only_to_the_correlated_instance(deployed, clock):
    a = _to_reply_wait(deployed, clock, "cand-a")
    b = _to_reply_wait(deployed, clock, "cand-b")
    assert [(m.name, m.correlation) for m in a.waiting_messages] == [
        ("candidate_replied", {"candidate_id": "cand-a"})]
    delivery = deployed.deliver_message("candidate_replied", {"candidate_id": "cand-b"},
                                        {"text": "我有兴趣"}, actor="wecom-bot")
    assert delivery.delivered_to == [b.id] and delivery.buffered_id is None
    assert deployed.get_instance(b.id).end_event == "end_done"
    assert deployed.get_instance(a.id).status == "waiting"
    entry = [e for e in deployed.history(b.id) if e.kind == "message_delivered"][0]
    assert entry.actor == "wecom-bot" and entry.details["payload"] == {"text": "我有兴趣"}


def test_early_message_is_buffered_and_delivered_when_the_instance_waits(deployed, clock, db):
    # The case exists (its business key is the candidate) but does not wait for the reply yet;
    # a message for a candidate nobody knows is refused (tests/http/test_messages_rules.py).
    started = _start(deployed, "cand-early")
    delivery = deployed.deliver_message("candidate_replied", {"candidate_id": "cand-early"},
                                        {"text": "early"}, actor="ats", ttl=timedelta(days=60))
    assert delivery.delivered_to == [] and delivery.buffered_id is not None
    inst = _to_reply_wait(deployed, clock, "cand-early", started)
    assert (inst.status, inst.end_event) == ("completed", "end_done")
    with db.read_transaction() as s:
        message = s.get(BufferedMessage, delivery.buffered_id)
        assert (message.status, message.delivered_to) == ("delivered", inst.id)


def test_expired_buffered_message_is_dropped_and_audited(deployed, clock, db):
    started = _start(deployed, "cand-late")
    delivery = deployed.deliver_message("candidate_replied", {"candidate_id": "cand-late"}, {},
                                        actor="ats", ttl=timedelta(days=1))
    clock.advance(timedelta(days=2))
    assert deployed.expire_messages() == 1
    inst = _to_reply_wait(deployed, clock, "cand-late", started)
    assert inst.status == "waiting"                  # the expired message was not delivered
    with db.read_transaction() as s:
        assert s.get(BufferedMessage, delivery.buffered_id).status == "expired"


def test_message_without_correlation_or_instance_is_refused(deployed):
    with pytest.raises(MessageNotRoutable, match="correlation"):
        deployed.deliver_message("candidate_replied", {}, {}, actor="ats")


PARALLEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:message id="candidate_replied" name="candidate_replied"/>
  <bpmn:correlationProperty id="candidate_id" name="candidate_id">
    <bpmn:correlationPropertyRetrievalExpression messageRef="candidate_replied">
      <bpmn:formalExpression>candidate_id</bpmn:formalExpression>
    </bpmn:correlationPropertyRetrievalExpression>
  </bpmn:correlationProperty>
  <bpmn:process id="parallel" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:parallelGateway id="split"><bpmn:incoming>f0</bpmn:incoming>
      <bpmn:outgoing>fa</bpmn:outgoing><bpmn:outgoing>fb</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:intermediateCatchEvent id="wait_reply"><bpmn:incoming>fa</bpmn:incoming><bpmn:outgoing>fa2</bpmn:outgoing>
      <bpmn:messageEventDefinition messageRef="candidate_replied"/></bpmn:intermediateCatchEvent>
    <bpmn:intermediateCatchEvent id="wait_day"><bpmn:incoming>fb</bpmn:incoming><bpmn:outgoing>fb2</bpmn:outgoing>
      <bpmn:timerEventDefinition><bpmn:timeDuration>"P1D"</bpmn:timeDuration></bpmn:timerEventDefinition>
    </bpmn:intermediateCatchEvent>
    <bpmn:scriptTask id="divide"><bpmn:incoming>fb2</bpmn:incoming><bpmn:outgoing>fb3</bpmn:outgoing>
      <bpmn:script>ratio = 1 / divisor</bpmn:script></bpmn:scriptTask>
    <bpmn:parallelGateway id="join"><bpmn:incoming>fa2</bpmn:incoming><bpmn:incoming>fb3</bpmn:incoming>
      <bpmn:outgoing>f9</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:endEvent id="end_both"><bpmn:incoming>f9</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="split"/>
    <bpmn:sequenceFlow id="fa" sourceRef="split" targetRef="wait_reply"/>
    <bpmn:sequenceFlow id="fb" sourceRef="split" targetRef="wait_day"/>
    <bpmn:sequenceFlow id="fa2" sourceRef="wait_reply" targetRef="join"/>
    <bpmn:sequenceFlow id="fb2" sourceRef="wait_day" targetRef="divide"/>
    <bpmn:sequenceFlow id="fb3" sourceRef="divide" targetRef="join"/>
    <bpmn:sequenceFlow id="f9" sourceRef="join" targetRef="end_both"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_message_for_an_instance_in_error_waits_for_its_retry(engine, tmp_path, clock):
    """An errored instance takes no message; it is buffered and delivered by the retry."""
    from tests.support import write_bundle
    engine.deploy([write_bundle(tmp_path, {"parallel": PARALLEL})])
    inst = engine.start_instance("parallel", variables={"candidate_id": "c-err", "divisor": 0})
    assert [m.name for m in inst.waiting_messages] == ["candidate_replied"]
    clock.advance(timedelta(days=1, seconds=1))
    engine.fire_due_timers()
    assert engine.get_instance(inst.id).status == "error"
    delivery = engine.deliver_message("candidate_replied", {"candidate_id": "c-err"}, {}, actor="ats")
    assert delivery.delivered_to == [] and delivery.buffered_id is not None
    done = engine.retry_instance(inst.id, actor="ops", data={"divisor": 2})
    assert (done.status, done.end_event) == ("completed", "end_both")
