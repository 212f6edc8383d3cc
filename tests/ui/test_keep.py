"""Nothing typed is lost (issue 15), in Chromium against a real `recall serve`: a task's unsent form
survives a reload (a local draft per user and task) and a language switch; leaving it by a link asks
first, and staying keeps it; completing the task discards the draft; the decline form keeps what was
typed across a language switch.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.ui.test_workspace import seed_case, sign_in

pytestmark = pytest.mark.slow


def drafts(page):
    return page.evaluate("Object.keys(localStorage).filter((k) => k.startsWith('recall.draft.'))")


def test_a_task_draft_survives_a_reload_and_a_language_switch_and_leaving_asks_first(server, browser):
    _, instance_id = seed_case(server, name="秦月", reason="salary", decline_date="2026-02-01", archive_it=False)
    task = server.ok("GET", f"/tasks?instance_id={instance_id}&element_id=archive_decline", user="hr.li")["items"][0]
    page = browser.page(server.base)
    asked = []

    def answer(dialog, accept):
        asked.append((dialog.type, dialog.message))
        dialog.accept() if accept else dialog.dismiss()

    sign_in(page, server, "hr.li")
    page.goto(f"/app/tasks/{task['id']}")
    page.wait_for_selector("#task-form")
    detail = page.get_by_label("原因说明")
    detail.fill("薪资低于预期 2k,家人希望留在本地")
    assert drafts(page) == [f"recall.draft.hr.li.{task['id']}"]

    # a reload (the browser asks before unloading a changed form; here it is accepted)
    page.once("dialog", lambda d: answer(d, True))
    page.reload()
    page.wait_for_selector("#task-form")
    assert [kind for kind, _ in asked] == ["beforeunload"]
    expect(page.locator("#draft-notice")).to_contain_text("已恢复你上次未提交的草稿。")
    expect(page.get_by_label("原因说明")).to_have_value("薪资低于预期 2k,家人希望留在本地")

    # typing more, then switching the language: the text stays, the page is in English
    page.get_by_label("原因说明").fill("薪资低于预期 2k,家人希望留在本地;下半年可再联系")
    page.get_by_role("button", name="Switch to English").click()
    page.wait_for_selector("#draft-notice:text('Your unsent draft is back.')")
    expect(page.get_by_label("Details")).to_have_value("薪资低于预期 2k,家人希望留在本地;下半年可再联系")

    # leaving by a link asks; "stay" keeps the page and what was typed
    page.get_by_label("Details").press("End")
    page.get_by_label("Details").type("!")
    page.once("dialog", lambda d: answer(d, False))
    page.locator("#nav").get_by_role("link", name="Inbox").click()
    assert asked[-1] == ("confirm", "This form has changes that were not submitted. Leave anyway?")
    expect(page.get_by_label("Details")).to_have_value("薪资低于预期 2k,家人希望留在本地;下半年可再联系!")
    assert "/app/tasks/" in page.url

    # completing the task (the rest is prefilled from the decline) discards the draft
    page.locator("#complete").click()
    page.wait_for_selector("main[data-ready]:not([data-ready^='tasks/" + task["id"] + "'])")
    assert drafts(page) == []
    done = server.ok("GET", f"/tasks/{task['id']}", user="hr.li")
    assert done["status"] == "completed"
    page.context.close()


def test_the_decline_form_keeps_what_was_typed_across_a_language_switch(server, browser):
    page = browser.page(server.base)
    sign_in(page, server, "hr.li")
    page.goto("/app/declines/new")
    page.wait_for_selector("#record-decline")
    page.get_by_label("姓名").fill("韩梅")
    page.get_by_label("原因说明").fill("异地")
    page.get_by_role("button", name="Switch to English").click()
    page.wait_for_selector("h1:text('Record a decline')")
    expect(page.get_by_label("Name")).to_have_value("韩梅")
    expect(page.get_by_label("Details")).to_have_value("异地")
    page.context.close()
