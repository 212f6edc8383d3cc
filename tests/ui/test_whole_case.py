"""Issue 15, "Done when": a whole case from the decline to `end_retained`, done only in the browser.

Three people sign in to the workspace with their passwords, each in a browser of their own, against a
real `recall serve` (simulated clock) on SQLite and on PostgreSQL: HR (hr.li) records the decline and
the consent, sends the day-30, day-90 and day-180 follow-ups, records the candidate's reply (with when it
came) from the case page, assesses it and hands the candidate to the hiring manager; the manager
(wang.li) reports that the candidate is ready for an offer; HR prepares a re-offer above the approval
limit; an HRBP (hrbp.zhou) approves it; HR sends it, records the candidate's acceptance, agrees the
goals, does the three monthly check-ins and the probation review. Only time passing is done over HTTP
(`POST /testing/clock`). At the end the API says the case ended at `end_retained` and the audit trail
names who did each step.

Once in Chinese at desktop width, once in English at phone width (390 x 844), on each database.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from tests.support import HR, HRBP, MANAGER, WORKFLOWS
from tests.ui.ui_harness import Server, chromium_or_skip, shot

pytestmark = pytest.mark.slow

PASSWORD = "a long walk to end_retained"
# the tasks' titles, "中文 / English" in the diagrams: each page shows the part of its language
TITLES = {m[1]: tuple(m[2].split(" / ", 1)) for path in sorted(WORKFLOWS.glob("*.bpmn"))
          for m in re.finditer(r'<bpmn:userTask id="(\w+)" name="([^"]+)"', path.read_text(encoding="utf-8"))}
DISPLAY = {HR: "周敏", MANAGER: "王立", HRBP: "赵倩"}
VIEWS = {"zh": {"width": 1280, "height": 900}, "en": {"width": 390, "height": 844}}


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request, tmp_path):
    """A fresh `recall serve` per case (its own database), with passwords for the three people."""
    from engine.db import Database
    from engine.models import User
    from engine.signin import set_password

    chromium_or_skip()
    srv = Server(tmp_path, database=request.param)
    database = Database(srv.url_db)
    try:
        for name in (HR, MANAGER, HRBP):
            set_password(database, name, PASSWORD)
        with database.write_transaction() as session:      # people with names, as a directory has them
            for name, display in DISPLAY.items():
                session.execute(update(User).where(User.name == name).values(display_name=display))
    finally:
        database.dispose()
    yield srv
    output = srv.stop()
    assert "Traceback" not in output, output


class Person:
    """One person's browser: signs in with a password and works by clicks and typing only."""

    def __init__(self, browser, server, name: str, lang: str):
        self.name, self.lang = name, lang
        self.page = browser.page(server.base, lang=lang, **VIEWS[lang])
        self.L = (lambda zh, en: zh) if lang == "zh" else (lambda zh, en: en)
        page = self.page
        page.goto("/app/")
        page.wait_for_url(re.compile(r"/app/signin"))
        page.get_by_label(self.L("用户名", "User name")).fill(name)
        page.get_by_label(self.L("密码", "Password"), exact=True).fill(PASSWORD)
        page.get_by_role("button", name=self.L("登录", "Sign in"), exact=True).click()
        page.wait_for_selector("main[data-ready=inbox]")
        expect(page.locator("h1")).to_have_text(self.L("我的待办", "My inbox"))
        expect(page.locator("header")).to_contain_text(DISPLAY[name])      # the person by name, not id

    def nav(self, zh: str, en: str, ready: str):
        self.page.locator("#nav").get_by_role("link", name=self.L(zh, en), exact=True).click()
        self.page.wait_for_selector(f"main[data-ready='{ready}']")

    def open_task(self, element_id: str):
        """From the inbox, the one task of this step: its page with the form, titled in this language."""
        self.nav("待办", "Inbox", "inbox")
        row = self.page.locator(f"table.inbox tbody tr[data-element-id='{element_id}']")
        expect(row).to_have_count(1)
        row.locator("th a").click()
        self.page.wait_for_selector("main[data-ready^='tasks/'] #task-form")
        expect(self.page.locator("h1")).to_have_text(self.L(*TITLES[element_id]))
        assert self.page.evaluate("document.documentElement.scrollWidth") <= self.page.viewport_size["width"]
        return self.page.url.rsplit("/", 1)[-1]

    def complete(self, task_id: str):
        self.page.locator("#complete").click()
        self.page.wait_for_selector(f"main[data-ready]:not([data-ready='tasks/{task_id}'])")
        expect(self.page.locator("#toast")).to_contain_text(self.L("已完成", "Completed"))

    def radio(self, path: str, label: str):
        self.page.locator(f"fieldset[data-path='{path}']").get_by_label(label, exact=True).check()

    def open_candidate(self, name: str):
        self.nav("候选人", "Candidates", "candidates")
        self.page.locator("table.candidates").get_by_role("link", name=name, exact=True).click()
        self.page.wait_for_selector("main[data-ready^='candidates/'] #record")


