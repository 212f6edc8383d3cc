"""Issue 18, "Done when": the new hire's page showing their goals, and feedback sent from it creating the
24-hour task.

A real `recall serve` (simulated clock), SQLite and PostgreSQL. The case is brought to onboarding over
the API (decline, day-30 follow-up, reply, re-offer accepted, goals agreed, start date, one check-in with
progress); then in the browser: HR opens the case and presses "发送目标页链接 / Send goals page link", the
new hire opens that link on a phone (390 px, no JavaScript needed), sees the goals and the check-in, writes
"something is not working", sees the promised answer time; HR finds the respond_feedback task in the inbox,
due in 24 hours, answers it; the new hire's page shows the answer.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.support import ADMIN, ATS, HR
from tests.ui.ui_harness import SHOTS_TO, Server, chromium_or_skip, shot

pytestmark = pytest.mark.slow

PASSWORD = "goals for the first three months"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request, tmp_path):
    from engine.db import Database
    from engine.signin import set_password

    chromium_or_skip()
    srv = Server(tmp_path, database=request.param)
    database = Database(srv.url_db)
    try:
        set_password(database, HR, PASSWORD)
    finally:
        database.dispose()
    yield srv
    output = srv.stop()
    assert "Traceback" not in output, output


def clock(server, **change) -> datetime:
    report = server.ok("POST", "/testing/clock", change, user=ADMIN)
    assert report["errors"] == 0, report
    return datetime.fromisoformat(report["now"])


def complete(server, instance_id: str, element_id: str, form: dict) -> dict:
    tasks = server.ok("GET", f"/tasks?instance_id={instance_id}&element_id={element_id}", user=HR)["items"]
    assert len(tasks) == 1, (element_id, tasks)
    task = server.ok("GET", f"/tasks/{tasks[0]['id']}", user=HR)
    server.ok("POST", f"/tasks/{task['id']}/complete", {"data": form(task) if callable(form) else form}, user=HR)
    return task


def onboarding(server) -> tuple[str, str]:
    """(candidate id, case id): a case that reached onboarding and had its first monthly check-in."""
    person = server.ok("POST", "/candidates", {"name": "周新", "role_applied": "门店运营"}, user=HR)
    iid = server.ok("POST", f"/candidates/{person['id']}/declines", {"reason": "team"}, user=HR)["instance_id"]
    complete(server, iid, "archive_decline", {
        "decline_reason": "team", "decline_detail": "团队氛围", "needs": ["弹性工作"], "open_questions": [],
        "talent_pool_consent": True, "consent_scope": "similar_roles", "consent_expiry": "2027-01-05"})
    now = clock(server, advance="P31D")
    complete(server, iid, "follow_up_day_30", lambda task: {
        "outcome": "sent", "channel": "wecom", "message_sent": task["data"]["suggested_message"]})
    server.ok("POST", "/messages", {"name": "candidate_replied", "correlation": {"candidate_id": person["id"]},
                                    "payload": {"text": "想再聊聊"}}, user=ATS)
    complete(server, iid, "assess_reply", {"outcome": "interested", "involve_manager": False})
    start = (now + timedelta(days=14)).date().isoformat()
    complete(server, iid, "prepare_reoffer", {"salary": 10500, "original_salary": 10000, "start_date": start,
                                              "concerns_addressed": "排班更灵活", "days_valid": 7})
    complete(server, iid, "send_reoffer", {"channel": "wecom", "message_sent": "新的 offer 已发出"})
    server.ok("POST", "/messages", {"name": "offer_response", "correlation": {"candidate_id": person["id"]},
                                    "payload": {"decision": "accepted"}}, user=ATS)
    complete(server, iid, "agree_goals", {"goals": [
        {"title": "熟悉门店运营流程", "measure": "流程考核", "target": "通过", "due_day": 30},
        {"title": "独立负责早班", "measure": "独立排班次数", "target": "8", "due_day": 90}]})
    clock(server, set=f"{start}T09:30:00+08:00")
    clock(server, advance="P30DT1H")
    complete(server, iid, "monthly_check_in", lambda task: {
        "progress": [dict(task["data"]["progress"][0], status="done", percent=100, note="考核一次通过"),
                     dict(task["data"]["progress"][1], status="at_risk", percent=25, note="早班还需要带教")],
        "feedback": "第一个月上手很快,早班流程再多练几次"})
    return person["id"], iid


def test_the_new_hire_sees_their_goals_and_feedback_from_the_page_creates_the_24_hour_task(server, browser):
    _, instance_id = onboarding(server)

    # HR: the case page, "发送目标页链接", the link shown once
    hr = browser.page(server.base)
    hr.goto("/app/")
    hr.wait_for_url(re.compile(r"/app/signin"))
    hr.get_by_label("用户名").fill(HR)
    hr.get_by_label("密码", exact=True).fill(PASSWORD)
    hr.get_by_role("button", name="登录", exact=True).click()
    hr.wait_for_selector("main[data-ready=inbox]")
    hr.goto(f"/app/cases/{instance_id}")
    hr.wait_for_selector(f"main[data-ready='cases/{instance_id}']")
    hr.get_by_role("button", name="发送目标页链接").click()
    url = hr.locator("#goals-link-url")
    expect(url).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/p/[A-Za-z0-9_-]{43}$"))
    link = url.input_value()
    hr.locator("#copy-goals-link").click()
    expect(hr.locator("#copy-goals-link")).to_have_attribute("data-copied", "true")
    shot(hr, "goals-link-case.png", element="#goals-link")

    # the new hire, on a phone, without JavaScript
    phone = browser.browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai",
                                        java_script_enabled=False, device_scale_factor=2,
                                        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
                                                   "Mobile/15E148 MicroMessenger/8.0.47")
    page = phone.new_page()
    page.goto(link)
    expect(page.locator("h1")).to_have_text("我的入职目标")
    goals = page.locator("li.goal")
    expect(goals).to_have_count(2)
    expect(goals.nth(0)).to_contain_text("熟悉门店运营流程")
    expect(goals.nth(0)).to_contain_text("已完成")
    expect(goals.nth(1)).to_contain_text("有风险")
    expect(goals.nth(1)).to_contain_text("25%")
    expect(page.locator("li.check-in")).to_contain_text("第一个月上手很快")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.locator("#text").fill("早班的交接清单没人给我,不知道该找谁")
    sent_at = clock(server, advance="PT1M")
    nonce = page.locator("input[name=nonce]").get_attribute("value")
    page.get_by_role("button", name="发送").click()
    expect(page.locator("#sent")).to_contain_text("已收到。我们会在 24 小时内回复")
    expect(page.locator("li.feedback")).to_contain_text("早班的交接清单没人给我")
    SHOTS_TO.mkdir(parents=True, exist_ok=True)            # the public page has no toast: shot() is the workspace's
    page.screenshot(path=str(SHOTS_TO / "goals-page-phone.png"), full_page=True, animations="disabled")
    again = phone.request.post(link, form={"nonce": nonce, "text": "早班的交接清单没人给我,不知道该找谁"})
    assert again.status == 200                  # the same form sent again (a second tap, a resubmit): one delivery
    page.goto(link)
    expect(page.locator("li.feedback")).to_have_count(1)

    # HR: the inbox has the 24-hour task
    hr.goto("/app/")
    hr.wait_for_selector("main[data-ready=inbox]")
    row = hr.locator("table.inbox tbody tr[data-element-id='respond_feedback']")
    expect(row).to_have_count(1)
    task = server.ok("GET", f"/tasks?instance_id={instance_id}&element_id=respond_feedback", user=HR)["items"][0]
    due = datetime.fromisoformat(task["due_at"])
    assert sent_at <= due - timedelta(hours=24) <= sent_at + timedelta(minutes=1), (sent_at, due)
    row.locator("th a").click()
    hr.wait_for_selector("main[data-ready^='tasks/'] #task-form")
    expect(hr.locator("main")).to_contain_text("早班的交接清单没人给我")
    hr.locator("[name=response]").fill("明早 8 点店长带你过一遍交接清单")
    hr.locator("#complete").click()
    expect(hr.locator("#toast")).to_contain_text("已完成")

    page.goto(link)
    expect(page.locator("li.feedback .answer")).to_have_text("明早 8 点店长带你过一遍交接清单")
    phone.close()
    hr.context.close()
