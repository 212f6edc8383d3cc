"""HR changes the archive record and ends cases in the browser (issue 15): edit the profile, tags, notes,
needs and questions; renew and withdraw the consent (the running cases end); erase the person after a
confirmation that says what goes; cancel a case with a reason (English, phone width). Chromium against a
real `recall serve`; every change is checked through the API.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.ui.test_workspace import seed_case, sign_in

pytestmark = pytest.mark.slow


def open_candidate(page, candidate_id):
    page.goto(f"/app/candidates/{candidate_id}")
    page.wait_for_selector(f"main[data-ready='candidates/{candidate_id}']")


def test_hr_edits_the_profile_renews_and_withdraws_consent_and_erases_in_chinese(server, browser):
    candidate_id, instance_id = seed_case(server, name="孙琳", reason="salary", decline_date="2026-02-01")
    page = browser.page(server.base)
    dialogs = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    sign_in(page, server, "hr.li")
    open_candidate(page, candidate_id)

    # the profile: an emptied name is named beside its field; then tags, notes and a need are saved
    page.locator("#edit-profile summary").click()
    page.get_by_label(re.compile("^姓名")).fill("")
    page.locator("#edit-profile-submit").click()
    expect(page.locator("#edit-profile .field-error:visible").first).to_have_text("必填")
    page.get_by_label(re.compile("^姓名")).fill("孙琳琳")
    page.get_by_label("备注").fill("更看重通勤时间")
    tags = page.locator("#edit-profile [data-path=tags]")
    tags.locator(".add-item").click()
    tags.locator("input").last.fill("回流意向高")
    page.locator("#edit-profile-submit").click()
    expect(page.locator("#toast")).to_have_text("资料已保存。")
    page.wait_for_selector("h1:has-text('孙琳琳')")
    saved = server.ok("GET", f"/candidates/{candidate_id}", user="hr.li")
    assert (saved["name"], saved["notes"], saved["tags"]) == ("孙琳琳", "更看重通勤时间", ["回流意向高"])
    assert saved["role_applied"] == "门店主管"             # a field left alone stays

    # the consent: renewed with a new expiry, then withdrawn (the running case ends)
    page.locator("#edit-consent summary").click()
    page.get_by_label(re.compile("^如何取得同意")).fill("电话续期")
    page.get_by_label(re.compile("^有效期至")).fill("2027-12-31")
    page.locator("#edit-consent-submit").click()
    expect(page.locator("#toast")).to_have_text("同意已记录。")
    consent = server.ok("GET", f"/candidates/{candidate_id}", user="hr.li")["consent"]
    assert (consent["granted"], consent["source"], consent["expires_on"]) == (True, "电话续期", "2027-12-31")
    page.wait_for_selector("#withdraw-consent")
    page.locator("#withdraw-consent").click()
    assert "进行中的案件都会结束" in dialogs[-1]
    expect(page.locator("#toast")).to_have_text("同意已撤回,进行中的案件已结束。")
    assert server.ok("GET", f"/process-instances/{instance_id}", user="hr.li")["status"] == "cancelled"

    # erasure: the confirmation says what goes
    page.wait_for_selector("#erase")
    page.locator("#erase").click()
    assert "孙琳琳" in dialogs[-1] and "联系方式" in dialogs[-1] and "无法撤销" in dialogs[-1]
    page.wait_for_selector("main[data-ready=candidates]")
    expect(page.locator("#toast")).to_contain_text("个人数据已删除")
    status, problem = server.api("GET", f"/candidates/{candidate_id}", user="hr.li")
    assert status == 404 and "erased" in problem["detail"]
    page.context.close()


def test_hr_cancels_a_case_with_a_reason_in_english_on_a_phone(server, browser):
    _, instance_id = seed_case(server, name="Wei Jun", reason="salary", decline_date="2026-02-01")
    page = browser.page(server.base, width=390, height=844)
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, server, "hr.li")
    page.get_by_role("button", name="Switch to English").click()
    page.wait_for_selector("h1:text('My inbox')")
    page.goto(f"/app/cases/{instance_id}")
    page.wait_for_selector("#cancel summary")
    page.locator("#cancel summary").click()
    page.locator("#cancel-case").click()
    expect(page.locator("#cancel .field-error")).to_have_text("Required")
    assert server.ok("GET", f"/process-instances/{instance_id}", user="hr.li")["status"] != "cancelled"
    page.get_by_label("Why it is cancelled").fill("Hired elsewhere for good")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("#cancel-case").click()
    expect(page.locator("#toast")).to_have_text("The case is cancelled.")
    assert server.ok("GET", f"/process-instances/{instance_id}", user="hr.li")["status"] == "cancelled"
    history = server.ok("GET", f"/process-instances/{instance_id}/history?limit=200", user="hr.li")["items"]
    cancelled = [e for e in history if e["kind"] == "instance_cancelled"]
    assert [(e["actor"], e["details"].get("reason")) for e in cancelled] == [("hr.li", "Hired elsewhere for good")]
    expect(page.locator("#cancel")).to_have_count(0)
    page.context.close()