def clock(server, **change) -> datetime:
    """Time passes (the only thing done over HTTP): everything that became due has run."""
    report = server.ok("POST", "/testing/clock", change, user="root")
    assert report["errors"] == 0, report
    return datetime.fromisoformat(report["now"])


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_whole_case_from_the_decline_to_retained_in_the_browser_only(server, browser, lang):
    hr = Person(browser, server, HR, lang)
    L, page = hr.L, hr.page

    def snap(of, name, **options):     # docs/screenshots: Chinese at desktop width, English on a phone
        if server.url_db.startswith("sqlite"):
            shot(of, f"{name}.png" if lang == "zh" else f"{name}-phone-en.png", **options)
    name = L("林一", "Lin Yi")

    # --- HR records the decline of a new candidate, with the hiring manager and consent
    hr.nav("记录未到岗", "Record a decline", "declines/new")
    page.get_by_label(re.compile("^" + L("姓名", "Name"))).fill(name)
    page.get_by_label(re.compile("^" + L("电话", "Phone"))).fill("13900000015")
    page.get_by_label(L("应聘岗位", "Role applied for")).fill(L("门店运营主管", "Store operations lead"))
    page.get_by_label(L("未到岗原因", "Decline reason")).select_option(label=L("发展路径", "Career path"))
    page.get_by_label(L("原因说明", "Details")).fill(L("担心晋升慢", "Worried about slow promotion"))
    page.locator("select[name=hiring_manager]").select_option(label=f"{DISPLAY[MANAGER]} ({MANAGER})")
    page.get_by_label(L("核心需求 第 1 项", "Needs item 1")).fill(L("清晰的晋升路径", "A clear promotion path"))
    page.get_by_label(L("未解答的疑问 第 1 项", "Open questions item 1")).fill(L("多久能升店长?", "When could I lead a store?"))
    page.get_by_label(L("候选人同意进入人才库", "The candidate consents to the talent pool")).check()
    page.get_by_label(L("同意范围", "Scope")).select_option(label=L("相似岗位", "Similar roles"))
    page.get_by_label(L("如何取得同意", "How consent was given")).fill(L("电话中口头同意", "Agreed on the phone"))
    page.get_by_label(L("有效期至", "Expires on")).fill("2027-12-31")
    page.get_by_role("button", name=L("记录并开始案件", "Record and start the case")).click()

    # --- archive_decline opens at once, prefilled from the decline: HR confirms the consent
    page.wait_for_selector("main[data-ready^='tasks/'] #task-form")
    expect(page.locator("h1")).to_have_text(L(*TITLES["archive_decline"]))
    archive_id = page.url.rsplit("/", 1)[-1]
    archive = server.ok("GET", f"/tasks/{archive_id}", user=HR)
    instance_id, candidate_id = archive["instance_id"], archive["data"]["candidate_id"]
    assert page.locator("[name=decline_reason] option:checked").inner_text() == L("发展路径", "Career path")
    page.locator("[name=talent_pool_consent]").check()
    page.locator("[name=consent_scope]").select_option(label=L("相似岗位", "Similar roles"))
    page.locator("[name=consent_expiry]").fill("2027-12-31")
    hr.complete(archive_id)

    # --- the cadence: days 30, 90 and 180 after the decline, each follow-up sent by HR
    for advance, step in (("P31D", "follow_up_day_30"), ("P60D", "follow_up_day_90"), ("P90D", "follow_up_day_180")):
        clock(server, advance=advance)
        task_id = hr.open_task(step)
        suggestion = page.locator("#suggested-message").inner_text()
        assert suggestion.strip() and page.locator("[name=message_sent]").input_value() == suggestion
        page.locator("[name=message_sent]").fill(suggestion + L("\n—— 李娜", "\n— Li Na"))
        page.locator("[name=channel]").select_option(label=L("企业微信", "WeCom"))
        hr.radio("outcome", L("已发送", "Sent"))
        hr.complete(task_id)

    # --- two days after day 180 the candidate answers; HR records it from the case page
    now = clock(server, advance="P2D")
    hr.open_candidate(name)
    page.locator(f"a[href$='/cases/{instance_id}']").first.click()
    page.wait_for_selector(f"main[data-ready='cases/{instance_id}']")
    page.locator("#record-reply").click()
    page.wait_for_selector(f"main[data-ready='candidates/{candidate_id}']")
    when = page.locator("#record [name=replied_at]")
    expect(when).to_be_visible()
    local_now = now.astimezone(_zone())
    assert when.input_value() == local_now.strftime("%Y-%m-%dT%H:%M")          # "now" is the service's
    page.get_by_label(L("候选人的回复", "What the candidate said")).fill(
        L("看到晋升数据了,想再聊聊", "Saw the promotion numbers, happy to talk"))
    page.locator("#record [name=channel]").select_option(label=L("电话", "Phone"))
    when.fill((local_now + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"))      # tomorrow: refused here
    page.locator("#record-submit").click()
    expect(page.locator("#record .field-error:visible")).to_have_text(L("不能晚于现在", "Cannot be in the future"))
    assert server.ok("GET", f"/process-instances/{instance_id}", user=HR)["ready_tasks"] == []
    replied = local_now - timedelta(hours=3)
    when.fill(replied.strftime("%Y-%m-%dT%H:%M"))
    snap(page, "record-reply")
    page.locator("#record-submit").click()
    expect(page.locator("#toast")).to_have_text(L("已记录,案件已收到。", "Recorded; the case has it."))
    expect(page.locator("#record form.record-form")).to_have_count(0)        # the card is drawn afresh

    # --- HR: interested, involve the hiring manager; then the hand-off's talking points
    task_id = hr.open_task("assess_reply")
    hr.radio("outcome", L("有意向", "Interested"))
    page.locator("[name=involve_manager]").check()
    hr.complete(task_id)
    task_id = hr.open_task("request_manager_contact")
    page.locator("select[name=manager_username]").select_option(label=f"{DISPLAY[MANAGER]} ({MANAGER})")
    page.locator("[name=talking_points]").fill(L("她关心晋升速度:讲讲去年 3 位店长的成长", "She cares about promotion: tell her about last year's 3 store leads"))
    hr.complete(task_id)

    # --- the hiring manager, in their own browser: ready for an offer
    manager = Person(browser, server, MANAGER, lang)
    task_id = manager.open_task("manager_contact_candidate")
    expect(manager.page.locator(".task-context")).to_contain_text(
        L("她关心晋升速度", "She cares about promotion"))
    manager.radio("contact_outcome", L("愿意接收新 offer", "Ready for an offer"))
    manager.page.locator("[name=notes]").fill(L("希望一年内带店", "Wants to lead a store within a year"))
    snap(manager.page, "handoff-manager")
    manager.complete(task_id)
    manager.page.context.close()

    # --- HR prepares a re-offer above the approval limit (18 % more): HRBP must approve
    start = (now + timedelta(days=14)).astimezone(_zone()).date()
    task_id = hr.open_task("prepare_reoffer")
    page.locator("[name=salary]").fill("13000")
    page.locator("[name=original_salary]").fill("11000")
    page.locator("[name=start_date]").fill(start.isoformat())
    page.locator("[name=concerns_addressed]").fill(L("一年内店长储备计划", "A store-lead track within a year"))
    page.locator("[name=days_valid]").fill("7")
    hr.complete(task_id)

    hrbp = Person(browser, server, HRBP, lang)
    task_id = hrbp.open_task("approve_reoffer")
    hrbp.radio("approved", L("是", "Yes"))
    hrbp.page.locator("[name=comment]").fill(L("同意,人才难得", "Approved: worth it"))
    snap(hrbp.page, "approval-hrbp")
    hrbp.complete(task_id)
    hrbp.page.context.close()

    task_id = hr.open_task("send_reoffer")
    page.locator("[name=channel]").select_option(label=L("邮件", "Email"))
    page.locator("[name=message_sent]").fill(L("新的 offer 已发到您的邮箱", "The new offer is in your mailbox"))
    hr.complete(task_id)

    # --- the candidate accepts on the phone; HR records it on their page
    hr.open_candidate(name)
    page.locator("#record select[name=what]").select_option(label=L("候选人答复了 offer", "The candidate answered the offer"))
    page.wait_for_selector("#record form.record-form")
    page.locator("#record").get_by_label(L("接受", "Accepted"), exact=True).check()
    page.locator("#record-submit").click()
    expect(page.locator("#toast")).to_have_text(L("已记录,案件已收到。", "Recorded; the case has it."))
    expect(page.locator("#record form.record-form")).to_have_count(0)        # the card is drawn afresh

    # --- goals, the start date, three monthly check-ins and the probation review
    task_id = hr.open_task("agree_goals")
    page.locator("[name='goals.0.title']").fill(L("熟悉门店运营", "Learn the store's operations"))
    page.locator("[name='goals.0.measure']").fill(L("流程考核", "Process test"))
    page.locator("[name='goals.0.target']").fill(L("通过", "Passed"))
    page.locator("[name='goals.0.due_day']").fill("60")
    hr.complete(task_id)
    clock(server, set=f"{start.isoformat()}T09:30:00+08:00")
    for month in (1, 2, 3):
        clock(server, advance="P30DT1H")
        task_id = hr.open_task("monthly_check_in")
        assert page.locator("[name='progress.0.goal_title']").input_value() == L("熟悉门店运营", "Learn the store's operations")
        page.locator("[name='progress.0.status']").select_option(label=L("正常", "On track"))
        page.locator("[name=feedback]").fill(L(f"第 {month} 个月进展顺利", f"Month {month} went well"))
        hr.complete(task_id)
    task_id = hr.open_task("probation_review")
    hr.radio("outcome", L("留任", "Retained"))
    hr.complete(task_id)

    # --- the case page says so; the API: ended at end_retained, each step by the right person
    page.goto(f"/app/cases/{instance_id}")
    page.wait_for_selector(f"main[data-ready='cases/{instance_id}']")
    expect(page.locator("dl.meta")).to_contain_text(L("留任", "Retained"))
    assert page.locator("#record-reply").count() == 0             # nothing to reply to in an ended case
    snap(page, "case-retained", full_page=False)
    hr.page.context.close()

    case = server.ok("GET", f"/process-instances/{instance_id}", user=HR)
    assert (case["status"], case["end_event"]) == ("completed", "end_retained"), case
    history = audit_trail(server, instance_id)
    done = [(e["element_id"], e["actor"]) for e in history if e["kind"] == "task_completed"]
    assert done == [
        ("archive_decline", HR), ("follow_up_day_30", HR), ("follow_up_day_90", HR), ("follow_up_day_180", HR),
        ("assess_reply", HR), ("request_manager_contact", HR), ("manager_contact_candidate", MANAGER),
        ("prepare_reoffer", HR), ("approve_reoffer", HRBP), ("send_reoffer", HR), ("agree_goals", HR),
        ("monthly_check_in", HR), ("monthly_check_in", HR), ("monthly_check_in", HR), ("probation_review", HR)], done
    messages = [(e["details"]["name"], e["actor"], e["details"].get("payload", {})) for e in history
                if e["kind"] == "message_delivered"]
    assert [(m, actor) for m, actor, _ in messages] == [("candidate_replied", HR), ("offer_response", HR)]
    reply = messages[0][2]
    assert datetime.fromisoformat(reply["replied_at"]) == replied.replace(second=0, microsecond=0), reply
    assert reply["channel"] == "phone" and messages[1][2]["decision"] == "accepted"
    assert history[-1]["kind"] == "instance_completed" and history[-1]["element_id"] == "end_retained"
    started = [e for e in history if e["kind"] in ("decline_recorded", "instance_started")]
    assert started and all(e["actor"] == HR for e in started), started
    assert not [e for e in history if e["kind"] == "instance_error"]


def audit_trail(server, instance_id):
    events, offset = [], 0
    while True:
        page = server.ok("GET", f"/process-instances/{instance_id}/history?limit=200&offset={offset}", user=HR)
        events += page["items"]
        if not page["next"]:
            return events
        offset += len(page["items"])


def _zone():
    from zoneinfo import ZoneInfo
    return ZoneInfo("Asia/Shanghai")          # the browsers' time zone (ui_harness.Browser)
