"""Issue 18, the candidate's growth page, in Chromium against a real `recall serve` (simulated clock):
HR holds a day-30 follow-up, presses "附上成长页链接 / Attach growth page link", the full link lands in
the message and HR sends it (completes the task); the candidate opens the link of the sent message on a phone (390x844, a WeChat user agent): the role's path, the figures
with their headcount, their own questions answered; the view arrives as a signal on the candidate's
timeline, and the candidate page lists the link with its views; HR revokes it there; an expired and a
revoked link show the friendly page. SQLite and PostgreSQL."""
from __future__ import annotations

import copy
import re
from datetime import date

import pytest
from playwright.sync_api import expect

from tests.candidate_pages.test_public_page import FACTS
from tests.support import ADMIN, HR
from tests.ui.ui_harness import SHOTS_TO, Server, chromium_or_skip

pytestmark = pytest.mark.slow

PASSWORD = "a growth page for the candidate"
PHONE = {"width": 390, "height": 844}
WECHAT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN")


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request, tmp_path):
    from engine.archive import roles
    from engine.db import Database
    from engine.signin import set_password

    chromium_or_skip()
    srv = Server(tmp_path, database=request.param)
    database = Database(srv.url_db)
    try:
        set_password(database, HR, PASSWORD)
        with database.write_transaction() as s:
            roles.save_version(s, "backend_engineer", {"zh": "后端工程师", "en": "Backend engineer"},
                               copy.deepcopy(FACTS), effective_from=date(2025, 12, 1), actor=HR, note="ui test")
    finally:
        database.dispose()
    yield srv
    output = srv.stop()
    assert "Traceback" not in output, output


def follow_up_task(server) -> tuple[str, str]:
    """(candidate id, task id): a day-30 follow-up HR holds, for a candidate who asked about the path."""
    person = server.ok("POST", "/candidates", {"name": "林成长", "role_applied": "backend_engineer",
                                               "open_questions": ["晋升路径是什么?"]}, user=HR)
    iid = server.ok("POST", f"/candidates/{person['id']}/declines", {"reason": "career_path"}, user=HR)["instance_id"]
    task = server.ok("GET", f"/tasks?instance_id={iid}&element_id=archive_decline", user=HR)["items"][0]
    server.ok("POST", f"/tasks/{task['id']}/complete", {"data": {
        "decline_reason": "career_path", "decline_detail": "看不到晋升路径", "needs": [], "open_questions": ["晋升路径是什么?"],
        "talent_pool_consent": True, "consent_scope": "similar_roles", "consent_expiry": "2027-01-05"}}, user=HR)
    report = server.ok("POST", "/testing/clock", {"advance": "P31D"}, user=ADMIN)
    assert report["errors"] == 0, report
    task = server.ok("GET", f"/tasks?instance_id={iid}&element_id=follow_up_day_30", user=HR)["items"][0]
    server.ok("POST", f"/tasks/{task['id']}/claim", None, user=HR)
    return person["id"], task["id"]


def sign_in(browser, server):
    hr = browser.page(server.base)
    hr.goto("/app/")
    hr.wait_for_url(re.compile(r"/app/signin"))
    hr.get_by_label("用户名").fill(HR)
    hr.get_by_label("密码", exact=True).fill(PASSWORD)
    hr.get_by_role("button", name="登录", exact=True).click()
    hr.wait_for_selector("main[data-ready=inbox]")
    return hr


