"""HR records what the candidate did from the candidate's page (issue 15, "HR can record what the
candidate did"), in Chromium against a real `recall serve`: a reply (a required field is named
beside it, a double click records it once, audited as HR), an offer answer nobody waits for (refused,
said so, nothing recorded), a signal (shown as a signal, raising `react_to_signal`), and in English at
phone width new-hire feedback kept until a case waits for it.
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


def choose(page, what):
    page.locator("#record select[name=what]").select_option(label=what)
    page.wait_for_selector("#record form.record-form")


def reload_ready(page, candidate_id):
    page.wait_for_selector(f"main[data-ready='candidates/{candidate_id}'] #record")


def test_hr_records_a_reply_an_offer_answer_and_a_signal_in_chinese(server, browser):
    candidate_id, instance_id = seed_case(server, name="周敏", reason="salary", decline_date="2026-02-01")
    page = browser.page(server.base)
    sign_in(page, server, "hr.li")
    open_candidate(page, candidate_id)
    expect(page.locator("#record-title")).to_have_text("记录候选人的动态")

    # a reply: the text is required and named beside its field; nothing is sent
    choose(page, "候选人回复了")
    page.locator("#record-submit").click()
    error = page.locator("#record .field-error:visible")
    expect(error).to_have_text("必填")
    assert not [m for m in server.ok("GET", f"/candidates/{candidate_id}", user="hr.li")["messages"]
                if m["direction"] == "received"]

    page.get_by_label("候选人的回复").fill("最近在考虑机会,下周一电话聊")
    page.get_by_label("渠道").select_option(label="电话")
    page.locator("#record-submit").dblclick()
    reload_ready(page, candidate_id)
    expect(page.locator("#toast")).to_have_text("已记录,案件已收到。")
    received = [m for m in server.ok("GET", f"/candidates/{candidate_id}", user="hr.li")["messages"]
                if m["direction"] == "received"]
    assert [(m["text"], m["channel"]) for m in received] == [("最近在考虑机会,下周一电话聊", "phone")]
    history = server.ok("GET", f"/process-instances/{instance_id}/history?limit=200", user="hr.li")["items"]
    delivered = [e for e in history if e["kind"] == "message_delivered"]
    assert [(e["details"]["name"], e["actor"]) for e in delivered] == [("candidate_replied", "hr.li")]
    assert server.ok("GET", f"/tasks?instance_id={instance_id}&element_id=assess_reply", user="hr.li")["items"]
    expect(page.locator("#messages-title + ol")).to_contain_text("最近在考虑机会,下周一电话聊")

    # an offer answer while no offer is out: refused and said so, nothing recorded
    choose(page, "候选人答复了 offer")
    page.get_by_label("接受").check()
    page.locator("#record-submit").click()
    expect(page.locator("#record .form-status")).to_contain_text("现在没有案件在等待“候选人答复了 offer”")
    history = server.ok("GET", f"/process-instances/{instance_id}/history?limit=200", user="hr.li")["items"]
    assert [e["details"]["name"] for e in history if e["kind"] == "message_delivered"] == ["candidate_replied"]

    # a signal for another candidate in the cadence: shown as a signal, HR gets react_to_signal
    other_id, other_instance = seed_case(server, name="吴昊", reason="salary", decline_date="2026-02-01")
    open_candidate(page, other_id)
    choose(page, "新动态(例如愿意重新考虑)")
    page.get_by_label(re.compile(r"^动态")).select_option(label="愿意重新考虑工作机会")
    page.get_by_label("说明").fill("领英上更新了求职状态")
    page.get_by_label("来源").fill("领英")
    page.locator("#record-submit").click()
    reload_ready(page, other_id)
    expect(page.locator("#toast")).to_have_text("动态已记录,已为 HR 生成跟进任务。")
    signal_message = page.locator("#messages-title + ol li", has_text="领英上更新了求职状态")
    expect(signal_message.locator("strong")).to_have_text("新动态")
    expect(page.locator("#timeline-title + ol")).to_contain_text("新动态:愿意重新考虑工作机会")
    signals = server.ok("GET", f"/candidates/{other_id}", user="hr.li")["signals"]
    assert [(s["kind"], s["source"], s["recorded_by"]) for s in signals] == [("open_to_work", "领英", "hr.li")]
    assert server.ok("GET", f"/tasks?instance_id={other_instance}&element_id=react_to_signal", user="hr.li")["items"]
    page.context.close()


def test_new_hire_feedback_in_english_at_phone_width_is_kept_until_a_case_waits(server, browser):
    candidate_id, _ = seed_case(server, name="Li Na", reason="salary", decline_date="2026-02-01")
    page = browser.page(server.base, width=390, height=844)
    sign_in(page, server, "hr.li")
    page.get_by_role("button", name="Switch to English").click()
    page.wait_for_selector("h1:text('My inbox')")
    open_candidate(page, candidate_id)
    expect(page.locator("#record-title")).to_have_text("Record what the candidate did")
    choose(page, "New-hire feedback")
    page.get_by_label("The new hire's feedback").fill("Settling in well")
    page.locator("#record-submit").click()
    reload_ready(page, candidate_id)
    expect(page.locator("#toast")).to_have_text("Recorded; no case waits for it yet, it is kept until one does.")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.context.close()



def test_a_decline_for_someone_the_archive_has_offers_that_record(server, browser):
    existing = server.ok("POST", "/candidates", {"name": "钱多多", "phone": "138 0000 1111"}, user="hr.li")
    page = browser.page(server.base)
    sign_in(page, server, "hr.li")
    page.goto("/app/declines/new")
    page.wait_for_selector("#record-decline")
    page.get_by_label("姓名").fill("钱小多")
    page.get_by_label("电话").fill("+86 138-0000-1111")
    page.get_by_label("未到岗原因").select_option(label="薪资")
    page.locator("#record-decline").click()
    notice = page.locator("#duplicates")
    expect(notice).to_contain_text("档案里可能已经有这个人")
    expect(notice).to_contain_text("钱多多")
    names = [c["name"] for c in server.ok("GET", "/candidates?limit=100", user="hr.li")["items"]]
    assert "钱小多" not in names                                # nothing created yet
    notice.locator(".use-existing").first.click()
    expect(page.locator(".chosen")).to_contain_text("钱多多")
    page.locator("#record-decline").click()
    page.wait_for_selector("#task-form")
    declines = server.ok("GET", f"/candidates/{existing['id']}", user="hr.li")["declines"]
    assert [d["reason"] for d in declines] == ["salary"]
    assert "钱小多" not in [c["name"] for c in server.ok("GET", "/candidates?limit=100", user="hr.li")["items"]]

    # not the same person after all: a new record anyway
    page.goto("/app/declines/new")
    page.wait_for_selector("#record-decline")
    page.get_by_label("姓名").fill("钱三多")
    page.get_by_label("电话").fill("13800001111")
    page.get_by_label("未到岗原因").select_option(label="薪资")
    page.locator("#record-decline").click()
    page.locator("#create-anyway").click()
    page.wait_for_selector("#task-form")
    assert "钱三多" in [c["name"] for c in server.ok("GET", "/candidates?limit=100", user="hr.li")["items"]]
    page.context.close()
