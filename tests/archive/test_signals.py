"""Point 3: a signal about a candidate raises an HR task during the cadence, instead of waiting."""
from __future__ import annotations

from lxml import etree

from tests.archive.archive_helpers import archive_decline, complete, reply, send_follow_up, task, wait
from tests.support import ATS, BOT, HR, WORKFLOWS
from engine.archive import SearchFilters, Viewer

BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
BPMNDI = "{http://www.omg.org/spec/BPMN/20100524/DI}"


def _case(archive, name="林一"):
    candidate = archive.create_candidate({"name": name, "needs": ["弹性工作"]}, actor=HR)
    instance_id = archive.record_decline(candidate.id, {"reason": "family"}, actor=ATS).instance_id
    return candidate, instance_id


def test_a_signal_during_the_cadence_raises_react_to_signal_now(archive, recall):
    candidate, case = _case(archive)
    archive_decline(recall, case, reason="family")
    wait(recall, days=40)
    send_follow_up(recall, case, "follow_up_day_30")
    assert recall.get_instance(case).waiting_timers[0].element_id == "wait_day_90"

    result = archive.record_signal(candidate.id, {"kind": "family_resolved", "text": "家里的事情解决了,可以考虑机会",
                                                  "source": "wecom", "consent_noted": True}, actor=BOT)
    assert result.status == "delivered" and result.delivered_to == [case]
    reaction = task(recall, case, "react_to_signal")
    assert reaction.candidate_groups == ["hr"]
    assert reaction.data["signal"]["kind"] == "family_resolved" and reaction.data["signal"]["source"] == "wecom"
    assert "suggested_message" not in reaction.data            # HR writes this one themselves
    # the cadence goes on: the day-90 timer still waits, the reply can still come
    view = recall.get_instance(case)
    assert [t.element_id for t in view.waiting_timers] == ["wait_day_90"]
    assert [m.name for m in view.waiting_messages] == ["candidate_replied"]
    complete(recall, case, "react_to_signal", action="contacted", channel="wecom",
             message_sent="听说家里的事情解决了,最近方便聊聊吗?")
    reply(recall, candidate.id, "是的,可以聊聊")
    assert task(recall, case, "assess_reply").data["reply"]["text"] == "是的,可以聊聊"

    delivered = [h for h in recall.history(case) if h.kind == "message_delivered"]
    assert [(h.details["name"], h.element_id, h.actor) for h in delivered] == [
        ("candidate_signal", "signal_received", BOT), ("candidate_replied", "cadence_reply_received", BOT)]
    assert delivered[0].details["correlation"] == {"candidate_id": candidate.id}
    view = archive.get_candidate(candidate.id, viewer=Viewer(HR, "hr"))
    assert [(m.direction, m.stage) for m in view.messages] == [
        ("sent", "day_30"), ("received", "signal"), ("sent", "signal"), ("received", "signal")]
    # the signal is a signal, the answer to HR's reaction a reply (issue 15)
    assert [m.name for m in view.messages] == [None, "candidate_signal", None, "candidate_replied"]
    assert view.signals[0].delivered_to == [case] and view.signals[0].consent_noted
    assert [c.id for c in archive.search(SearchFilters(q="解决")).items] == [candidate.id]


def test_a_signal_outside_the_cadence_is_recorded_but_raises_nothing(archive, recall):
    candidate, case = _case(archive, "林二")
    result = archive.record_signal(candidate.id, {"kind": "open_to_work"}, actor=HR)   # archive_decline still open
    assert result.status == "recorded" and result.delivered_to == []
    assert [t.element_id for t in recall.get_instance(case).ready_tasks] == ["archive_decline"]
    archive_decline(recall, case, reason="family")
    assert [t.element_id for t in recall.get_instance(case).ready_tasks] == []      # not replayed later


def test_offer_recall_diagram_is_complete():
    """Every flow node and sequence flow of offer_recall has coordinates (the modeler can open it)."""
    doc = etree.parse(str(WORKFLOWS / "offer_recall.bpmn"))
    nodes = {e.get("id") for e in doc.iter() if isinstance(e.tag, str) and e.tag.startswith(BPMN)
             and etree.QName(e).localname in {"startEvent", "endEvent", "userTask", "scriptTask", "businessRuleTask",
                                              "exclusiveGateway", "subProcess", "callActivity", "boundaryEvent",
                                              "intermediateCatchEvent", "sequenceFlow"}}
    drawn = {e.get("bpmnElement") for e in doc.iter(f"{BPMNDI}BPMNShape", f"{BPMNDI}BPMNEdge")}
    assert {"signal_reaction", "react_to_signal", "consent_renewal", "renew_consent"} <= nodes
    assert nodes - drawn == set()
    lane_refs = {e.text for e in doc.iter(f"{BPMN}flowNodeRef")}
    assert {"signal_reaction", "consent_renewal"} <= lane_refs
