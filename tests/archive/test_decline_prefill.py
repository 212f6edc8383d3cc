"""Issue 13.2: everything a recorded decline says arrives in the case's tasks, and a task never
silently contradicts the archive (a consent change is explicit, audited as that user's, and no
job infers a withdrawal).

Through the HTTP API (`api` fixture: real workflows/, SQLite and PostgreSQL).
"""
from __future__ import annotations

from tests.support import ATS, HR, MANAGER

CANDIDATE = "c-prefill"
DECLINE = {
    "reason": "counter_offer", "detail": "原公司加薪 20% 挽留", "role": "上海店长", "hiring_manager": MANAGER,
    "needs": ["弹性工作制", "带教导师"], "open_questions": ["晋升路径是什么?"],
    "consent": {"granted": True, "scope": "similar_roles", "source": "电话",
                "expires_at": "2027-01-05T23:59:00+08:00"},
}


def _ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def _task(call, instance_id: str, element_id: str) -> dict:
    items = _ok(call.get(f"/tasks?instance_id={instance_id}&element_id={element_id}"))["items"]
    assert len(items) == 1, (element_id, items)
    return _ok(call.get(f"/tasks/{items[0]['id']}"))


def _as_shown(task: dict) -> dict:
    """What the form shows, submitted unchanged: the prefill's values of the fields it declares."""
    declared = task["form"]["schema"]["properties"]
    return {k: v for k, v in task["data"].items() if k in declared}


def _record(caller, **changes) -> str:
    hr = caller(HR)
    _ok(hr.post("/candidates", json={"id": CANDIDATE, "name": "预填甲", "phone": "13700000000"}), 201)
    return _ok(hr.post(f"/candidates/{CANDIDATE}/declines", json={**DECLINE, **changes}), 201)["instance_id"]


def _run_privacy_jobs(engine):
    from engine.archive import TalentArchive
    return TalentArchive(engine).run_jobs()


def test_the_decline_arrives_in_archive_decline_and_completing_it_as_shown_keeps_the_consent(api):
    app, engine, caller = api
    case = _record(caller)
    task = _task(caller(HR), case, "archive_decline")
    assert _as_shown(task) == {
        "decline_reason": "counter_offer", "decline_detail": "原公司加薪 20% 挽留",
        "needs": ["弹性工作制", "带教导师"], "open_questions": ["晋升路径是什么?"],
        "talent_pool_consent": True, "consent_scope": "similar_roles", "consent_expiry": "2027-01-05"}

    view = _ok(caller(HR).post(f"/tasks/{task['id']}/complete", json={"data": _as_shown(task)}))
    assert view["status"] == "waiting" and view["end_event"] is None          # not end_no_consent
    _run_privacy_jobs(engine)
    candidate = _ok(caller(HR).get(f"/candidates/{CANDIDATE}"))
    consent = candidate["consent"]
    assert consent["granted"] is True and consent["withdrawn_at"] is None
    assert consent["scope"] == "similar_roles" and consent["source"] == "电话"
    kinds = [e["kind"] for e in candidate["timeline"]]
    assert "consent_withdrawn" not in kinds and "consent_changed" not in kinds and "decline_changed" not in kinds
    assert kinds.count("consent_granted") == 1                  # the decline's; the task repeated it
    assert _ok(caller(HR).get(f"/process-instances/{case}"))["status"] == "waiting"


def test_the_deciding_hiring_manager_arrives_in_the_hand_off_request(api):
    app, engine, caller = api
    case = _record(caller)
    task = _task(caller(HR), case, "archive_decline")
    _ok(caller(HR).post(f"/tasks/{task['id']}/complete", json={"data": _as_shown(task)}))
    replied = caller(ATS).post("/messages", json={"name": "candidate_replied", "correlation": {"candidate_id": CANDIDATE},
                                                  "payload": {"text": "想再聊聊"}})
    assert replied.status_code in (200, 202), replied.get_json()
    assess = _task(caller(HR), case, "assess_reply")
    _ok(caller(HR).post(f"/tasks/{assess['id']}/complete",
                        json={"data": {"outcome": "interested", "involve_manager": True}}))
    request = _task(caller(HR), case, "request_manager_contact")
    assert _as_shown(request) == {"manager_username": MANAGER}
    _ok(caller(HR).post(f"/tasks/{request['id']}/complete",
                        json={"data": {**_as_shown(request), "talking_points": "薪资结构已调整"}}))
    handoff = _task(caller(MANAGER), case, "manager_contact_candidate")
    assert handoff["assignee"] == MANAGER


