"""Issue 12.1: only the fields a form (or a start schema) declares enter a case, and who owns a lane
is decided by the engine from trusted places — never by a key a caller writes.

Everything goes through the HTTP API (the `api` fixture: real workflows/, SQLite and PostgreSQL).
"""
from __future__ import annotations

from tests.support import ATS, HR, HR_HRBP, MANAGER, Caller

BOTH = "hr.both"               # made here: an HR user in groups hr and hrbp


def _ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.get_json())
    return response.get_json()


def _fields(response) -> list[str]:
    body = response.get_json()
    assert response.status_code == 422 and response.mimetype == "application/problem+json", body
    return [e["field"] for e in body["errors"]]


def _task(call, instance_id: str, element_id: str) -> dict:
    items = _ok(call.get(f"/tasks?instance_id={instance_id}&element_id={element_id}"))["items"]
    assert len(items) == 1, (element_id, items)
    return items[0]


def _complete(call, task_id: str, data: dict, status=200):
    return _ok(call.post(f"/tasks/{task_id}/complete", json={"data": data}), status)


def _case(caller, candidate_id: str = "c-sec-1", **decline) -> str:
    """A recorded decline with consent, its archive_decline done: the case is in its cadence."""
    hr = caller("root")
    _ok(hr.post("/candidates", json={"id": candidate_id, "name": "安全测试甲", "phone": "13900000000"}), 201)
    started = _ok(hr.post(f"/candidates/{candidate_id}/declines", json={"reason": "salary", **decline}), 201)
    instance_id = started["instance_id"]
    task = _task(caller(HR), instance_id, "archive_decline")
    _complete(caller(HR), task["id"], {"decline_reason": "salary", "talent_pool_consent": True,
                                       "consent_scope": "similar_roles", "consent_expiry": "2027-01-05"})
    return instance_id


def _reply(caller, candidate_id: str) -> None:
    body = {"name": "candidate_replied", "correlation": {"candidate_id": candidate_id}, "payload": {"text": "想再聊聊"}}
    response = caller(ATS).post("/messages", json=body)
    assert response.status_code in (200, 202), response.get_json()


def _to_handoff(caller, instance_id: str, candidate_id: str) -> dict:
    _reply(caller, candidate_id)
    _complete(caller(HR), _task(caller(HR), instance_id, "assess_reply")["id"],
              {"outcome": "interested", "involve_manager": True})
    return _task(caller(HR), instance_id, "request_manager_contact")


def _to_prepare(caller, instance_id: str, candidate_id: str) -> dict:
    _reply(caller, candidate_id)
    _complete(caller(HR), _task(caller(HR), instance_id, "assess_reply")["id"],
              {"outcome": "interested", "involve_manager": False})
    return _task(caller(HR), instance_id, "prepare_reoffer")


REOFFER = {"salary": 20000, "original_salary": 10000, "start_date": "2026-04-01",
           "concerns_addressed": "薪资结构已调整", "days_valid": 7}


def test_manager_cannot_take_over_the_hr_and_hrbp_lanes(api):
    app, engine, caller = api
    case = _case(caller)
    request = _to_handoff(caller, case, "c-sec-1")
    _complete(caller(HR), request["id"], {"manager_username": MANAGER, "talking_points": "薪资结构已调整"})
    handoff = _task(caller(MANAGER), case, "manager_contact_candidate")
    assert handoff["assignee"] == MANAGER

    attempt = caller(MANAGER).post(f"/tasks/{handoff['id']}/complete", json={"data": {
        "contact_outcome": "ready_for_offer", "lane_owners": {"HR": MANAGER, "HRBP": MANAGER}}})
    assert _fields(attempt) == ["lane_owners"]
    assert _task(caller(MANAGER), case, "manager_contact_candidate")["status"] == "ready"   # nothing applied

    _complete(caller(MANAGER), handoff["id"], {"contact_outcome": "ready_for_offer", "notes": "聊过了"})
    prepare = _task(caller(HR), case, "prepare_reoffer")
    assert prepare["assignee"] is None and prepare["candidate_groups"] == ["hr"]
    assert caller(MANAGER).post(f"/tasks/{prepare['id']}/complete", json={"data": REOFFER}).status_code in (403, 404)


