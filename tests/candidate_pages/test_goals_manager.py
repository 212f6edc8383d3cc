"""The hiring manager's own monthly check-in (issue 18: "HR and the manager update progress"), on real
onboarding cases, SQLite and PostgreSQL: the manager named at the department hand-off (or at a direct
start) gets `manager_check_in` beside HR's `monthly_check_in`; it never holds up HR's (it lapses after
21 days); the goals page shows both, by display name, with the latest progress from either; a manager may
not complete HR's task nor HR the manager's (403 over the API); without a manager nothing changes."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.candidate_pages import goals as goals_page
from engine.errors import RecallError
from tests.support import HAND_OFF_MANAGERS, HR, MANAGER, OTHER_MANAGER, PEOPLE
from tests.workflows.lifecycle import FORMS, WORKFLOWS, Case
from tests.workflows.test_onboarding_paths import interested


@pytest.fixture
def recall(engine):
    from engine import users
    engine.deploy([WORKFLOWS], forms_dir=FORMS, actor="process.owner")
    for name in HAND_OFF_MANAGERS:
        users.add_user(engine.db, name, PEOPLE[name][0], display_name="王立" if name == MANAGER else None)
    users.add_user(engine.db, HR, "hr", ["hr"], display_name="李敏")
    return engine


def handed_to_manager(engine, candidate_id="cand-m01") -> Case:
    """A case whose candidate was contacted by MANAGER (the department hand-off), re-offered, accepted, started."""
    case = Case(engine, candidate_id=candidate_id, reason="team")
    case.rehired_through_the_manager()
    return case


def view(engine, case):
    with engine.db.read_transaction() as s:
        return goals_page.goals_view(s, case.id)


def manager_answer(task, *statuses, feedback="王经理:第一个月节奏不错"):
    progress = [dict(item, status=status, note=note, **({"percent": pct} if pct is not None else {}))
                for item, (status, pct, note) in zip(task.data["manager_progress"], statuses)]
    return {"manager_progress": progress, "manager_feedback": feedback}


def test_the_manager_checks_in_beside_hr_and_the_page_shows_both(recall):
    case = handed_to_manager(recall)
    case.wait(days=30, hours=1)
    assert case.ready() == ["manager_check_in", "monthly_check_in"]
    mine = case.task("manager_check_in")
    assert (mine.assignee, mine.candidate_groups, mine.lane) == (MANAGER, ["hiring_manager"], "Hiring Manager")
    assert [p["goal_title"] for p in mine.data["manager_progress"]] == ["目标 1", "目标 2"]
    assert mine.due_at == recall.clock.now() + timedelta(days=21)          # then it lapses
    assert case.engine.list_tasks(user=HR, groups=["hr"])[0].element_id == "monthly_check_in"   # not HR's inbox

    case.check_in(1)                                           # HR first: the manager's task stays open
    assert case.ready() == ["manager_check_in"]
    case.wait(hours=3)
    case.complete("manager_check_in", by=MANAGER, **manager_answer(
        mine, ("at_risk", 40, "客户拜访偏少"), ("on_track", None, "")))
    assert case.ready() == []

    shown = view(recall, case)
    assert [(c.role, c.month, c.by, c.feedback) for c in shown.check_ins] == [
        ("hr", 1, "李敏", "第 1 个月表现不错"), ("manager", 1, "王立", "王经理:第一个月节奏不错")]
    first, second = shown.goals
    assert (first.latest.status, first.latest.percent, first.latest.note, first.latest.by, first.latest.role) == (
        "at_risk", 40, "客户拜访偏少", "王立", "manager")               # the newest entry wins, whoever made it
    assert (second.latest.status, second.latest.role) == ("on_track", "manager")

    case.wait(days=30)                                          # month 2: HR's check-in only, the manager's lapses
    case.check_in(2)
    assert case.ready() == ["manager_check_in"]
    case.wait(days=21, hours=1)
    assert case.ready() == [] and "manager_check_in_overdue" in case.timers_fired()
    shown = view(recall, case)
    assert shown.goals[0].latest.role == "hr" and shown.goals[0].latest.month == 2
    assert [(c.role, c.month) for c in shown.check_ins] == [("hr", 1), ("manager", 1), ("hr", 2)]

    case.wait(days=9)                                           # month 3: the manager's task comes back
    assert case.ready() == ["manager_check_in", "monthly_check_in"]
    case.check_in(3)
    assert case.ready() == ["manager_check_in", "probation_review"]   # HR's loop goes on; the manager's stays open
    case.complete("probation_review", outcome="retained", notes="三个月目标完成")
    case.assert_ended("end_retained")
    assert case.ready() == []                                   # the case's end closes the manager's task too


def test_a_manager_may_not_act_on_hrs_task_nor_hr_on_the_managers(recall):
    from engine.errors import NotAssignee
    case = handed_to_manager(recall, "cand-m02")
    case.wait(days=30, hours=1)
    mine, hrs = case.task("manager_check_in"), case.task("monthly_check_in")
    assert (hrs.assignee, hrs.candidate_groups) == (None, ["hr"])
    with pytest.raises(NotAssignee):
        recall.complete_task(mine.id, manager_answer(mine, ("done", 100, ""), ("done", 100, "")), actor=HR,
                             enforce_assignee=True)
    assert [t.element_id for t in recall.list_tasks(user=MANAGER, groups=["hiring_manager"])] == ["manager_check_in"]
    assert case.ready() == ["manager_check_in", "monthly_check_in"]


@pytest.mark.parametrize("answer, field", [
    ({"manager_progress": [], "manager_feedback": "ok"}, "manager_progress"),
    ({"manager_progress": [{"goal_title": "目标 1", "status": "great"}], "manager_feedback": "ok"}, "status"),
    ({"manager_progress": [{"goal_title": "目标 1", "status": "done", "percent": 101}], "manager_feedback": "ok"},
     "percent"),
    ({"manager_feedback": "ok"}, "manager_progress")])
def test_a_bad_manager_answer_is_refused_naming_the_field(recall, answer, field):
    case = handed_to_manager(recall, "cand-m03")
    case.wait(days=30, hours=1)
    task = case.task("manager_check_in")
    with pytest.raises(RecallError) as refused:
        recall.complete_task(task.id, answer, actor=MANAGER)
    assert field in str(refused.value)
    assert case.ready() == ["manager_check_in", "monthly_check_in"]


def test_without_a_manager_only_hr_checks_in(recall):
    case = Case(recall, candidate_id="cand-m04", reason="team")
    interested(case)
    case.reoffer()
    case.accept_and_start()
    case.wait(days=30, hours=1)
    assert case.ready() == ["monthly_check_in"]
    case.check_in(1)
    assert case.ready() == [] and [c.role for c in view(recall, case).check_ins] == ["hr"]


def test_a_direct_start_may_name_the_manager_and_an_unknown_one_is_refused(recall):
    from datetime import datetime
    with pytest.raises(RecallError) as refused:
        recall.start_instance("onboarding_goals", business_key="cand-m05", actor=HR, variables={
            "candidate_id": "cand-m05", "start_date": "2026-02-01", "manager_username": "nobody.here"})
    assert "manager_username" in str(refused.value)

    view = recall.start_instance("onboarding_goals", business_key="cand-m06", actor=HR, variables={
        "candidate_id": "cand-m06", "start_date": "2026-02-01", "manager_username": MANAGER})
    [agree] = recall.list_tasks(instance_id=view.id)
    assert (agree.element_id, agree.candidate_groups) == ("agree_goals", ["hr"]), recall.list_tasks(instance_id=view.id)
    recall.complete_task(agree.id, {"goals": [{"title": "目标 1", "measure": "门店数", "target": "2", "due_day": 30}]},
                         actor=HR)
    started = datetime.fromisoformat("2026-02-01T09:30:00+08:00")
    for moment in (started, started + timedelta(days=30, hours=1)):            # the start date, a month later
        recall.clock.set(moment)
        recall.run_until_idle()
    [mine] = recall.list_tasks(instance_id=view.id, element_id="manager_check_in")
    assert (mine.element_id, mine.assignee) == ("manager_check_in", MANAGER)
    assert OTHER_MANAGER not in [t.assignee for t in recall.list_tasks(user=OTHER_MANAGER, groups=["hiring_manager"])]


def test_over_http_each_side_is_refused_the_others_task_and_the_page_shows_the_managers_entry(api):
    import re

    from engine.archive import TalentArchive
    from engine.candidate_pages.service import CandidateLinks
    _, engine, caller = api
    person = TalentArchive(engine).create_candidate({"name": "周新", "role_applied": "门店运营"}, actor=HR)
    case = handed_to_manager(engine, person.id)
    case.wait(days=30, hours=1)
    mine, hrs = case.task("manager_check_in"), case.task("monthly_check_in")
    refused = caller(MANAGER).post(f"/tasks/{hrs.id}/complete", json={"data": {
        "progress": hrs.data["progress"], "feedback": "经理不能代填"}})
    assert refused.status_code == 404, refused.json          # a manager does not even see HR's queue (not 403)
    refused = caller(HR).post(f"/tasks/{mine.id}/complete", json={"data": manager_answer(mine, ("done", 100, ""),
                                                                                          ("done", 100, ""))})
    assert refused.status_code == 404, refused.json          # nor HR a task assigned to the manager
    refused = caller(OTHER_MANAGER).post(f"/tasks/{mine.id}/complete", json={"data": manager_answer(
        mine, ("done", 100, ""), ("done", 100, ""))})
    assert refused.status_code in (403, 404), refused.json
    assert case.ready() == ["manager_check_in", "monthly_check_in"]

    done = caller(MANAGER).post(f"/tasks/{mine.id}/complete", json={"data": manager_answer(
        mine, ("at_risk", 35, "还差两家门店"), ("on_track", None, ""))})
    assert done.status_code == 200, done.json
    assert case.ready() == ["monthly_check_in"]
    issued = CandidateLinks(engine).issue(person.id, kind="goals", actor=HR, instance_id=case.id)
    html = app_page(api, issued.token)
    assert "还差两家门店" in html and "35%" in html and "经理" in html and "王经理:第一个月节奏不错" in html
    assert re.search(r'class="card check-in manager"', html)


def app_page(api, token) -> str:
    app, _, _ = api
    response = app.test_client().get(f"/p/{token}", headers={"Accept": "text/html"})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_hr_may_name_the_manager_when_agreeing_the_goals(recall):
    from datetime import datetime
    case = Case(recall, candidate_id="cand-m07", reason="team")
    interested(case)                                            # no department hand-off: no manager yet
    case.reoffer()
    case.send("offer_response", decision="accepted")
    goals = [{"title": "目标 1", "measure": "门店数", "target": "2", "due_day": 30}]
    with pytest.raises(RecallError) as refused:                 # a name the directory has as HR, not a manager
        recall.complete_task(case.task("agree_goals").id, {"goals": goals, "manager_username": HR}, actor=HR)
    assert "manager_username" in str(refused.value)
    case.complete("agree_goals", goals=goals, manager_username=MANAGER)
    recall.clock.set(datetime.fromisoformat("2026-04-01T09:30:00+08:00"))
    recall.run_until_idle()
    case.wait(days=30, hours=1)
    assert case.ready() == ["manager_check_in", "monthly_check_in"]
    assert case.task("manager_check_in").assignee == MANAGER
