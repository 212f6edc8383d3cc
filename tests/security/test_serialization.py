"""Issue 12 item 2: data from outside round-trips whatever keys it has; one unloadable case never
stops jobs for the others.

SpiffWorkflow's serializer reads any dict with a `typename` key as a serialized object: a form
answer, start variable or message payload `{"x": {"typename": "nope"}}` made the case unloadable
(500 on complete/cancel/erase, the privacy job failing every round for every candidate).
"""
from __future__ import annotations

import json
import zlib
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from tests.archive.archive_helpers import archive_decline, send_follow_up, task, wait
from tests.support import ATS, BOT, ENGINE_BUNDLE, HR
from engine.archive import PrivacySettings, TalentArchive, Viewer
from engine.errors import NotFound
from engine.models import AuditEvent, ProcessInstance
from engine.runtime import ERASED_STATE
from engine.serialization import ESCAPED_DICT, escape_user_data

WHEN = datetime(2026, 1, 6, 8, 30, tzinfo=timezone.utc)
TRICKY = {
    "poison": {"typename": "nope"},
    "typename": "a top-level key named typename",
    "looks_like_ours": {"typename": ESCAPED_DICT, "value": {"a": 1}},
    "looks_like_a_date": [{"typename": "datetime", "value": "not a date"}, {"deeper": {"typename": "UUID"}}],
    "with_an_object": {"typename": "x", "at": WHEN},
}


@pytest.fixture
def deployed(engine):
    engine.deploy([ENGINE_BUNDLE])
    return engine


def _state(engine, instance_id) -> bytes:
    with engine.db.read_transaction() as s:
        return s.get(ProcessInstance, instance_id).state


def _set_state(engine, instance_id, state: bytes) -> None:
    with engine.db.write_transaction() as s:
        s.execute(update(ProcessInstance).where(ProcessInstance.id == instance_id).values(state=state))


def _data(engine, instance_id, element_id=None) -> dict:
    with engine.db.read_transaction() as s:
        wf = engine.runtime.load(s, instance_id).workflow
    if element_id is None:
        return wf.last_task.data if wf.last_task is not None else wf.data
    return [t for t in wf.get_tasks() if t.task_spec.bpmn_id == element_id][-1].data


# ---------------------------------------------------------------- round trips


def test_escaping_leaves_ordinary_data_alone_and_wraps_only_typename_dicts():
    plain = {"a": [1, {"b": "c"}], "d": {"e": None}}
    assert escape_user_data(plain) is plain                     # nothing copied on the common path
    escaped = escape_user_data({"x": [{"typename": "nope", "y": {"typename": "z"}}]})
    assert escaped == {"x": [{"typename": ESCAPED_DICT, "value": {
        "typename": "nope", "y": {"typename": ESCAPED_DICT, "value": {"typename": "z"}}}}]}


