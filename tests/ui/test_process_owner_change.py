"""A process owner's change reaches the web workspace with no code change (issue 14, "Done when").

The three changes of docs/lifecycle.md (a decline reason `relocation` 搬迁, day 90 -> day 60, a
day-365 follow-up) applied to a copy of workflows/ and forms/ by tests/workflows/process_owner.py,
deployed into a fresh database and served by a real `recall serve`: in Chromium, in Chinese and in
English, HR finds the new reason in the "record a decline" form and in the candidate search filter
and records declines with it; on day 60 (simulated clock) the day-60 follow-up is in the inbox with
its day-60 title and due date, and its task page names the reason (搬迁 / Relocation), never the
code. tests/workflows/test_process_owner_changes.py checks the same bundle over the API alone.
No screenshots: docs/screenshots/ shows the shipped bundle.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from playwright.sync_api import expect

from tests.support import ADMIN, HR
from tests.ui.ui_harness import Server, chromium_or_skip
from tests.workflows.process_owner import apply_all

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    chromium_or_skip()
    workflows = apply_all(tmp_path_factory.mktemp("bundle"))
    srv = Server(tmp_path_factory.mktemp("ui"), workflows=workflows)
    yield srv
    output = srv.stop()
    assert "Traceback" not in output, output


def record_decline(page, server, *, name: str, reason: str, consent: str, scope: str, submit: str):
    """Record a decline with `reason` for a new candidate in the web form, as HR does; the
    decline as the API then reads it (the case started, its archive task open in the page)."""
    page.locator("#nav a[href$='declines/new']").click()
    form = page.locator("form.decline-form")
    form.wait_for()
    reasons = form.locator('select[name="reason"] option').all_inner_texts()
    assert reason in reasons and "relocation" not in reasons, reasons
    form.locator('input[name="name"]').fill(name)
    form.locator('select[name="reason"]').select_option(label=reason)
    form.get_by_label(consent).check()
    form.locator('select[name="consent.scope"]').select_option(label=scope)
    form.locator('input[name="consent.expires_at"]').fill("2028-06-30")
    form.get_by_role("button", name=submit).click()
    page.wait_for_url(re.compile(r"/app/tasks/[0-9a-f-]+$"))
    page.wait_for_selector("main[data-ready] #task-form")
    task = server.ok("GET", f"/tasks/{page.url.rsplit('/', 1)[1]}", user=HR)
    assert task["element_id"] == "archive_decline"
    candidate = server.ok("GET", f"/candidates/{task['data']['candidate_id']}", user=HR)
    [decline] = candidate["declines"]
    assert (candidate["name"], decline["reason"], decline["instance_id"]) == (name, "relocation", task["instance_id"])
    [case] = candidate["cases"]
    assert (case["instance_id"], case["completed_at"]) == (task["instance_id"], None), case   # started, going on
    # the archive task's own form (forms/archive_decline, changed too) has the reason chosen
    assert page.locator('[name="decline_reason"] option:checked').inner_text() == reason
    expect(page.locator("aside.task-context .reason")).to_have_text(reason)
    return task, decline


def filter_by_reason(page, reason: str, names: list[str]):
    page.locator("#nav a[href$='/candidates']").click()
    page.wait_for_selector("main[data-ready=candidates]")
    select = page.locator('main select[name="reason"]')
    assert reason in select.locator("option").all_inner_texts()
    select.select_option(label=reason)
    page.locator("main form button[type=submit]").click()
    page.wait_for_url(re.compile(r"reason=relocation"))
    rows = page.locator("table.candidates tbody tr")
    expect(rows).to_have_count(len(names))
    for name in names:
        expect(rows.filter(has_text=name)).to_have_count(1)
        assert reason in rows.filter(has_text=name).inner_text()


def switch_language(page, heading: str):
    page.locator("#lang-switch").click()
    page.wait_for_selector(f"main[data-ready] h1:text-is('{heading}')")


def test_relocation_and_the_day_60_follow_up_in_the_web_workspace(server, browser):
    page = browser.page(server.base)
    page.goto("/app/")
    page.wait_for_url(re.compile(r"/app/signin"))
    page.get_by_label("API 令牌").fill(server.tokens[HR])
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("main[data-ready] h1:text-is('我的待办')")

    # --- zh: the form offers 搬迁, the decline is recorded, its archive confirmed in the page
    zh_task, zh_decline = record_decline(page, server, name="张搬迁", reason="搬迁", consent="候选人同意进入人才库",
                                         scope="所有岗位", submit="记录并开始案件")
    page.get_by_label("同意进入人才库").check()
    page.get_by_label("同意范围").select_option(label="所有岗位")
    page.get_by_label("同意有效期至").fill("2028-06-30")
    page.get_by_role("button", name="完成任务").click()
    expect(page.locator("#toast")).to_contain_text("已完成「记录未到岗原因」")
    filter_by_reason(page, "搬迁", ["张搬迁"])

    # --- en: the same in English (the archive of this one confirmed over the API)
    switch_language(page, "Candidates")
    en_task, en_decline = record_decline(page, server, name="Li Relocation", reason="Relocation",
                                         consent="The candidate consents to the talent pool", scope="Any role",
                                         submit="Record and start the case")
    server.ok("POST", f"/tasks/{en_task['id']}/complete", {"data": {
        "decline_reason": "relocation", "talent_pool_consent": True, "consent_scope": "any_role",
        "consent_expiry": "2028-06-30"}}, user=HR)
    filter_by_reason(page, "Relocation", ["Li Relocation", "张搬迁"])

    # --- the cadence on the simulated clock: day 30 sent, then nothing due on day 59 ...
    assert zh_decline["decline_date"] == en_decline["decline_date"]        # both "today" in the form
    declined = datetime.fromisoformat(zh_decline["decline_date"])
    cases = {zh_task["instance_id"], en_task["instance_id"]}

    def clock_to(day: int, hours: int):
        report = server.ok("POST", "/testing/clock",
                           {"set": (declined + timedelta(days=day, hours=hours)).isoformat()}, user=ADMIN)
        assert report["errors"] == 0, report
        return [i for i in server.ok("GET", "/workspace/inbox", user=HR)["items"] if i["instance_id"] in cases]

    day_30 = clock_to(31, 0)
    assert sorted(i["element_id"] for i in day_30) == ["follow_up_day_30"] * 2
    for item in day_30:
        server.ok("POST", f"/tasks/{item['id']}/complete", {"data": {
            "outcome": "sent", "channel": "wecom", "message_sent": "您好"}}, user=HR)
    assert clock_to(59, 23) == []
    # --- ... and the day-60 follow-up on day 60, due that day (the shipped cadence: day 90)
    due = declined + timedelta(days=60)
    items = clock_to(60, 1)
    assert sorted((i["element_id"], i["stage"]) for i in items) == [("follow_up_day_90", "day_90")] * 2
    assert {datetime.fromisoformat(i["follow_up_due_at"]) for i in items} == {due}

    for lang, inbox, step, reason in (("en", "My inbox", "Day-60 follow-up", "Relocation"),
                                      ("zh", "我的待办", "第 60 天跟进", "搬迁")):
        page.locator("#nav a").first.click()
        page.wait_for_selector(f"main[data-ready=inbox] h1:text-is('{inbox}')")
        rows = page.locator('table.inbox tbody tr[data-element-id="follow_up_day_90"]')
        expect(rows).to_have_count(2)
        for row in rows.all():
            assert row.locator("th a").inner_text() == step
            shown = row.locator("td time").get_attribute("datetime")
            assert datetime.fromisoformat(shown) == due, shown
            assert row.locator(".badge.overdue").count() == 0
        rows.filter(has_text="张搬迁").locator("th a").click()
        page.wait_for_selector(f"main[data-ready] h1:text-is('{step}')")
        context = page.locator("aside.task-context")
        expect(context.locator(".reason")).to_have_text(reason)
        assert "relocation" not in context.inner_text()
        if lang == "en":
            switch_language(page, "第 60 天跟进")
    page.context.close()
