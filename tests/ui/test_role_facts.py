"""Issue 18, "Done when": a day-180 suggestion for a `career_path` decline carrying the real path and a
story with no placeholder, and a suggestion for a role without a salary fact naming what is missing.

A real `recall serve` (simulated clock), SQLite and PostgreSQL. Role profiles are written into the
server's database (engine/archive/roles.py); the cases run over the API on the server's clock; HR opens
the task pages in Chromium: the suggestion, the facts it used with the dates of their figures (one group
stale), and the missing fact as a link to the role's profile page.
"""
from __future__ import annotations

import copy
import re
from datetime import date, datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.support import ADMIN, HR
from tests.ui.ui_harness import Server, chromium_or_skip, shot

pytestmark = pytest.mark.slow

TITLE = {"zh": "后端工程师", "en": "Backend engineer"}
STORY = "2022 年入职,18 个月后晋升主管,薪资增长 30%"


def facts(today: date) -> dict:
    fresh, old = today.isoformat(), (today - timedelta(days=500)).isoformat()
    return {
        "salary": {"as_of": fresh, "band_min": 18000, "band_max": 30000, "currency": "CNY", "period": "month",
                   "change_pct": 8.0, "change_effective": fresh},
        "path": {"as_of": fresh, "stages": [
            {"key": "junior", "name": {"zh": "初级工程师", "en": "Junior engineer"},
             "requirements": {"zh": "独立完成模块开发", "en": "Delivers a module on their own"}, "typical_months": 12},
            {"key": "lead", "name": {"zh": "主管", "en": "Team lead"},
             "requirements": {"zh": "带领3人团队", "en": "Leads a team of 3"}, "typical_months": 24}]},
        "stories": {"as_of": old, "items": [
            {"joined": "2022-09", "from_stage": "junior", "to_stage": "lead", "months": 18, "raise_pct": 30,
             "text": {"zh": STORY, "en": "Joined in 2022, team lead 18 months later, 30% raise"}, "consented": True}]},
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def server(request, tmp_path):
    chromium_or_skip()
    srv = Server(tmp_path, database=request.param)
    yield srv
    output = srv.stop()
    assert "Traceback" not in output, output


def clock(server, **change) -> datetime:
    report = server.ok("POST", "/testing/clock", change, user=ADMIN)
    assert report["errors"] == 0, report
    return datetime.fromisoformat(report["now"])


def save_profiles(server, today: date) -> None:
    """backend_engineer (alias 后端工程师) with path, stories and salary; data_analyst without salary."""
    from engine.archive import roles
    from engine.db import Database
    from engine.service import RecallEngine

    engine = RecallEngine(Database(server.url_db))
    try:
        now = engine.clock.now()
        with engine.db.write_transaction() as s:
            roles.save_version(s, "backend_engineer", TITLE, facts(today), effective_from=date(2020, 1, 1),
                               actor=HR, note="from the HR system", now=now, ops=engine.ops)
            roles.set_aliases(s, "backend_engineer", ["后端工程师"], actor=HR, now=now, ops=engine.ops)
            no_salary = copy.deepcopy(facts(today))
            del no_salary["salary"]
            roles.save_version(s, "data_analyst", {"zh": "数据分析师", "en": "Data analyst"}, no_salary,
                               effective_from=date(2020, 1, 1), actor=HR, note="no pay figures yet", now=now,
                               ops=engine.ops)
    finally:
        engine.db.dispose()


def save_salary(server, today: date) -> None:
    """data_analyst's second version, now with the salary group."""
    from engine.archive import roles
    from engine.db import Database
    from engine.service import RecallEngine

    engine = RecallEngine(Database(server.url_db))
    try:
        with engine.db.write_transaction() as s:
            roles.save_version(s, "data_analyst", {"zh": "数据分析师", "en": "Data analyst"}, facts(today),
                               effective_from=date(2020, 1, 1), actor=HR, note="pay figures added",
                               now=engine.clock.now(), ops=engine.ops)
    finally:
        engine.db.dispose()


def complete(server, instance_id: str, element_id: str, form) -> dict:
    tasks = server.ok("GET", f"/tasks?instance_id={instance_id}&element_id={element_id}", user=HR)["items"]
    assert len(tasks) == 1, (element_id, tasks)
    task = server.ok("GET", f"/tasks/{tasks[0]['id']}", user=HR)
    if form is not None:
        server.ok("POST", f"/tasks/{task['id']}/complete", {"data": form(task) if callable(form) else form}, user=HR)
    return task


def sent(task) -> dict:
    return {"outcome": "sent", "channel": "wecom", "message_sent": task["data"]["suggested_message"]}


def start_case(server, *, name: str, phone: str, reason: str, role: str, lang: str) -> str:
    person = server.ok("POST", "/candidates", {"name": name, "phone": phone}, user=HR)
    iid = server.ok("POST", f"/candidates/{person['id']}/declines", {
        "reason": reason, "role": role, "lang": lang,
        "consent": {"granted": True, "scope": "similar_roles", "source": "电话", "expires_at": "2030-06-30T00:00:00+08:00"},
    }, user=HR)["instance_id"]
    complete(server, iid, "archive_decline", {
        "decline_reason": reason, "talent_pool_consent": True, "consent_scope": "similar_roles",
        "consent_expiry": "2030-06-30"})
    return iid


def sign_in(page, server):
    page.goto("/app/")
    page.wait_for_url(re.compile(r"/app/signin"))
    page.get_by_label("API 令牌").fill(server.tokens[HR])
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("main[data-ready]:not([data-ready=signin])")


def test_the_task_page_shows_the_real_path_a_story_their_dates_and_a_missing_fact(server, browser):
    today = clock(server, advance="PT1M").date()
    save_profiles(server, today)
    career = start_case(server, name="林一", phone="13900000021", reason="career_path", role="后端工程师", lang="zh")
    salary = start_case(server, name="Lin Er", phone="13900000022", reason="salary", role="Data Analyst", lang="en")
    clock(server, advance="P31D")
    for iid in (career, salary):
        complete(server, iid, "follow_up_day_30", sent)
    clock(server, advance="P60D")
    complete(server, career, "follow_up_day_90", sent)
    day_90 = complete(server, salary, "follow_up_day_90", None)
    clock(server, advance="P90D")
    day_180 = complete(server, career, "follow_up_day_180", None)

    page = browser.page(server.base)
    sign_in(page, server)

    # the career_path decline at day 180: the path and the story, no placeholder; the facts with their dates
    page.goto(f"/app/tasks/{day_180['id']}")
    page.wait_for_selector(f"main[data-ready='tasks/{day_180['id']}'] #suggestion-facts")
    text = page.locator("#suggested-message").inner_text()
    assert "初级工程师 → 主管" in text and STORY in text and "【" not in text, text
    assert page.locator("[name=message_sent]").input_value() == text
    path = page.locator("#suggestion-facts li[data-fact='path']")
    expect(path).to_contain_text("晋升路径")
    expect(path).to_contain_text(f"数据截至 {today.isoformat()}")
    expect(path).to_contain_text("backend_engineer@v1")
    expect(path.locator(".fact-stale")).to_have_count(0)
    story = page.locator("#suggestion-facts li[data-fact='stories[0]']")
    expect(story).to_contain_text(f"数据截至 {(today - timedelta(days=500)).isoformat()}")
    expect(story.locator(".fact-stale")).to_have_text(" · 已过期,发送前请核实")
    expect(page.locator("#suggestion-missing")).to_have_count(0)
    if server.database == "sqlite":
        shot(page, "suggestion-facts.png", element=".suggestion")

    # the salary decline for a role without a salary fact: named, linked to the role's profile page
    page.goto(f"/app/tasks/{day_90['id']}")
    page.wait_for_selector(f"main[data-ready='tasks/{day_90['id']}'] #suggestion-missing")
    expect(page.locator("#suggested-message")).to_contain_text(
        '[Missing role fact: salary change (percent) — please add it under "Role profiles"]')
    link = page.locator("#suggestion-missing li[data-fact='salary.change_pct'] a")
    expect(link).to_have_text("去补充:薪资调整幅度")
    expect(link).to_have_attribute("href", "/app/roles/data_analyst")
    if server.database == "sqlite":
        shot(page, "suggestion-missing-fact.png", element=".suggestion")
    link.click()                                    # the role's page (pages/roles.js), where HR adds it
    page.wait_for_selector("main[data-ready='roles/data_analyst']")
    expect(page.locator("main")).to_contain_text("数据分析师")

    # HR adds the salary figures (a new version); back on the task the suggestion carries them, dated
    save_salary(server, today)
    page.goto(f"/app/tasks/{day_90['id']}")
    page.wait_for_selector(f"main[data-ready='tasks/{day_90['id']}'] #suggestion-facts")
    expect(page.locator("#suggested-message")).to_contain_text("pay for this role has gone up by 8%")
    expect(page.locator("#suggestion-missing")).to_have_count(0)
    expect(page.locator("#suggestion-facts li[data-fact='salary.change_pct']")).to_contain_text(
        f"数据截至 {today.isoformat()}")
    expect(page.locator("#suggestion-facts li[data-fact='salary.change_pct']")).to_contain_text("data_analyst@v2")