def test_typename_start_variables_form_fields_and_message_payloads_round_trip(deployed, clock):
    engine = deployed
    variables = {"candidate_id": "cand-t", **TRICKY}
    inst = engine.start_instance("approval", business_key="cand-t", variables=variables, actor=ATS)
    assert inst.status == "running" and inst.error is None, inst.error
    data = _data(engine, inst.id, "prepare")
    for key, value in TRICKY.items():
        assert data[key] == value, key
    assert data["with_an_object"]["at"] == WHEN                   # a real datetime, not a dict
    # what is stored carries no bare user `typename` SpiffWorkflow would take for an object
    state = _state(engine, inst.id)
    text = (zlib.decompress(state[2:]) if state.startswith(b"z:") else state).decode()
    assert '"typename":"nope"' not in text.replace('{"typename":"nope"}', "")

    review = engine.get_instance(inst.id).ready_tasks[0]
    form = {"decision": "yes", "reason": "salary", "manager": "wang", **{k: v for k, v in TRICKY.items()
                                                                        if k != "with_an_object"}}
    try:
        view = engine.complete_task(review.id, form, actor=HR)
    except Exception as exc:  # noqa: BLE001 - the form may refuse undeclared fields: then by data
        assert type(exc).__name__ == "FormValidationError", exc
        view = engine.complete_task(review.id, {"decision": "yes", "reason": "salary", "manager": "wang"}, actor=HR)
    assert view.status in ("running", "waiting"), view.error
    clock.advance(timedelta(days=30, seconds=1))
    engine.fire_due_timers()
    follow_up = engine.get_instance(inst.id).ready_tasks[0]
    engine.complete_task(follow_up.id, {"message_sent": "hello"}, actor="wang")
    payload = {"text": {"typename": "nope"}, "typename": "BpmnWorkflow", "items": [{"typename": ESCAPED_DICT}]}
    delivery = engine.deliver_message("candidate_replied", {"candidate_id": "cand-t"}, payload, actor=BOT)
    assert delivery.delivered_to == [inst.id]
    done = engine.get_instance(inst.id)
    assert (done.status, done.end_event) == ("completed", "end_done"), done.error
    reply = _data(engine, inst.id, "wait_reply")["reply"]
    assert reply["text"] == {"typename": "nope"} and reply["items"] == [{"typename": ESCAPED_DICT}]
    # ... and the case can still be cancelled/erased by its state: it loads
    assert _data(engine, inst.id)["poison"] == {"typename": "nope"}


def test_instances_stored_before_escaping_still_load(deployed):
    """A state written by the old serializer: the user dict's `typename` is bare."""
    engine = deployed
    inst = engine.start_instance("approval", business_key="cand-old",
                                 variables={"candidate_id": "cand-old", "poison": {"typename": "nope", "n": [1]}})
    state = _state(engine, inst.id)
    raw = (zlib.decompress(state[2:]) if state.startswith(b"z:") else state).decode()
    old = raw.replace(json.dumps({"typename": ESCAPED_DICT, "value": {"typename": "nope", "n": [1]}},
                                 separators=(",", ":")), '{"typename":"nope","n":[1]}')
    assert old != raw
    _set_state(engine, inst.id, old.encode())
    assert _data(engine, inst.id, "prepare")["poison"] == {"typename": "nope", "n": [1]}
    review = engine.get_instance(inst.id).ready_tasks[0]
    view = engine.complete_task(review.id, {"decision": "no", "reason": "team"}, actor=HR)
    assert (view.status, view.end_event) == ("completed", "end_rejected")


# ---------------------------------------------------------------- one unloadable case


@pytest.fixture
def archive(recall):
    return TalentArchive(recall, settings=PrivacySettings(retention_days=180, renewal_days=30))


def _consenting(archive, recall, name, *, days=45):
    candidate = archive.create_candidate({"name": name, "phone": "13100000000"}, actor=HR)
    case = archive.record_decline(candidate.id, {"reason": "salary"}, actor=ATS).instance_id
    archive_decline(recall, case, reason="salary", expiry=(recall.clock.now() + timedelta(days=days)).date().isoformat())
    return candidate, case


def _incidents(engine, instance_id):
    return [h for h in engine.history(instance_id)
            if h.kind == "instance_error" and h.details.get("kind") == "incident"]


def _corrupt(engine, instance_id):
    _set_state(engine, instance_id, b"\x00 this is not a stored workflow")


def test_the_privacy_jobs_skip_an_unloadable_case_and_go_on_with_everyone_else(archive, recall):
    broken, broken_case = _consenting(archive, recall, "坏案甲QX")
    renewing, renewing_case = _consenting(archive, recall, "续期乙QX")
    other, other_case = _consenting(archive, recall, "其他丙QX")
    archive.run_jobs()
    _corrupt(recall, broken_case)

    wait(recall, days=20)                                       # renewal requests
    report = archive.run_jobs()
    assert report.renewals_requested == 3
    assert task(recall, renewing_case, "renew_consent") and task(recall, other_case, "renew_consent")
    view = recall.get_instance(broken_case)
    assert view.status == "error" and view.error["kind"] == "incident"
    assert "cannot be loaded" in view.error["message"]
    assert len(_incidents(recall, broken_case)) == 1

    wait(recall, days=26)                                       # every consent has expired: lapse
    report = archive.run_jobs()
    assert report.consents_lapsed == 3 and report.cases_cancelled == 2
    assert recall.get_instance(other_case).status == "cancelled"

    wait(recall, days=181)                                      # retention over: anonymise all three
    assert archive.run_jobs().anonymised == 3
    for candidate in (broken, renewing, other):
        with pytest.raises(NotFound):
            archive.get_candidate(candidate.id, viewer=Viewer(HR, "hr"))
    assert _state(recall, broken_case) == ERASED_STATE
    assert recall.get_instance(broken_case).status == "cancelled"