def test_hr_outside_hrbp_cannot_approve_their_own_reoffer(api):
    app, engine, caller = api
    case = _case(caller)
    prepare = _to_prepare(caller, case, "c-sec-1")
    attempt = caller(HR).post(f"/tasks/{prepare['id']}/complete",
                              json={"data": {**REOFFER, "lane_owners": {"HRBP": HR}}})
    assert _fields(attempt) == ["lane_owners"]

    _complete(caller(HR), prepare["id"], REOFFER)
    approve = _task(caller(HR_HRBP), case, "approve_reoffer")
    assert approve["assignee"] is None and approve["candidate_groups"] == ["hrbp"]
    # not in group hrbp: the task is not theirs to see (403, or 404 where hidden tasks are not revealed)
    assert caller(HR).post(f"/tasks/{approve['id']}/complete", json={"data": {"approved": True}}).status_code in (403, 404)
    assert caller(HR).post(f"/tasks/{approve['id']}/claim").status_code in (403, 404)
    _complete(caller(HR_HRBP), approve["id"], {"approved": True, "comment": "同意"})
    assert _task(caller(HR), case, "send_reoffer")["status"] == "ready"


def test_reserved_and_undeclared_start_variables_are_refused(api):
    app, engine, caller = api
    base = {"candidate_id": "c-start", "decline_date": "2026-01-05T09:00:00+08:00", "decline_reason": "salary"}
    for who in (ATS, HR):
        preset = caller(who).post("/process-instances", json={"process_key": "offer_recall", "variables": {
            **base, "lane_owners": {"HR": MANAGER, "Hiring Manager": MANAGER}}})
        assert _fields(preset) == ["variables.lane_owners"]
    undeclared = caller(ATS).post("/process-instances", json={"process_key": "offer_recall",
                                                              "variables": {**base, "vip": True}})
    assert _fields(undeclared) == ["variables.vip"]
    assert _ok(caller("root").get("/process-instances?process_key=offer_recall"))["items"] == []

    started = _ok(caller(ATS).post("/process-instances", json={"process_key": "offer_recall", "variables": base}), 201)
    task = _task(caller(HR), started["id"], "archive_decline")
    assert task["assignee"] is None and task["candidate_groups"] == ["hr"]
    # the sub-processes declare theirs too
    reoffer = caller(ATS).post("/process-instances", json={"process_key": "reoffer", "variables": {
        "candidate_id": "c-start", "approval_required": False}})
    assert _fields(reoffer) == ["variables.approval_required"]


def test_an_undeclared_field_is_refused_by_name_and_nothing_is_applied(api):
    app, engine, caller = api
    hr = caller("root")
    _ok(hr.post("/candidates", json={"id": "c-sec-2", "name": "安全测试乙"}), 201)
    case = _ok(hr.post("/candidates/c-sec-2/declines", json={"reason": "team"}), 201)["instance_id"]
    task = _task(caller(HR), case, "archive_decline")
    answer = {"decline_reason": "team", "talent_pool_consent": True, "consent_scope": "any_role",
              "consent_expiry": "2027-01-05"}
    response = caller(HR).post(f"/tasks/{task['id']}/complete", json={"data": {**answer, "priority": "vip",
                                                                             "stage": "day_180"}})
    assert sorted(_fields(response)) == ["priority", "stage"]
    body = response.get_json()
    assert {e["field"]: e["message"] for e in body["errors"]}["priority"].endswith("'priority'")
    assert _task(caller(HR), case, "archive_decline")["status"] == "ready"
    assert not any(h["kind"] == "task_completed" for h in _ok(hr.get(f"/process-instances/{case}/history"))["items"])

    view = _complete(caller(HR), task["id"], answer)              # the correct answer still works
    assert view["status"] == "waiting" and view["end_event"] is None


def test_an_undeclared_field_inside_a_nested_object_is_refused(api):
    app, engine, caller = api
    case = _case(caller, "c-sec-3")
    prepare = _to_prepare(caller, case, "c-sec-3")
    _complete(caller(HR), prepare["id"], {**REOFFER, "salary": 10500})          # +5 %: no approval
    _complete(caller(HR), _task(caller(HR), case, "send_reoffer")["id"], {"channel": "wecom", "message_sent": "新 offer"})
    accepted = caller(ATS).post("/messages", json={"name": "offer_response", "correlation": {"candidate_id": "c-sec-3"},
                                                   "payload": {"decision": "accepted"}})
    assert accepted.status_code in (200, 202), accepted.get_json()
    goals = _task(caller(HR), case, "agree_goals")
    goal = {"title": "熟悉门店", "measure": "完成的项目数", "target": "2", "due_day": 30}
    response = caller(HR).post(f"/tasks/{goals['id']}/complete", json={"data": {
        "goals": [goal, {**goal, "owner": MANAGER, "lane_owners": {"HR": MANAGER}}]}})
    assert sorted(_fields(response)) == ["goals.1.lane_owners", "goals.1.owner"]
    _complete(caller(HR), goals["id"], {"goals": [goal]})