def test_unticking_consent_is_an_explicit_change_audited_as_that_user(api):
    app, engine, caller = api
    case = _record(caller)
    task = _task(caller(HR), case, "archive_decline")
    answer = {**_as_shown(task), "talent_pool_consent": False}
    answer.pop("consent_scope"), answer.pop("consent_expiry")
    view = _ok(caller(HR).post(f"/tasks/{task['id']}/complete", json={"data": answer}))
    assert view["end_event"] == "end_no_consent"

    # applied in the completion itself, before any job ran
    candidate = _ok(caller(HR).get(f"/candidates/{CANDIDATE}"))
    assert candidate["consent"]["granted"] is False and candidate["consent"]["withdrawn_at"] is not None
    changed = [e for e in candidate["timeline"] if e["kind"] == "consent_changed"]
    assert len(changed) == 1 and changed[0]["actor"] == HR and "talent_pool_consent" in changed[0]["summary"]
    withdrawn = [e for e in candidate["timeline"] if e["kind"] == "consent_withdrawn"]
    assert [e["actor"] for e in withdrawn] == [HR]
    history = _ok(caller(HR).get(f"/process-instances/{case}/history"))["items"]
    [event] = [h for h in history if h["kind"] == "consent_changed"]
    assert event["actor"] == HR and event["element_id"] == "archive_decline"
    assert event["details"]["fields"] == {"talent_pool_consent": [True, False], "consent_scope": ["similar_roles", None],
                                          "consent_expiry": ["2027-01-05", None]}

    _run_privacy_jobs(engine)                                   # the job adds nothing of its own
    after = _ok(caller(HR).get(f"/candidates/{CANDIDATE}"))
    assert [e for e in after["timeline"] if e["kind"] in ("consent_withdrawn", "consent_changed")] == \
        [e for e in candidate["timeline"] if e["kind"] in ("consent_withdrawn", "consent_changed")]


def test_a_changed_expiry_is_recorded_as_the_user_s_change_and_nothing_else_is(api):
    app, engine, caller = api
    case = _record(caller)
    task = _task(caller(HR), case, "archive_decline")
    _ok(caller(HR).post(f"/tasks/{task['id']}/complete",
                        json={"data": {**_as_shown(task), "consent_expiry": "2027-03-31"}}))
    candidate = _ok(caller(HR).get(f"/candidates/{CANDIDATE}"))
    assert candidate["consent"]["granted"] is True and candidate["consent"]["expires_at"].startswith("2027-03-31")
    history = _ok(caller(HR).get(f"/process-instances/{case}/history"))["items"]
    [event] = [h for h in history if h["kind"] == "consent_changed"]
    assert event["actor"] == HR and event["details"]["fields"] == {"consent_expiry": ["2027-01-05", "2027-03-31"]}
    _run_privacy_jobs(engine)
    assert _ok(caller(HR).get(f"/candidates/{CANDIDATE}"))["consent"]["withdrawn_at"] is None


def test_a_decline_confirmed_with_changes_updates_the_archive_as_that_user_s_change(api):
    app, engine, caller = api
    case = _record(caller)
    task = _task(caller(HR), case, "archive_decline")
    answer = {**_as_shown(task), "decline_reason": "salary", "decline_detail": "其实主要是薪资",
              "needs": ["弹性工作制"]}
    _ok(caller(HR).post(f"/tasks/{task['id']}/complete", json={"data": answer}))
    candidate = _ok(caller(HR).get(f"/candidates/{CANDIDATE}"))
    [decline] = candidate["declines"]
    assert (decline["reason"], decline["detail"], decline["needs"], decline["open_questions"]) == (
        "salary", "其实主要是薪资", ["弹性工作制"], ["晋升路径是什么?"])
    [entry] = [e for e in candidate["timeline"] if e["kind"] == "decline_changed"]
    assert entry["actor"] == HR and "decline_reason" in entry["summary"] and "needs" in entry["summary"]
    history = _ok(caller(HR).get(f"/process-instances/{case}/history"))["items"]
    [event] = [h for h in history if h["kind"] == "decline_changed"]
    assert event["actor"] == HR and event["details"]["fields"] == ["decline_reason", "decline_detail", "needs"]
    assert "其实主要是薪资" not in str(event["details"])          # free text stays out of the audit details
    found = _ok(caller(HR).get("/candidates?reason=salary"))["items"]
    assert [c["id"] for c in found] == [CANDIDATE]
