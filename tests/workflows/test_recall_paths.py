"""Every path of the recall lifecycle up to the re-offer, driven like HR drives it.

Each test reads as a story: the ATS records a decline, HR archives it, the clock
moves, HR works the reminders the engine raises, the candidate answers through the
WeCom bot. Each one asserts the end event the case reached and its audit trail.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.errors import NotAssignee

from .lifecycle import ATS, BOT, CST, HR, HR_2, HRBP, MANAGER, REASON_MARKERS, Case, cadence

CADENCE = cadence()                 # the bundle's stages, due days and templates (lifecycle.py)
FIRST = CADENCE.dated[0]            # the day-30 greeting as shipped
FIRST_DAY = CADENCE.day(FIRST)


def greet(case, *, late: float = 1):
    """`late` days after the first follow-up is due, HR sends it."""
    case.on_day(FIRST_DAY + late)
    return case.follow_up(FIRST.task, CADENCE.template(case.reason, FIRST))


def test_no_consent_ends_the_case_right_after_the_archive(new_case):
    case = new_case(reason="commute")
    assert case.ready() == ["archive_decline"]
    task = case.task("archive_decline")
    assert task.candidate_groups == ["hr"] and task.title == "记录未到岗原因 / Archive decline"
    assert task.data["decline_reason"] == "commute"        # the ATS's reason is prefilled
    case.archive(consent=False)

    case.assert_ended("end_no_consent")
    assert case.completions() == [("archive_decline", HR)]
    assert [h.kind for h in case.history() if h.kind != "element_completed"] == [
        "instance_started", "task_completed", "instance_completed"]
    assert case.history("instance_started")[0].actor == ATS
    assert case.timers_fired() == [] and case.messages_delivered() == []


def test_no_response_after_the_last_follow_up_times_are_measured_from_the_decline(new_case):
    case = new_case(reason="salary")
    case.archive()
    stages = CADENCE.dated
    assert case.timers() == {FIRST.timer: case.day(FIRST_DAY)}
    assert case.messages() == ["candidate_replied"]

    case.on_day(FIRST_DAY - 1, hours=23)
    assert case.ready() == []                               # not yet
    for i, stage in enumerate(stages):
        late = 10 if i == 0 else 5 if stage is stages[-1] else 1   # HR gets to the first one ten days late
        case.on_day(CADENCE.day(stage) + late)
        task = case.follow_up(stage.task, CADENCE.template("salary", stage), skip=i == 1)
        if i + 1 < len(stages):                             # still counted from the decline, not from HR's day
            assert case.timers() == {stages[i + 1].timer: case.day(CADENCE.day(stages[i + 1]))}
    last_day = CADENCE.day(stages[-1]) + 5
    if task.data["suggestion_template_id"] == "day_180_salary":
        assert "薪资范围" in task.data["suggested_message"]
    assert case.timers() == {"wait_reply_after_day_180": case.day(last_day) + timedelta(days=30)}
    case.on_day(last_day + 29)
    assert case.view.status == "waiting"
    case.on_day(last_day + 31)

    case.assert_ended("end_no_response")
    assert case.completions() == [("archive_decline", HR), *((s.task, HR) for s in stages)]
    assert case.timers_fired() == [*(s.timer for s in stages), "wait_reply_after_day_180"]
    skipped = case.history("task_completed")[2]
    assert skipped.details["data"]["outcome"] == "skipped" and skipped.details["data"]["skip_reason"]
    sent = case.history("task_completed")[1].details["data"]
    assert sent["channel"] == "wecom" and sent["message_sent"].startswith("小张,您好")


def test_not_interested_reply_stops_the_cadence(new_case):
    case = new_case(reason="team")
    case.archive()
    case.on_day(10)
    task = case.reply("谢谢,暂时不考虑了")
    assert task.candidate_groups == ["hr"] and task.data["outcome"] is None
    assert case.timers() == {}, "the reply cancels the cadence timers"
    case.complete("assess_reply", outcome="not_interested", notes="已在新公司稳定")

    case.assert_ended("end_not_interested")
    assert case.completions() == [("archive_decline", HR), ("assess_reply", HR)]
    assert case.messages_delivered() == [("candidate_replied", BOT)]
    assert case.timers_fired() == []


def test_a_reply_takes_away_the_open_follow_up_task(new_case):
    case = new_case(reason="career_path")
    case.archive()
    case.on_day(FIRST_DAY + 5)
    assert case.ready() == [FIRST.task]
    open_task = case.task(FIRST.task)
    case.reply("最近在看新机会")
    assert case.ready() == ["assess_reply"]
    assert case.engine.get_task(open_task.id).status == "cancelled"
    case.complete("assess_reply", outcome="not_interested")

    case.assert_ended("end_not_interested")
    assert case.completions() == [("archive_decline", HR), ("assess_reply", HR)]


def test_not_now_snoozes_then_the_candidate_replies(new_case):
    case = new_case(reason="family")
    case.archive(needs=["每周能远程一天"])
    greet(case)
    d = FIRST_DAY + 3
    case.on_day(d)
    case.reply("家里还有事,过两周再说吧")
    case.complete("assess_reply", outcome="not_now", snooze_for="P2W")
    snooze = CADENCE.vocabulary.stage_of_task("follow_up_snooze")
    assert case.timers() == {snooze.timer: case.day(d) + timedelta(days=14)}
    assert case.messages() == ["candidate_replied"]

    case.on_day(d + 14, hours=1)
    task = case.follow_up(snooze.task, CADENCE.template("family", snooze))
    if task.data["suggestion_template_id"] == "snooze_family":
        assert "远程办公" in task.data["suggested_message"] and "每周能远程一天" in task.data["suggested_message"]
    assert case.timers() == {"wait_reply_after_snooze": case.day(d + 14, hours=1) + timedelta(days=30)}
    case.on_day(d + 17)
    case.reply("家里好多了,可以聊聊")
    case.complete("assess_reply", outcome="not_interested", notes="已决定留在老家")

    case.assert_ended("end_not_interested")
    assert case.completions() == [("archive_decline", HR), (FIRST.task, HR), ("assess_reply", HR),
                                  (snooze.task, HR), ("assess_reply", HR)]
    assert case.timers_fired() == [FIRST.timer, snooze.timer]
    assert case.messages_delivered() == [("candidate_replied", BOT), ("candidate_replied", BOT)]


@pytest.mark.parametrize(("choice", "until", "due"), [
    ("P2W", None, lambda day: day + timedelta(weeks=2)),
    ("P1M", None, lambda day: day.replace(month=day.month + 1)),
    ("P3M", None, lambda day: day.replace(month=day.month + 3)),
    ("P6M", None, lambda day: day.replace(month=day.month + 6)),
    ("until", "2026-05-20", lambda day: day.replace(month=5, day=20)),
])
def test_each_snooze_choice_is_due_when_it_says(new_case, choice, until, due):
    """HR picks 2 weeks, 1 / 3 / 6 months or a date (no ISO duration to type); a date is due that day at
    the time of day the cadence's follow-ups are (the decline's), and the follow-up after snooze comes then."""
    case = new_case(reason="family")
    case.archive()
    greet(case)
    d = FIRST_DAY + 3
    case.on_day(d)
    case.reply("过段时间再说")
    answer = {"snooze_for": choice, **({"snooze_until": until} if until else {})}
    case.complete("assess_reply", outcome="not_now", **answer)
    [(timer, at)] = case.timers().items()
    local = case.day(d).astimezone(CST)
    assert at == due(local) and timer == ("wait_snooze_until" if until else "wait_snooze")
    case.clock.set(at - timedelta(minutes=1))
    case.engine.run_until_idle()
    assert case.ready() == []
    case.clock.set(at)
    case.engine.run_until_idle()
    assert case.ready() == ["follow_up_snooze"]


def test_a_snooze_needs_a_choice_and_a_date_for_until(new_case):
    case = new_case(reason="family")
    case.archive()
    greet(case)
    case.reply()
    task = case.task("assess_reply")
    for bad in ({"outcome": "not_now"}, {"outcome": "not_now", "snooze_for": "until"},
                {"outcome": "not_now", "snooze_for": "P30D"}):
        with pytest.raises(Exception) as refused:
            case.engine.complete_task(task.id, bad, actor=HR)
        assert "snooze" in str(refused.value)


def test_manager_hand_off_with_the_two_day_reminder(new_case):
    case = new_case(reason="team")
    case.archive()
    greet(case, late=3)
    case.reply()
    case.complete("assess_reply", outcome="interested", involve_manager=True, notes="HR: 担心加班")
    request = case.task("request_manager_contact")
    assert request.candidate_groups == ["hr"] and request.assignee is None
    case.complete("request_manager_contact", manager_username=MANAGER, talking_points="团队新增两名资深导师")

    task = case.task("manager_contact_candidate")
    assert task.assignee == MANAGER and task.candidate_groups == ["hiring_manager"]
    assert task.lane == "Hiring Manager"
    assert task.data["needs"] == ["弹性工作", "重视团队氛围"]           # the manager sees the archive
    assert task.data["talking_points"] == "团队新增两名资深导师"
    assert "notes" not in task.data                # the manager's call notes start empty, not with HR's assessment
    assert task.due_at == case.day(FIRST_DAY + 3) + timedelta(days=2)
    assert case.engine.list_tasks(user=MANAGER, groups=["hiring_manager"])[0].id == task.id
    assert case.engine.list_tasks(user=HR, groups=["hr"]) == []               # not in HR's inbox
    with pytest.raises(NotAssignee):
        case.engine.complete_task(task.id, {"contact_outcome": "ready_for_offer"}, actor=HR,
                                  enforce_assignee=True)
    assert set(case.timers()) == {"manager_reminder_due", "manager_contact_overdue"}

    case.wait(days=2, hours=1)                               # the reminder fires, the task stays with the manager
    assert case.ready() == ["manager_contact_candidate"]
    assert case.timers() == {"manager_contact_overdue": case.day(FIRST_DAY + 3) + timedelta(days=5)}
    assert "remind_manager" in case.engine_steps()
    case.complete("manager_contact_candidate", by=MANAGER, contact_outcome="ready_for_offer", notes="愿意再谈")

    case.reoffer()                                           # +5 %, 7 days: HR sends it directly
    case.wait(days=1)
    case.send("offer_response", decision="declined")
    case.assert_ended("end_declined_again")
    assert case.completions() == [
        ("archive_decline", HR), (FIRST.task, HR), ("assess_reply", HR),
        ("request_manager_contact", HR), ("manager_contact_candidate", MANAGER),
        ("prepare_reoffer", HR), ("send_reoffer", HR)]
    assert case.timers_fired() == [FIRST.timer, "manager_reminder_due"]
    assert case.messages_delivered() == [("candidate_replied", BOT), ("offer_response", BOT)]


def test_manager_hand_off_overdue_after_five_days_goes_back_to_hr(new_case):
    case = new_case(reason="role_clarity")
    case.archive()
    greet(case, late=5)
    case.reply()
    case.complete("assess_reply", outcome="interested", involve_manager=True, notes="HR 的评估")
    case.complete("request_manager_contact", manager_username="zhao.min", talking_points="岗位说明已更新")
    manager_task = case.task("manager_contact_candidate")
    assert manager_task.assignee == "zhao.min"

    case.wait(days=5, hours=1)                              # the manager never gets to it
    assert case.engine.get_task(manager_task.id).status == "cancelled"
    task = case.task("take_back_contact")
    assert task.candidate_groups == ["hr"] and task.assignee is None
    assert "notes" not in task.data                # another HR's call notes do not start with the assessment
    case.complete("take_back_contact", by=HR_2, contact_outcome="not_interested", notes="候选人已接受其他 offer")

    case.assert_ended("end_not_interested")
    assert case.completions() == [
        ("archive_decline", HR), (FIRST.task, HR), ("assess_reply", HR),
        ("request_manager_contact", HR), ("take_back_contact", HR_2)]
    assert case.timers_fired() == [FIRST.timer, "manager_reminder_due", "manager_contact_overdue"]


def test_reoffer_needing_approval_rejected_then_approved_accepted_and_left_after_probation(new_case):
    case = new_case(reason="salary")
    case.archive()
    case.on_day(FIRST_DAY + 1)
    case.reply()
    case.complete("assess_reply", outcome="interested", involve_manager=False)

    case.reoffer(salary=11500, original=10000, approve=False)     # +15 %: HRBP rejects
    task = case.task("prepare_reoffer")
    assert task.data["approval_reason"].startswith("涨幅超过原 offer 10%")
    case.reoffer(salary=10800, original=10000, days_valid=20, approve=True)   # valid 20 days: approved
    assert case.timers() == {"offer_expired": case.day(FIRST_DAY + 1) + timedelta(days=20)}
    case.wait(days=3)
    case.accept_and_start(decision="Accepted ")             # normalised by the diagram
    case.check_ins(3)
    case.complete("probation_review", outcome="left", notes="试用期结束后决定回老家发展")

    case.assert_ended("end_left")
    assert case.completions() == [
        ("archive_decline", HR), ("assess_reply", HR),
        ("prepare_reoffer", HR), ("approve_reoffer", HRBP),
        ("prepare_reoffer", HR), ("approve_reoffer", HRBP), ("send_reoffer", HR),
        ("agree_goals", HR), ("monthly_check_in", HR), ("monthly_check_in", HR), ("monthly_check_in", HR),
        ("probation_review", HR)]
    decisions = [h.details["data"]["approved"] for h in case.history("task_completed")
                 if h.element_id == "approve_reoffer"]
    assert decisions == [False, True]


def test_reoffer_declined(new_case):
    case = new_case(reason="counter_offer")
    case.archive()
    case.on_day(FIRST_DAY + 1)
    case.reply()
    case.complete("assess_reply", outcome="interested", involve_manager=False)
    case.reoffer()
    case.send("offer_response", decision="declined", note="原公司又加薪了")

    case.assert_ended("end_declined_again")
    assert case.completions() == [("archive_decline", HR), ("assess_reply", HR),
                                  ("prepare_reoffer", HR), ("send_reoffer", HR)]
    assert case.messages_delivered() == [("candidate_replied", BOT), ("offer_response", BOT)]
    assert case.timers_fired() == [FIRST.timer]       # the day-30 reminder was raised; the reply took it away


def test_offer_expires_without_an_answer(new_case):
    case = new_case(reason="location")
    case.archive()
    case.on_day(FIRST_DAY + 1)
    case.reply()
    case.complete("assess_reply", outcome="interested", involve_manager=False)
    case.reoffer(days_valid=3)
    assert case.timers() == {"offer_expired": case.day(FIRST_DAY + 1) + timedelta(days=3)}
    case.wait(days=2)
    assert case.view.status == "waiting" and case.messages() == ["offer_response"]
    case.wait(days=2)

    case.assert_ended("end_declined_again")
    assert case.timers_fired() == [FIRST.timer, "offer_expired"]
    assert "record_offer_expired" in case.engine_steps()


def test_follow_up_suggestions_match_each_decline_reason_and_language(recall):
    """One case per reason of the bundle (Chinese and English alternating), all on one clock, through the
    cadence's last dated follow-up; a reason's own template (`<stage>_<reason>`) speaks to it."""
    cases = [Case(recall, candidate_id=f"cand-{reason}", reason=reason, lang="zh" if i % 2 == 0 else "en")
             for i, reason in enumerate(CADENCE.vocabulary.reason_keys)]
    for case in cases:
        case.archive()
    for stage in CADENCE.dated:
        day, element_id = CADENCE.day(stage) + 1, stage.task
        cases[0].on_day(day)
        for case in cases:
            template_id = CADENCE.template(case.reason, stage)
            task = case.follow_up(element_id, template_id)
            text = task.data["suggested_message"]
            if template_id.endswith(f"_{case.reason}") and case.reason in REASON_MARKERS:
                zh, en = REASON_MARKERS[case.reason]
                assert (zh if case.lang == "zh" else en) in text, (case.reason, stage, text)
            assert ("您好" in text) == (case.lang == "zh"), text
            assert "【" not in text or case.lang == "zh"
    for case in cases:
        assert case.view.status == "waiting"
        assert case.completions()[-1] == (CADENCE.dated[-1].task, HR)


def test_a_reply_that_arrives_before_the_archive_is_buffered_then_delivered(new_case):
    case = new_case(reason="salary")
    early = case.engine.deliver_message("candidate_replied", {"candidate_id": case.candidate_id},
                                        {"text": "其实我还想再聊聊"}, actor=BOT)
    assert early.delivered_to == [] and early.buffered_id is not None
    assert case.ready() == ["archive_decline"]       # nobody listens yet: the reply waits in the buffer
    case.archive()                                   # the cadence starts listening and takes the buffered reply
    assert case.ready() == ["assess_reply"] and case.timers() == {}
    assert case.task("assess_reply").data["reply"]["text"] == "其实我还想再聊聊"
    case.complete("assess_reply", outcome="not_interested")

    case.assert_ended("end_not_interested")
    assert case.completions() == [("archive_decline", HR), ("assess_reply", HR)]
    delivered = case.history("message_delivered")
    assert [(h.actor, h.element_id, h.details["buffered_id"]) for h in delivered] == [
        (BOT, "cadence_reply_received", early.buffered_id)]


def test_the_audit_trail_lists_the_archive_before_the_buffered_reply_it_unlocked(new_case):
    case = new_case(reason="salary")
    case.engine.deliver_message("candidate_replied", {"candidate_id": case.candidate_id}, {"text": "在吗"},
                                actor=BOT)
    case.archive()
    kinds = [(h.kind, h.element_id) for h in case.history() if h.kind in ("task_completed", "message_delivered")]
    assert kinds == [("task_completed", "archive_decline"), ("message_delivered", "cadence_reply_received")]