def test_hr_attaches_the_link_and_the_candidate_opens_it_on_a_phone(server, browser):
    candidate_id, task_id = follow_up_task(server)
    hr = sign_in(browser, server)
    hr.goto(f"/app/tasks/{task_id}")
    hr.wait_for_selector("main[data-ready^='tasks/'] #task-form")
    message = hr.locator("[name=message_sent]")
    message.fill("您好,给您看看这个岗位的成长路径:")
    hr.get_by_role("button", name="附上成长页链接").click()
    expect(message).to_have_value(re.compile(r"成长路径:\nhttp://127\.0\.0\.1:\d+/p/[A-Za-z0-9_-]{43}$"))
    expect(hr.locator("#growth-link-note")).to_contain_text("链接已加入消息")
    hr.locator("[name=channel]").select_option(label="企业微信")
    hr.locator("fieldset[data-path='outcome']").get_by_label("已发送", exact=True).check()
    hr.locator("#complete").click()
    hr.wait_for_selector(f"main[data-ready]:not([data-ready='tasks/{task_id}'])")
    sent = [m for m in server.ok("GET", f"/candidates/{candidate_id}", user=HR)["messages"]
            if m["direction"] == "sent"][-1]["text"]                                  # the message as sent
    assert sent.startswith("您好,给您看看这个岗位的成长路径:\n")
    link = sent.splitlines()[-1]

    phone = browser.browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai",
                                        device_scale_factor=2, user_agent=WECHAT, is_mobile=True, has_touch=True)
    page = phone.new_page()
    page.on("pageerror", lambda error: browser.errors.append(f"{page.url}: {error}"))
    page.goto(link)
    expect(page.locator("h1")).to_have_text("后端工程师")
    expect(page.locator("li.stage")).to_have_count(2)
    expect(page.locator("li.stage").nth(0)).to_contain_text("初级工程师")
    expect(page.locator("#figures")).to_contain_text("基于 40 人")
    expect(page.locator("#figures")).to_contain_text("截至 2026-11-30")
    expect(page.locator("#questions")).to_contain_text("晋升路径是什么?")
    expect(page.locator("#questions")).to_contain_text("初级工程师 → 主管")
    expect(page.locator("#stories")).not_to_contain_text("未同意的故事")
    expect(page.get_by_role("button", name="我想聊聊")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    SHOTS_TO.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS_TO / "growth-page-phone.png"), full_page=True, animations="disabled")
    page.get_by_role("link", name="English").click()
    expect(page.locator("#figures")).to_contain_text("of 40 people")
    phone.close()

    # the view is a signal on the candidate's timeline; the candidate page lists the link, HR revokes it
    hr.goto(f"/app/candidates/{candidate_id}")
    hr.wait_for_selector(f"main[data-ready='candidates/{candidate_id}']")
    expect(hr.locator(".timeline")).to_contain_text("查看了岗位成长页")
    row = hr.locator("#candidate-links tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_have_attribute("data-status", "active")
    expect(row).to_contain_text("打开 2 次")
    hr.locator("#candidate-links [data-revoke]").click()
    expect(row).to_have_attribute("data-status", "revoked")
    expect(row).to_contain_text("已停用")

    revoked = browser.browser.new_context(viewport=PHONE, user_agent=WECHAT, java_script_enabled=False).new_page()
    answer = revoked.goto(link)
    assert answer.status == 410
    expect(revoked.locator("body")).to_contain_text("这个链接已过期或已停用")
    expect(revoked.locator("body")).to_contain_text("This link is no longer active")
    revoked.context.close()


def test_an_expired_link_shows_the_friendly_page(server, browser):
    candidate_id, _task_id = follow_up_task(server)
    issued = server.ok("POST", f"/candidates/{candidate_id}/links", {"kind": "growth", "ttl_days": 2}, user=HR)
    page = browser.browser.new_context(viewport=PHONE, user_agent=WECHAT, java_script_enabled=False).new_page()
    assert page.goto(issued["url"]).status == 200
    report = server.ok("POST", "/testing/clock", {"advance": "P2DT1S"}, user=ADMIN)
    assert report["errors"] == 0, report
    answer = page.goto(issued["url"])
    assert answer.status == 410 and answer.headers["cache-control"] == "private, no-store"
    expect(page.locator("h1").first).to_have_text("链接已失效")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.context.close()