def test_the_hand_off_picker_takes_only_a_manager_of_the_directory(api):
    app, engine, caller = api
    case = _case(caller)
    request = _to_handoff(caller, case, "c-sec-1")
    from engine import users
    users.set_active(engine.db, "zhao.min", False)              # a manager who left: still in the directory
    for who, why in (("nobody.here", "not a user"), (HR_HRBP, "not a manager"), (" wang.li", "not a user"),
                     ("zhao.min", "no longer active")):
        response = caller(HR).post(f"/tasks/{request['id']}/complete", json={"data": {
            "manager_username": who, "talking_points": "薪资结构已调整"}})
        assert _fields(response) == ["manager_username"], who
        assert why in response.get_json()["errors"][0]["message"]
    assert _task(caller(HR), case, "request_manager_contact")["status"] == "ready"
    _complete(caller(HR), request["id"], {"manager_username": "mgr2", "talking_points": "薪资结构已调整"})
    assert _task(caller("mgr2"), case, "manager_contact_candidate")["assignee"] == "mgr2"


def test_whoever_prepared_a_reoffer_cannot_approve_it(api):
    app, engine, caller = api
    from engine import users

    token = users.add_user(engine.db, BOTH, "hr", ("hr", "hrbp"))[1]
    both = Caller(app.test_client(), token)
    case = _case(caller)
    prepare = _to_prepare(caller, case, "c-sec-1")
    _complete(both, prepare["id"], REOFFER)
    approve = _task(both, case, "approve_reoffer")
    for attempt in (both.post(f"/tasks/{approve['id']}/claim"),
                    both.post(f"/tasks/{approve['id']}/complete", json={"data": {"approved": True}})):
        body = attempt.get_json()
        assert attempt.status_code == 403 and attempt.mimetype == "application/problem+json", body
        assert body["type"].endswith(":four-eyes") and "prepare_reoffer" in body["detail"]
    assert _task(caller(HR_HRBP), case, "approve_reoffer")["assignee"] is None     # the claim left nothing behind

    _complete(caller(HR_HRBP), approve["id"], {"approved": False, "comment": "涨幅太大"})
    again = _task(caller(HR), case, "prepare_reoffer")                 # rejected: HR revises
    _complete(caller(HR), again["id"], {**REOFFER, "salary": 18000})
    approve = _task(both, case, "approve_reoffer")
    _complete(both, approve["id"], {"approved": True})               # someone else prepared this one
    assert _task(caller(HR), case, "send_reoffer")["status"] == "ready"


def test_a_misspelled_four_eyes_reference_is_refused_at_deploy(tmp_path):
    import shutil

    from engine.bundle import load_bundle
    from tests.support import WORKFLOWS

    shutil.copytree(WORKFLOWS, tmp_path / "workflows")
    shutil.copytree(WORKFLOWS.parent / "forms", tmp_path / "forms")
    diagram = tmp_path / "workflows" / "reoffer.bpmn"
    diagram.write_text(diagram.read_text().replace('value="prepare_reoffer"', 'value="prepare_reofer"'))
    problems = [str(d) for d in load_bundle([tmp_path / "workflows"]).diagnostics]
    assert len(problems) == 1 and "approve_reoffer: separateFrom names 'prepare_reofer'" in problems[0], problems


def test_a_decline_names_an_active_hiring_manager_or_nothing_is_recorded(api):
    app, engine, caller = api
    from engine import users
    users.set_active(engine.db, "zhao.min", False)
    hr = caller(HR)
    _ok(hr.post("/candidates", json={"id": "c-sec-9", "name": "安全测试乙"}), 201)
    for who, why in (("nobody.here", "no user"), (HR_HRBP, "hiring manager"), ("zhao.min", "deactivated")):
        response = hr.post("/candidates/c-sec-9/declines", json={"reason": "salary", "hiring_manager": who})
        assert _fields(response) == ["hiring_manager"], who
        assert why in response.get_json()["errors"][0]["message"], who
    assert _ok(hr.get("/candidates/c-sec-9"))["declines"] == []
    _ok(hr.post("/candidates/c-sec-9/declines", json={"reason": "salary", "hiring_manager": MANAGER}), 201)
