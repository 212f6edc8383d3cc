"""The goals page's GET and POST (engine/candidate_pages/goals.py `render_page`, `post_feedback`) on a real
link (H3's CandidateLinks) to a real onboarding case, without HTTP: what the page shows, the feedback form
(an empty or too long text refused naming the field, a resubmitted form delivered once, an ended case)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from engine.candidate_pages import goals as goals_page
from engine.candidate_pages.links import PageRequest, make_nonce, page_for
from tests.support import HR
from tests.workflows.lifecycle import Case
from tests.workflows.test_onboarding_paths import interested


@pytest.fixture
def onboarded(recall, archive, links):
    """(case, link, token): a candidate in the archive whose case reached onboarding, and a goals link."""
    from engine import users
    users.add_user(recall.db, HR, "hr", ["hr"], display_name="李敏")
    person = archive.create_candidate({"name": "周新", "role_applied": "门店运营"}, actor=HR)
    case = Case(recall, candidate_id=person.id, reason="team")
    interested(case)
    case.reoffer()
    case.accept_and_start()
    issued = links.issue(person.id, kind="goals", actor=HR, instance_id=case.id)
    return case, links.resolve(issued.token), issued.token


def request(recall, link, token, *, lang="zh", form=None, nonce=None):
    now = recall.clock.now()
    return PageRequest(link=link, lang=lang, engine=recall, url=f"/p/{token}",
                       nonce=nonce or make_nonce(token, now), form=form or {}, now=now)


def test_the_goals_kind_is_registered():
    assert page_for("goals").render is goals_page.render_page and page_for("goals").post is goals_page.post_feedback


def test_the_page_shows_goals_progress_and_monthly_feedback(recall, onboarded):
    case, link, token = onboarded
    page = goals_page.render_page(request(recall, link, token))
    assert page.template == "recall_pages/goals.html" and page.status == 200
    assert [g["title"] for g in page.context["goals"]] == ["目标 1", "目标 2"]
    assert page.context["goals"][0]["status"] is None and page.context["open"] is True
    case.wait(days=30, hours=1)
    task = case.task("monthly_check_in")
    case.complete("monthly_check_in", feedback="第一个月上手很快",
                  progress=[dict(task.data["progress"][0], status="at_risk", percent=35, note="还差两家门店"),
                            dict(task.data["progress"][1], status="on_track")])
    context = goals_page.render_page(request(recall, link, token, lang="en")).context
    first = context["goals"][0]
    assert (first["status"], first["status_text"], first["percent"], first["note"], first["month"]) == (
        "at_risk", "At risk", 35, "还差两家门店", "Month 1")
    assert context["goals"][1]["percent"] is None
    [check_in] = context["check_ins"]
    assert check_in["feedback"] == "第一个月上手很快" and check_in["by"].startswith("李敏 · ")
    assert context["tx"]["form_title"] == "Something is not working"


@pytest.mark.parametrize("text, reason, status", [
    ("", "请在“发生了什么?”里写下内容再发送。", 422), ("  \n\t ", "请在“发生了什么?”里写下内容再发送。", 422),
    ("长" * 2001, "“发生了什么?”最多 2000 个字,请精简后再发送。", 422)])
def test_bad_text_is_refused_naming_the_field_and_nothing_is_delivered(recall, onboarded, text, reason, status):
    case, link, token = onboarded
    page = goals_page.post_feedback(request(recall, link, token, form={"text": text}))
    assert (page.status, page.context["error"], page.context["error_field"]) == (status, reason, "text")
    assert page.context["sent"] is None
    assert "respond_feedback" not in case.ready()


def test_feedback_is_delivered_once_and_answered_on_the_page(recall, onboarded):
    case, link, token = onboarded
    nonce = make_nonce(token, recall.clock.now())
    sent_at = recall.clock.now()
    form = {"text": "  工位电脑还没到  ", "nonce": nonce}
    page = goals_page.post_feedback(request(recall, link, token, form=form, nonce=nonce))
    due = (sent_at + timedelta(hours=24)).astimezone(goals_page.days.zone()).strftime("%Y-%m-%d %H:%M")
    assert page.status == 200 and page.context["sent"] == f"已收到。我们会在 24 小时内回复(最晚 {due}),回复会显示在这页。"
    task = case.task("respond_feedback")
    assert task.data["feedback_message"]["text"] == "工位电脑还没到"
    assert task.due_at == sent_at + timedelta(hours=24)

    again = goals_page.post_feedback(request(recall, link, token, form=form, nonce=nonce))   # a second click
    assert again.status == 200 and f"最晚 {due}" in again.context["sent"]
    assert [d for d in case.messages_delivered() if d[0] == "new_hire_feedback"] == [
        ("new_hire_feedback", goals_page.ACTOR)]
    [item] = again.context["feedback"]
    assert (item["state"], item["text"], item["promise"]) == ("waiting", "工位电脑还没到", f"我们会在 24 小时内回复(最晚 {due})")

    case.wait(hours=2)
    case.complete("respond_feedback", response="明早 IT 送到工位")
    [item] = goals_page.render_page(request(recall, link, token)).context["feedback"]
    assert (item["state"], item["answer"]) == ("answered", "明早 IT 送到工位")
    assert item["answered"].startswith("已回复 · 李敏 · ")


def test_an_ended_case_takes_no_feedback(recall, onboarded):
    case, link, token = onboarded
    case.send("employee_left", reason="个人原因")
    page = goals_page.render_page(request(recall, link, token))
    assert page.context["open"] is False and [g["title"] for g in page.context["goals"]] == ["目标 1", "目标 2"]
    refused = goals_page.post_feedback(request(recall, link, token, form={"text": "还有一件事"}))
    assert refused.status == 409 and "入职回顾已经结束" in refused.context["error"]
    assert ("new_hire_feedback", goals_page.ACTOR) not in case.messages_delivered()
