"""The web workspace's read-only views: me, the inbox (scope, due times, overdue, queues),
BPMN diagrams of a version and the process owner's count of cases waiting per element."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.support import REVIEW_YES, ROOT, start_approval

DECLINE = {"candidate_id": "c-42", "decline_date": "2026-01-05T09:00:00+08:00"}
ARCHIVE = {"decline_reason": "team", "needs": ["弹性工作"], "talent_pool_consent": True,
           "consent_scope": "any_role", "consent_expiry": "2027-01-05"}


@pytest.fixture
def recall_workflows(engine):
    engine.deploy([ROOT / "workflows"], forms_dir=ROOT / "forms")


def _start_recall(caller, **variables):
    response = caller.post("/process-instances", json={"process_key": "offer_recall",
                                                        "variables": {**DECLINE, **variables}})
    assert response.status_code == 201, response.json
    return response.json


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def test_me_names_the_user_and_the_clock(as_user):
    me = as_user("hr.li").get("/workspace/me")
    assert me.status_code == 200
    assert {k: me.json[k] for k in ("name", "role", "groups", "simulated_clock")} == {
        "name": "hr.li", "role": "hr", "groups": ["hr"], "simulated_clock": True}
    assert _parse(me.json["now"]) == datetime.fromisoformat("2026-01-05T09:00:00+00:00")
    assert as_user("ats").get("/workspace/me").json["role"] == "integrator"


def test_inbox_has_the_scope_of_get_tasks_with_candidate_due_time_and_queues(as_user):
    hr, root = as_user("hr.li"), as_user("root")
    first = start_approval(hr, "c-1")
    second = start_approval(hr, "c-2")
    review = second["ready_tasks"][0]["id"]
    assert hr.post(f"/tasks/{review}/complete", json={"data": REVIEW_YES}).status_code == 200
    assert root.post("/testing/clock", json={"advance": "P31D"}).json["fired"] == 1

    inbox = hr.get("/workspace/inbox").json
    assert [t["instance_id"] for t in inbox["items"]] == [first["id"]]
    task = inbox["items"][0]
    assert (task["element_id"], task["candidate_id"], task["queue"], task["overdue"]) == ("review", "c-1", "group:hr", False)
    assert task["waited_seconds"] == 31 * 86400 and task["effective_due_at"] is None
    assert inbox["queues"] == [{"queue": "mine", "count": 0, "overdue": 0},
                               {"queue": "group:hr", "count": 1, "overdue": 0}]
    assert (inbox["total"], inbox["overdue"], inbox["truncated"]) == (1, 0, False)

    # the manager sees only the follow_up assigned to them, due when its 2-day reminder fires
    manager = as_user("mgr").get("/workspace/inbox").json
    assert [(t["element_id"], t["queue"], t["overdue"]) for t in manager["items"]] == [("follow_up", "mine", False)]
    assert manager["items"][0]["effective_due_at"] == manager["items"][0]["due_at"] is not None
    assert manager["queues"] == [{"queue": "mine", "count": 1, "overdue": 0}]
    assert as_user("mgr2").get("/workspace/inbox").json["items"] == []
    assert as_user("hr.wang").get("/workspace/inbox").json["items"] == []



def test_follow_ups_are_due_when_their_timer_was_due_and_overdue_a_day_later(as_user, recall_workflows):
    hr, root = as_user("hr.li"), as_user("root")
    instance = _start_recall(hr)
    archive = instance["ready_tasks"][0]
    assert hr.post(f"/tasks/{archive['id']}/complete", json={"data": ARCHIVE}).status_code == 200
    timer = hr.get(f"/process-instances/{instance['id']}").json["waiting_timers"][0]
    assert timer["element_id"] == "wait_day_30"
    due = _parse(timer["due_at"])

    root.post("/testing/clock", json={"set": (due + timedelta(hours=2)).isoformat()})
    [task] = hr.get("/workspace/inbox").json["items"]
    assert (task["element_id"], task["candidate_id"]) == ("follow_up_day_30", "c-42")
    assert _parse(task["follow_up_due_at"]) == due == _parse(task["effective_due_at"])
    assert task["overdue"] is False and task["waited_seconds"] == 7200

    root.post("/testing/clock", json={"set": (due + timedelta(days=1, hours=1)).isoformat()})
    inbox = hr.get("/workspace/inbox").json
    assert inbox["items"][0]["overdue"] is True and inbox["overdue"] == 1
    assert inbox["queues"][1] == {"queue": "group:hr", "count": 1, "overdue": 1}


def test_overdue_tasks_come_first_then_by_due_time(as_user, recall_workflows):
    hr, root = as_user("hr.li"), as_user("root")
    late = _start_recall(hr, candidate_id="c-late", decline_date="2025-11-01T09:00:00+08:00")
    hr.post(f"/tasks/{late['ready_tasks'][0]['id']}/complete", json={"data": ARCHIVE})
    fresh = _start_recall(hr, candidate_id="c-new")
    root.post("/testing/clock", json={"advance": "PT1H"})
    items = hr.get("/workspace/inbox").json["items"]
    assert [(t["candidate_id"], t["element_id"], t["overdue"]) for t in items] == [
        ("c-late", "follow_up_day_30", True), ("c-new", "archive_decline", False)]
    assert items[1]["instance_id"] == fresh["id"]


def test_an_undated_task_that_waited_long_is_not_below_a_fresh_dated_one(as_user, recall_workflows):
    """Undated tasks sort as if due UNDATED_DUE after they began waiting: 30 days of waiting beats a
    follow-up due two hours ago; `effective_due_at` and `overdue` stay what they were (undated: none)."""
    hr, root = as_user("hr.li"), as_user("root")
    waiting = _start_recall(hr, candidate_id="c-waiting")
    followed = _start_recall(hr, candidate_id="c-followed")
    hr.post(f"/tasks/{followed['ready_tasks'][0]['id']}/complete", json={"data": ARCHIVE})
    due = _parse(hr.get(f"/process-instances/{followed['id']}").json["waiting_timers"][0]["due_at"])
    root.post("/testing/clock", json={"set": (due + timedelta(hours=2)).isoformat()})
    items = hr.get("/workspace/inbox").json["items"]
    assert [(t["candidate_id"], t["overdue"]) for t in items] == [("c-waiting", False), ("c-followed", False)]
    assert items[0]["effective_due_at"] is None and items[0]["instance_id"] == waiting["id"]


def test_the_inbox_sorts_by_a_column_either_way(as_user, recall_workflows):
    hr, root = as_user("hr.li"), as_user("root")
    late = _start_recall(hr, candidate_id="c-b", decline_date="2025-11-01T09:00:00+08:00")
    hr.post(f"/tasks/{late['ready_tasks'][0]['id']}/complete", json={"data": ARCHIVE})
    root.post("/testing/clock", json={"advance": "PT1H"})
    _start_recall(hr, candidate_id="c-a")
    root.post("/testing/clock", json={"advance": "PT1H"})
    _start_recall(hr, candidate_id="c-c")

    def order(query):
        answer = hr.get(f"/workspace/inbox{query}")
        assert answer.status_code == 200, answer.json
        return [t["candidate_id"] for t in answer.json["items"]]

    assert order("") == order("?sort=due") == order("?sort=due&order=asc") == ["c-b", "c-a", "c-c"]
    assert order("?sort=due&order=desc") == ["c-c", "c-a", "c-b"]
    assert order("?sort=waited") == ["c-b", "c-a", "c-c"]            # longest waiting first by default
    assert order("?sort=waited&order=asc") == ["c-c", "c-a", "c-b"]
    assert order("?sort=candidate") == ["c-a", "c-b", "c-c"]
    assert order("?sort=candidate&order=desc") == ["c-c", "c-b", "c-a"]
    steps = hr.get("/workspace/inbox?sort=step").json["items"]
    titles = [t["title"] for t in steps]
    assert titles == sorted(titles) and len(set(titles)) == 2
    assert [t["candidate_id"] for t in steps if t["element_id"] == "archive_decline"] == ["c-a", "c-c"]
    for bad in ("?sort=colour", "?order=up", "?sort="):
        refused = hr.get(f"/workspace/inbox{bad}")
        assert refused.status_code == 422 and refused.mimetype == "application/problem+json"


def test_diagram_files_of_a_version_main_process_first(as_user, recall_workflows):
    reader = as_user("mgr")
    diagram = reader.get("/workspace/diagrams/offer_recall")
    assert diagram.status_code == 200
    assert diagram.json["version"] == 1
    paths = [f["path"] for f in diagram.json["files"]]
    assert paths[0].endswith("offer_recall.bpmn")
    assert sorted(p.rsplit("/", 1)[-1] for p in paths[1:]) == [
        "department_handoff.bpmn", "onboarding_goals.bpmn", "reoffer.bpmn"]
    main = diagram.json["files"][0]
    assert main["process_ids"] == ["offer_recall"]
    assert "BPMNDiagram" in main["xml"] and 'id="archive_decline"' in main["xml"]
    called = reader.get("/workspace/diagrams/department_handoff").json
    assert [f["process_ids"] for f in called["files"]] == [["department_handoff"]]
    assert reader.get("/workspace/diagrams/offer_recall?version=1").json["version"] == 1
    missing = reader.get("/workspace/diagrams/offer_recall?version=7")
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    assert reader.get("/workspace/diagrams/nope").status_code == 404
    assert reader.get("/workspace/diagrams/offer_recall?version=0").status_code == 422
    assert reader.get("/workspace/diagrams/offer_recall?colour=red").status_code == 422


def test_waiting_counts_cases_per_element_for_active_instances(as_user, recall_workflows):
    hr, owner = as_user("hr.li"), as_user("owner")
    archived = _start_recall(hr, candidate_id="c-1")
    hr.post(f"/tasks/{archived['ready_tasks'][0]['id']}/complete", json={"data": ARCHIVE})
    _start_recall(hr, candidate_id="c-2")
    _start_recall(hr, candidate_id="c-3")
    ended = _start_recall(hr, candidate_id="c-4")
    hr.post(f"/tasks/{ended['ready_tasks'][0]['id']}/complete",
            json={"data": {"decline_reason": "other", "talent_pool_consent": False}})
    assert hr.get(f"/process-instances/{ended['id']}").json["end_event"] == "end_no_consent"

    waiting = owner.get("/workspace/diagrams/offer_recall/waiting").json
    assert waiting["active_instances"] == 3
    counts = {e["element_id"]: (e["tasks"], e["timers"], e["messages"]) for e in waiting["elements"]}
    assert counts == {"archive_decline": (2, 0, 0), "wait_day_30": (0, 1, 0), "cadence_reply_received": (0, 0, 1)}
    timer = next(e for e in waiting["elements"] if e["element_id"] == "wait_day_30")
    assert timer["overdue"] == 0 and _parse(timer["next_due_at"]) == datetime.fromisoformat("2026-02-04T01:00:00+00:00")
    as_user("root").post("/testing/clock", json={"advance": "P40D"})
    after = {e["element_id"]: e for e in owner.get("/workspace/diagrams/offer_recall/waiting").json["elements"]}
    assert after["follow_up_day_30"]["tasks"] == 1 and "wait_day_30" not in after
    nothing = owner.get("/workspace/diagrams/nope/waiting").json
    assert (nothing["active_instances"], nothing["elements"]) == (0, [])


def test_a_hand_off_is_counted_inside_department_handoff_and_at_its_call_activity(as_user, recall_workflows, engine):
    """The owner's counts match the inbox for called processes: the manager's task waits in
    department_handoff (its own diagram) and the case waits at the call activity in offer_recall."""
    from tests.archive.archive_helpers import complete, reply

    hr, owner, root = as_user("hr.li"), as_user("owner"), as_user("root")
    case = _start_recall(hr, candidate_id="c-h")
    hr.post(f"/tasks/{case['ready_tasks'][0]['id']}/complete", json={"data": ARCHIVE})
    reply(engine, "c-h")
    complete(engine, case["id"], "assess_reply", outcome="interested", involve_manager=True)
    complete(engine, case["id"], "request_manager_contact", manager_username="mgr", talking_points="新排班")
    [task] = as_user("mgr").get("/workspace/inbox").json["items"]
    assert task["element_id"] == "manager_contact_candidate" and task["overdue"] is False
    assert task["assignee"] == task["assignee_name"] == "mgr"          # no display name: the user name
    # the manager's inbox: the 2-day reminder with its time, due (and overdue after) the 5-day contact deadline
    created = _parse(task["created_at"])
    assert _parse(task["reminder_at"]) == created + timedelta(days=2) and task["reminder_due"] is False
    assert _parse(task["deadline_at"]) == created + timedelta(days=5) == _parse(task["effective_due_at"])

    inside = {e["element_id"]: e for e in owner.get("/workspace/diagrams/department_handoff/waiting").json["elements"]}
    assert inside["manager_contact_candidate"]["tasks"] == 1
    assert _parse(inside["manager_contact_candidate"]["next_due_at"]) == _parse(task["reminder_at"])
    assert inside["manager_reminder_due"]["timers"] == 1 and inside["manager_contact_overdue"]["timers"] == 1
    outer = owner.get("/workspace/diagrams/offer_recall/waiting").json
    at_call = next(e for e in outer["elements"] if e["element_id"] == "department_handoff")
    assert (at_call["tasks"], at_call["overdue"]) == (1, 0)
    assert owner.get("/workspace/diagrams/department_handoff/waiting").json["active_instances"] == 1

    root.post("/testing/clock", json={"advance": "P2DT1H"})       # the reminder fired; still the manager's
    [late] = as_user("mgr").get("/workspace/inbox").json["items"]
    assert late["reminder_due"] is True and late["overdue"] is False and late["reminder_at"] == task["reminder_at"]
    inside = {e["element_id"]: e for e in owner.get("/workspace/diagrams/department_handoff/waiting").json["elements"]}
    assert inside["manager_contact_candidate"]["overdue"] == int(late["overdue"])
    assert "manager_reminder_due" not in inside


def test_the_inbox_names_the_assignee_by_display_name(as_user, recall_workflows, engine):
    from engine.users import add_user

    add_user(engine.db, "li.na", "hr", ["hr"], display_name="李娜")
    hr = as_user("hr.li")
    case = _start_recall(hr, candidate_id="c-d")
    task_id = case["ready_tasks"][0]["id"]
    [open_task] = as_user("root").get("/workspace/inbox").json["items"]
    assert open_task["assignee"] is None and open_task["assignee_name"] is None
    engine.claim_task(task_id, user="li.na")
    [item] = as_user("root").get("/workspace/inbox").json["items"]
    assert (item["id"], item["assignee"], item["assignee_name"]) == (task_id, "li.na", "李娜")


def test_inbox_names_candidates_only_for_roles_that_see_contact_data(as_user, recall_workflows):
    hr = as_user("hr.li")
    who = hr.post("/candidates", json={"name": "张伟", "phone": "13800000000"})
    assert who.status_code == 201, who.json
    declined = hr.post(f"/candidates/{who.json['id']}/declines",
                       json={"reason": "team", "decline_date": "2026-01-05T09:00:00+08:00"})
    assert declined.status_code == 201, declined.json
    [task] = hr.get("/workspace/inbox").json["items"]
    assert (task["element_id"], task["candidate_id"], task["candidate_name"]) == (
        "archive_decline", who.json["id"], "张伟")
    [seen_by_owner] = as_user("owner").get("/workspace/inbox").json["items"]
    assert seen_by_owner["candidate_id"] == who.json["id"] and seen_by_owner["candidate_name"] is None


def test_the_suggestion_greets_by_name_only_when_shown_to_someone_who_may_see_it(as_user, recall_workflows, engine):
    """Rendered at display time (GET /tasks/{id}) with the archive's name for HR; a role that may not see
    names gets the nameless greeting; the greeting with the name is never stored."""
    import json

    from tests.support import database_text

    hr, root = as_user("hr.li"), as_user("root")
    who = hr.post("/candidates", json={"name": "林一", "phone": "13800000001"}).json["id"]
    started = hr.post(f"/candidates/{who}/declines", json={"reason": "team", "decline_date": "2026-01-05T09:00:00+08:00"})
    assert started.status_code == 201, started.json
    [archive] = hr.get("/workspace/inbox").json["items"]
    assert hr.post(f"/tasks/{archive['id']}/complete", json={"data": ARCHIVE}).status_code == 200
    root.post("/testing/clock", json={"advance": "P31D"})
    [follow_up] = hr.get("/workspace/inbox").json["items"]

    for_hr = hr.get(f"/tasks/{follow_up['id']}").json["data"]
    assert for_hr["suggested_message"].startswith("林一 你好,") and for_hr["message_sent"] == for_hr["suggested_message"]
    for_owner = as_user("owner").get(f"/tasks/{follow_up['id']}").json["data"]
    assert for_owner["suggested_message"].startswith("您好,") and "林一" not in str(for_owner)
    stored = database_text(engine.db)
    assert "林一 你好" not in stored and json.dumps("林一 你好")[1:-1] not in stored      # as text or JSON-escaped
    assert "林一" in stored or json.dumps("林一")[1:-1] in stored                     # (the archive keeps the name)
    assert engine.get_task(follow_up["id"]).data["suggested_message"] == for_owner["suggested_message"]


def test_vocabulary_is_the_deployed_one(as_user, recall_workflows):
    """Reasons and stages with zh/en labels come from the deployed workflows/vocabulary.json."""
    import json

    declared = json.loads((ROOT / "workflows" / "vocabulary.json").read_text())
    words = as_user("hr.li").get("/vocabulary")
    assert words.status_code == 200
    assert (words.json["process_key"], words.json["version"]) == ("offer_recall", 1)
    assert words.json["decline_reasons"] == declared["decline_reasons"]
    assert words.json["stages"] == declared["stages"]
    assert words.json["roles"]["consent_tasks"] == ["archive_decline", "renew_consent"]
    assert as_user("ats").get("/vocabulary").status_code == 200
    assert as_user("hr.li").get("/vocabulary?process_key=nope").status_code == 404


def test_vocabulary_names_processes_history_kinds_and_groups(as_user, recall_workflows):
    """Names, not ids: the BPMN process names (zh/en) of every deployed process, and labels for the
    history kinds and the groups, so no page shows a key or a code."""
    words = as_user("mgr").get("/vocabulary").json
    processes = {p["key"]: (p["zh"], p["en"]) for p in words["processes"]}
    assert processes["department_handoff"] == ("用人部门沟通", "Department hand-off")
    shipped = ("offer_recall", "department_handoff", "reoffer", "onboarding_goals")
    assert all(processes[key][0] != processes[key][1] for key in shipped)       # both languages, no key
    kinds = {k["key"]: (k["zh"], k["en"]) for k in words["history_kinds"]}
    assert kinds["decline_recorded"] == ("记录未到岗", "Decline recorded")
    assert {"instance_started", "task_completed", "timer_fired", "signal_recorded", "consent_changed"} <= set(kinds)
    groups = {g["key"]: (g["zh"], g["en"]) for g in words["groups"]}
    assert groups["hiring_manager"] == ("用人部门经理", "Hiring manager") and "hr" in groups


def test_the_inbox_counts_its_statements(as_user, recall_workflows, engine):
    """GET /workspace/inbox reads tasks, their data and cases' versions, the follow-ups' timer firings
    and the candidates' names: four statements however many tasks (no vocabulary read per request)."""
    from sqlalchemy import event

    hr, root = as_user("hr.li"), as_user("root")
    for n in range(3):
        started = _start_recall(hr, candidate_id=f"c-{n}")
        hr.post(f"/tasks/{started['ready_tasks'][0]['id']}/complete", json={"data": ARCHIVE})
    _start_recall(hr, candidate_id="c-new")
    root.post("/testing/clock", json={"advance": "P31D"})
    hr.get("/workspace/inbox")                     # the versions' specs are cached from here on
    statements = []
    listener = lambda *args: statements.append(args[2])          # noqa: E731
    event.listen(engine.db.engine, "before_cursor_execute", listener)
    try:
        items = hr.get("/workspace/inbox").json["items"]
    finally:
        event.remove(engine.db.engine, "before_cursor_execute", listener)
    assert sorted(i["stage"] or "-" for i in items) == ["-", "day_30", "day_30", "day_30"]
    # the caller's token lookup (once per RECALL_TOKEN_CACHE_SECONDS) is not the inbox's
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "api_tokens" not in s]
    assert len(reads) <= 4, reads