def test_the_timer_worker_and_message_delivery_skip_an_unloadable_case(archive, recall):
    broken, broken_case = _consenting(archive, recall, "坏案丁QX", days=300)
    fine, fine_case = _consenting(archive, recall, "正常戊QX", days=300)
    _corrupt(recall, broken_case)
    recall.clock.advance(timedelta(days=31))
    report = recall.fire_due_timers()
    assert report.errors == 1 and report.fired >= 1
    assert task(recall, fine_case, "follow_up_day_30")
    assert recall.get_instance(broken_case).status == "error" and len(_incidents(recall, broken_case)) == 1

    # another broken case, found by a message: delivery goes on, the case gets its incident
    late, late_case = _consenting(archive, recall, "坏案己QX", days=300)
    wait(recall, days=31)
    send_follow_up(recall, late_case, "follow_up_day_30")
    _corrupt(recall, late_case)
    delivery = recall.deliver_message("candidate_replied", {"candidate_id": late.id}, {"text": "在吗"}, actor=BOT)
    assert late_case not in delivery.delivered_to
    assert recall.get_instance(late_case).status == "error" and len(_incidents(recall, late_case)) == 1


def test_erasing_a_candidate_with_an_unloadable_case_succeeds(archive, recall):
    candidate, case = _consenting(archive, recall, "擦除庚QX", days=300)
    ended, ended_case = _consenting(archive, recall, "擦除辛QX", days=300)
    recall.cancel_instance(ended_case, actor=HR, reason="test")
    _corrupt(recall, case)
    _corrupt(recall, ended_case)
    report = archive.erase(candidate.id, actor=HR)
    assert report.cases_cancelled == [case]
    assert _state(recall, case) == ERASED_STATE and recall.get_instance(case).status == "cancelled"
    archive.erase(ended.id, actor=HR)
    assert _state(recall, ended_case) == ERASED_STATE
    with recall.db.read_transaction() as s:
        kinds = list(s.scalars(select(AuditEvent.kind).where(AuditEvent.instance_id == case)))
    assert "data_erased" in kinds and "instance_cancelled" in kinds


def test_over_http_an_unloadable_case_answers_4xx_and_can_be_cancelled_and_erased(api):
    app, engine, as_user = api
    archive = TalentArchive(engine)
    candidate, case = _consenting(archive, engine, "接口壬QX", days=300)
    other, other_case = _consenting(archive, engine, "接口癸QX", days=300)
    wait(engine, days=31)
    for instance_id in (case, other_case):
        _corrupt(engine, instance_id)
    task_id = task(engine, case, "follow_up_day_30").id
    completed = as_user(HR).post(f"/tasks/{task_id}/complete", json={"data": {"outcome": "skipped",
                                                                              "skip_reason": "出差"}})
    assert completed.status_code == 409 and "cannot be loaded" in completed.json["detail"]
    cancelled = as_user("root").post(f"/process-instances/{other_case}/cancel", json={"reason": "broken"})
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    assert as_user("root").post(f"/process-instances/{other_case}/cancel", json={}).status_code == 409
    erased = as_user(HR).delete(f"/candidates/{candidate.id}")
    assert erased.status_code == 200 and erased.json["cases_cancelled"] == [case]
    assert as_user(HR).get(f"/process-instances/{case}").json["status"] == "cancelled"
    assert _state(engine, case) == ERASED_STATE
