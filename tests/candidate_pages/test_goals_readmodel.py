"""The goals page's read model (engine/candidate_pages/goals.py) against real onboarding cases.

Each case is driven through the product as HR does it (tests/workflows/lifecycle.py): decline,
follow-up, reply, re-offer accepted, `agree_goals`, the start date, check-ins, feedback answered."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.candidate_pages import goals as goals_page
from engine.messages import MessageIdReused
from tests.support import HAND_OFF_MANAGERS, PEOPLE
from tests.workflows.lifecycle import FORMS, HR, HRBP, WORKFLOWS, Case
from tests.workflows.test_onboarding_paths import interested


@pytest.fixture
def recall(engine):
    from engine import users

    engine.deploy([WORKFLOWS], forms_dir=FORMS, actor="process.owner")
    for name in HAND_OFF_MANAGERS:
        users.add_user(engine.db, name, PEOPLE[name][0])
    users.add_user(engine.db, HR, "hr", ["hr"], display_name="李敏")
    return engine


def onboarding(recall, candidate_id="cand-g01") -> Case:
    case = Case(recall, candidate_id=candidate_id, reason="team")
    interested(case)
    case.reoffer()
    case.accept_and_start()
    return case


def view(recall, case):
    with recall.db.read_transaction() as s:
        return goals_page.goals_view(s, case.id)


def test_goals_with_latest_progress_and_monthly_feedback(recall):
    case = onboarding(recall)
    first = view(recall, case)
    assert first.open and first.goals_agreed_at is not None and first.check_ins == () and first.feedback == ()
    assert [(g.title, g.measure, g.target, g.due_day, g.latest) for g in first.goals] == [
        ("目标 1", "完成的项目数", "2", 30, None), ("目标 2", "完成的项目数", "3", 60, None)]

    case.wait(days=30, hours=1)
    task = case.task("monthly_check_in")
    progress = [dict(task.data["progress"][0], status="done", percent=100, note="已完成门店流程考核"),
                dict(task.data["progress"][1], status="at_risk", percent=40, note="客户拜访偏少")]
    case.complete("monthly_check_in", progress=progress, feedback="第一个月上手很快,拜访量需要加强")
    case.wait(days=30, hours=1)
    task = case.task("monthly_check_in")          # an old-style answer: no percent (running cases' forms)
    case.complete("monthly_check_in", progress=[dict(task.data["progress"][0], status="done"),
                                                dict(task.data["progress"][1], status="on_track", note="拜访量已追上")],
                  feedback="第二个月进步明显")

    shown = view(recall, case)
    assert [(c.month, c.by, c.feedback) for c in shown.check_ins] == [
        (1, "李敏", "第一个月上手很快,拜访量需要加强"), (2, "李敏", "第二个月进步明显")]
    assert shown.check_ins[1].at - shown.check_ins[0].at >= timedelta(days=30)
    assert [(g.title, g.latest) for g in shown.goals] == [
        ("目标 1", goals_page.Progress(2, "done", None, "")),
        ("目标 2", goals_page.Progress(2, "on_track", None, "拜访量已追上"))]


def test_feedback_waiting_then_answered_with_the_promised_time(recall):
    case = onboarding(recall, "cand-g02")
    sent_at = recall.clock.now()
    goals_page.send_feedback(recall, candidate_id=case.candidate_id, instance_id=case.id, link_id="L1",
                             nonce="n" * 20, text="系统权限还没开通")
    task = case.task("respond_feedback")
    assert task.due_at == sent_at + timedelta(hours=24)
    assert task.data["feedback_message"] == {"text": "系统权限还没开通", "channel": "goals_page", "candidate_id": "cand-g02"}
    [item] = view(recall, case).feedback
    assert (item.text, item.state, item.received_at, item.answer_due, item.answer) == (
        "系统权限还没开通", "waiting", sent_at, sent_at + timedelta(hours=24), None)

    # the same form again (a second click, a refreshed POST): one delivery
    again = goals_page.send_feedback(recall, candidate_id=case.candidate_id, instance_id=case.id, link_id="L1",
                                     nonce="n" * 20, text="系统权限还没开通")
    assert again.delivered_to == [case.id]
    assert case.messages_delivered().count(("new_hire_feedback", goals_page.ACTOR)) == 1
    with pytest.raises(MessageIdReused):          # the same nonce with other words is refused, not delivered
        goals_page.send_feedback(recall, candidate_id=case.candidate_id, instance_id=case.id, link_id="L1",
                                 nonce="n" * 20, text="另一件事")

    case.wait(hours=3)
    case.complete("respond_feedback", response="今天下午 IT 会开通,明早确认")
    [item] = view(recall, case).feedback
    assert (item.state, item.answer, item.answered_at) == ("answered", "今天下午 IT 会开通,明早确认",
                                                           sent_at + timedelta(hours=3))


def test_a_second_feedback_is_held_until_the_first_is_answered_and_escalation_answers_count(recall):
    case = onboarding(recall, "cand-g03")
    goals_page.send_feedback(recall, candidate_id=case.candidate_id, instance_id=case.id, link_id="L2",
                             nonce="a" * 20, text="第一件事")
    case.wait(hours=1)
    goals_page.send_feedback(recall, candidate_id=case.candidate_id, instance_id=case.id, link_id="L2",
                             nonce="b" * 20, text="第二件事")
    items = view(recall, case).feedback
    assert [(i.text, i.state, i.held) for i in items] == [("第一件事", "waiting", False),
                                                          ("第二件事", "waiting", True)]
    case.wait(hours=25)                            # nobody in HR answered: the HRBP does
    case.complete("escalate_feedback", by=HRBP, response="抱歉回复晚了,已安排导师")
    items = view(recall, case).feedback
    assert [(i.text, i.state, i.answer) for i in items] == [
        ("第一件事", "answered", "抱歉回复晚了,已安排导师"), ("第二件事", "waiting", None)]
    assert items[1].held is False                  # delivered now: HR has its respond_feedback task
    assert items[0].answered_by is None            # no display name in the directory: no user name either
    assert case.ready() == ["respond_feedback"]
    case.complete("respond_feedback", response="第二件事已处理")
    assert [i.answer for i in view(recall, case).feedback] == ["抱歉回复晚了,已安排导师", "第二件事已处理"]


def test_no_goals_yet_and_unknown_case(recall):
    case = Case(recall, candidate_id="cand-g04", reason="team")
    shown = view(recall, case)
    assert (shown.open, shown.goals, shown.goals_agreed_at) == (False, (), None)
    with recall.db.read_transaction() as s:
        assert goals_page.goals_view(s, "no-such-case") is None


@pytest.mark.parametrize("text, expected", [
    ("  有点问题 \r\n ", ("有点问题", None)), ("", (None, "empty")), ("   \n", (None, "empty")),
    (None, (None, "empty")), (42, (None, "empty")), ("字" * 2000, ("字" * 2000, None)),
    ("字" * 2001, (None, "too_long"))])
def test_feedback_text_limits(text, expected):
    assert goals_page.check_feedback_text(text) == expected


def test_a_held_feedback_waits_two_weeks_then_shows_it_never_reached_hr(recall):
    case = onboarding(recall, "cand-g05")
    for nonce, text in (("c" * 20, "第一件事"), ("d" * 20, "第二件事")):
        goals_page.send_feedback(recall, candidate_id=case.candidate_id, instance_id=case.id, link_id="L5",
                                 nonce=nonce, text=text)
    case.wait(days=3)                              # past messages.json's two days: still held
    recall.expire_messages()
    assert [(i.text, i.state, i.held) for i in view(recall, case).feedback] == [
        ("第一件事", "waiting", False), ("第二件事", "waiting", True)]
    case.wait(days=12)                             # the escalated first one still unanswered after 14 days
    recall.expire_messages()
    assert [(i.text, i.state, i.held) for i in view(recall, case).feedback] == [
        ("第一件事", "waiting", False), ("第二件事", "expired", True)]
