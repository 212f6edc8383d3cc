"""From "interested" to the end of probation: re-offer, goals, check-ins, feedback, leaving."""
from __future__ import annotations

from datetime import timedelta

from .lifecycle import BOT, HR, HRBP, HRIS, cadence

CADENCE = cadence()                          # the bundle's stages, due days and templates (lifecycle.py)
FIRST, SECOND = CADENCE.dated[:2]            # the day-30 greeting and the day-90 follow-up as shipped


def interested(case, *, late=1):
    case.archive()
    case.on_day(CADENCE.day(FIRST) + late)
    case.follow_up(FIRST.task, CADENCE.template(case.reason, FIRST))
    case.reply()
    case.complete("assess_reply", outcome="interested", involve_manager=False)


def test_interested_without_manager_reoffer_accepted_goals_three_check_ins_retained(new_case):
    case = new_case(reason="career_path")
    case.archive()
    case.on_day(CADENCE.day(FIRST), hours=2)
    case.follow_up(FIRST.task, CADENCE.template("career_path", FIRST))
    case.on_day(CADENCE.day(SECOND), hours=2)
    task = case.follow_up(SECOND.task, CADENCE.template("career_path", SECOND))
    if task.data["suggestion_template_id"] == "day_90_career_path":
        assert "还记得您问过「这个岗位的晋升路径是什么?」吗?" in task.data["suggested_message"]
        assert "【缺少岗位信息:晋升比例 — 请在「岗位档案」中补充】" in task.data["suggested_message"]
    case.on_day(CADENCE.day(SECOND) + 5)
    case.reply("晋升数据挺有说服力,想再聊聊")
    case.complete("assess_reply", outcome="interested", involve_manager=False)
    assert case.ready() == ["prepare_reoffer"]
    case.reoffer(start_date="2026-05-06")
    case.accept_and_start(start_date="2026-05-06")

    assert case.timers()["wait_month"] == case.engine.clock.now() + timedelta(days=30)   # from the start-date firing
    for month in (1, 2, 3):
        case.wait(days=30, hours=1)
        task = case.check_in(month)
        assert [p["goal_title"] for p in task.data["progress"]] == ["目标 1", "目标 2"]
    task = case.task("probation_review")
    assert task.data["check_in_count"] == 3 and [c["month"] for c in task.data["check_ins"]] == [1, 2, 3]
    case.complete("probation_review", outcome="retained", notes="三个月目标全部完成")

    case.assert_ended("end_retained")
    assert case.completions() == [
        ("archive_decline", HR), (FIRST.task, HR), (SECOND.task, HR), ("assess_reply", HR),
        ("prepare_reoffer", HR), ("send_reoffer", HR), ("agree_goals", HR),
        ("monthly_check_in", HR), ("monthly_check_in", HR), ("monthly_check_in", HR), ("probation_review", HR)]
    assert case.timers_fired() == [FIRST.timer, SECOND.timer, "wait_start_date",
                                   "wait_month", "wait_month", "wait_month"]
    assert case.messages_delivered() == [("candidate_replied", BOT), ("offer_response", BOT)]
    assert {"call_activity": [h.element_id for h in case.history("element_completed")
                              if h.details.get("type") == "CallActivity"]} == {
        "call_activity": ["reoffer", "onboarding_goals"]}


def test_new_hire_feedback_answered_within_24_hours(new_case):
    case = new_case(reason="team")
    interested(case)
    case.reoffer()
    case.accept_and_start()

    case.send("new_hire_feedback", text="促销活动方案难度太大,需要更多指导")
    task = case.task("respond_feedback")
    assert task.candidate_groups == ["hr"]
    assert task.data["feedback_message"]["text"] == "促销活动方案难度太大,需要更多指导"
    assert task.due_at == case.engine.clock.now() + timedelta(hours=24)
    assert "feedback_overdue" in case.timers()
    case.wait(hours=20)
    case.complete("respond_feedback", response="明天下午 2 点一起讨论方案,我会请资深同事参加")
    assert "escalate_feedback" not in case.ready() and "feedback_overdue" not in case.timers()
    assert "new_hire_feedback" in case.messages(), "the new hire can write again"

    case.check_ins(3)
    case.complete("probation_review", outcome="retained", notes="适应良好")
    case.assert_ended("end_retained")
    assert ("respond_feedback", HR) in case.completions()
    assert "escalate_feedback" not in [e for e, _ in case.completions()]
    assert "feedback_overdue" not in case.timers_fired()
    assert case.messages_delivered() == [("candidate_replied", BOT), ("offer_response", BOT),
                                         ("new_hire_feedback", BOT)]


def test_new_hire_feedback_escalated_to_hrbp_after_24_hours(new_case):
    case = new_case(reason="role_clarity")
    interested(case)
    case.reoffer()
    case.accept_and_start()
    case.check_ins(1)

    case.send("new_hire_feedback", text="工作内容和预期不太一样")
    feedback = case.task("respond_feedback")
    case.wait(hours=25)                                      # nobody in HR answered
    assert case.engine.get_task(feedback.id).status == "cancelled"
    task = case.task("escalate_feedback")
    assert task.candidate_groups == ["hrbp"] and task.data["feedback_message"]["text"] == "工作内容和预期不太一样"
    case.complete("escalate_feedback", by=HRBP, response="已安排导师每周一对一,并调整第二个月目标")
    assert "new_hire_feedback" in case.messages()

    case.wait(days=29)
    case.check_in(2)
    case.wait(days=30, hours=1)
    case.check_in(3)
    case.complete("probation_review", outcome="retained")
    case.assert_ended("end_retained")
    assert ("escalate_feedback", HRBP) in case.completions()
    assert "respond_feedback" not in [e for e, _ in case.completions()]
    assert "feedback_overdue" in case.timers_fired()


def test_employee_left_during_onboarding(new_case):
    case = new_case(reason="family")
    case.rehired_through_the_manager()
    case.check_ins(1)
    case.send("new_hire_feedback", text="家里又有情况了")
    assert case.ready() == ["manager_check_in", "respond_feedback"]   # the hand-off's manager checks in too

    case.send("employee_left", by=HRIS, reason="家庭原因离职")
    case.assert_ended("end_left_early")
    assert case.ready() == []
    assert case.messages_delivered()[-1] == ("employee_left", HRIS)
    assert case.completions()[-1] == ("monthly_check_in", HR)
    assert "record_left_early" in case.engine_steps()
