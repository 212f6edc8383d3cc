"""Messages: correlation lookup, buffering of early messages, expiry."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.errors import MessageNotRoutable
from engine.models import BufferedMessage
from support import ENGINE_BUNDLE


def _to_reply_wait(engine, clock, candidate_id):
    inst = engine.start_instance("approval", variables={"candidate_id": candidate_id})
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
    delivery = deployed.deliver_message("candidate_replied", {"candidate_id": "cand-early"},
                                        {"text": "early"}, actor="ats", ttl=timedelta(days=60))
    assert delivery.delivered_to == [] and delivery.buffered_id is not None
    inst = _to_reply_wait(deployed, clock, "cand-early")
    assert (inst.status, inst.end_event) == ("completed", "end_done")
    with db.reading() as s:
        message = s.get(BufferedMessage, delivery.buffered_id)
        assert (message.status, message.delivered_to) == ("delivered", inst.id)


def test_expired_buffered_message_is_dropped_and_audited(deployed, clock, db):
    delivery = deployed.deliver_message("candidate_replied", {"candidate_id": "cand-late"}, {},
                                        actor="ats", ttl=timedelta(days=1))
    clock.advance(timedelta(days=2))
    assert deployed.expire_messages() == 1
    inst = _to_reply_wait(deployed, clock, "cand-late")
    assert inst.status == "waiting"                  # the expired message was not delivered
    with db.reading() as s:
        assert s.get(BufferedMessage, delivery.buffered_id).status == "expired"


def test_message_without_correlation_or_instance_is_refused(deployed):
    with pytest.raises(MessageNotRoutable, match="correlation"):
        deployed.deliver_message("candidate_replied", {}, {}, actor="ats")
