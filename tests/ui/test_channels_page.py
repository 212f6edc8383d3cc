"""Issue 17 in the browser: an admin sets up a channel on the settings page (drawn from its declared fields;
a missing field said beside it; the secret shown only as "已设置 ••••1234" and kept when left empty; the
connection test), then HR sends a day-30 follow-up through it from the task page: the confirmation dialog
with the final text and subject, the status on the page until the embedded worker sent it, the form filled
with what went out. Chromium against a real `recall serve` (with a channel of the tests' own,
tests/ui/channel_serve.py); every change checked through the API; no serious axe-core violation."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support import ADMIN, HR
from tests.ui.test_accessibility import violations
from tests.ui.test_workspace import seed_case
from tests.ui.ui_harness import Server, chromium_or_skip, shot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    chromium_or_skip()
    srv = Server(tmp_path_factory.mktemp("ui-channels"), module="tests.ui.channel_serve")
    yield srv
    output = srv.stop()
    assert "Traceback" not in output, output


def _signed_in(browser, server, user, **size):
    page = browser.page(server.base, **size)
    page.goto("/app/signin")
    page.wait_for_selector("main[data-ready=signin]")
    page.evaluate("token => sessionStorage.setItem('recall.token', token)", server.tokens[user])
    return page


def test_an_admin_sets_up_the_channel_and_hr_sends_a_follow_up_through_it(server, browser):
    page = _signed_in(browser, server, ADMIN)
    page.goto("/app/")
    page.wait_for_selector("main[data-ready]")
    page.locator("#nav").get_by_role("link", name="渠道设置", exact=True).click()
    page.wait_for_selector("main[data-ready=channels]")
    card = page.locator("form[data-channel=email]")
    expect(card.locator(".channel-state")).to_have_text("尚未配置")
    card.get_by_label("SMTP 服务器").fill("smtp.example.com")
    card.get_by_role("button", name="保存").click()                        # user and password missing
    expect(card.locator("[data-field=username] .field-error")).to_be_visible()
    expect(card.locator("[data-field=password] .field-error")).to_be_visible()
    card.get_by_label("用户名").fill("hr@example.com")
    card.get_by_label("密码").fill("app-password-1234")
    card.get_by_role("button", name="保存").click()
    expect(page.locator("#toast")).to_have_text("渠道设置已保存")
    card = page.locator("form[data-channel=email]")
    expect(card.locator("[data-secret=password]")).to_have_text("已设置 ••••1234")
    expect(card.get_by_label("密码")).to_have_value("")                   # never sent back to the page
    saved = server.ok("GET", "/channels/email", user=ADMIN)
    assert saved["values"]["password"] == {"set": True, "hint": "1234"} and saved["enabled"] is True
    card.get_by_label("SMTP 服务器").fill("mail.example.com")               # the secret left empty: kept
    card.evaluate("form => { form.dataset.old = 'yes'; }")
    card.get_by_role("button", name="保存").click()
    page.wait_for_selector("form[data-channel=email]:not([data-old])")     # the saved card drawn again
    assert server.ok("GET", "/channels/email", user=ADMIN)["values"]["password"]["set"] is True
    card = page.locator("form[data-channel=email]")
    card.get_by_role("button", name="测试连接").click()
    expect(card.locator("[data-test-result=ok]")).to_have_text("连接成功:mail.example.com accepted hr@example.com")
    card.get_by_label("SMTP 服务器").fill("unreachable.example")
    card.get_by_role("button", name="测试连接").click()
    expect(card.locator("[data-test-result=failed]")).to_contain_text("connection refused")
    assert server.ok("GET", "/channels/email", user=ADMIN)["values"]["smtp_host"] == "mail.example.com"
    assert not [v for v in violations(page) if v["impact"] in ("serious", "critical")]
    page.context.close()

    # HR at the day-30 follow-up of a candidate with an email and consent
    cid, instance_id = seed_case(server, name="邮件候选人", reason="salary", decline_date="2026-01-01")
    server.ok("PATCH", f"/candidates/{cid}", {"email": "cand@example.com"}, user=HR)
    server.ok("POST", "/testing/clock", {"advance": "P31D"}, user=ADMIN)
    [task] = server.ok("GET", f"/tasks?instance_id={instance_id}&element_id=follow_up_day_30", user=HR)["items"]
    page = _signed_in(browser, server, HR, width=390, height=844)
    page.goto(f"/app/tasks/{task['id']}")
    page.wait_for_selector("main[data-ready^=tasks]")
    expect(page.locator("#send-via-email")).to_have_count(0)                # claim first
    page.locator("#claim").click()
    page.wait_for_selector("#send-via-email")
    expect(page.locator("#copy-suggestion")).to_be_visible()                 # the copy path stays
    page.locator("#send-via-email").click()
    dialog = page.locator("#send-dialog")
    expect(dialog).to_be_visible()
    suggested = page.locator("#suggested-message").inner_text()
    expect(dialog.get_by_label("消息内容")).to_have_value(suggested)
    expect(dialog.get_by_label("邮件主题")).to_have_value("好久不见")
    dialog.get_by_label("消息内容").fill(suggested + " 祝好!")
    assert not [v for v in violations(page) if v["impact"] in ("serious", "critical")]
    shot(page, "send-dialog-phone.png", full_page=False)
    dialog.get_by_role("button", name="确认发送").click()
    expect(page.locator("#send-dialog")).to_have_count(0)
    row = page.locator("#task-sends li.send")
    expect(row).to_have_count(1)
    expect(row.locator(".send-status")).to_have_text("已发送", timeout=15000)   # polled until the worker sent it
    [send] = server.ok("GET", f"/tasks/{task['id']}/sends", user=HR)["items"]
    assert (send["status"], send["text"], send["subject"]) == ("sent", suggested + " 祝好!", "好久不见")
    assert send["provider_id"] == f"<{send['id']}@ui.test>"
    expect(page.get_by_label("实际发送的消息")).to_have_value(suggested + " 祝好!")   # what went out, recorded
    expect(page.get_by_label("跟进渠道")).to_have_value("1")                    # email: the enum's 2nd
    expect(page.get_by_label("已发送", exact=True)).to_be_checked()
    page.locator("#complete").click()
    page.wait_for_selector("main[data-ready]:not([data-ready^=tasks])")
    history = server.ok("GET", f"/process-instances/{instance_id}/history", user=HR)["items"]
    [recorded] = [e for e in history if e["kind"] == "channel_sends_recorded"]
    assert recorded["details"]["sends"][0]["text_recorded"] is True
    page.context.close()


def test_the_real_channels_settings_page_shows_wecom_and_email_without_their_secrets(tmp_path_factory, browser):
    """The page as a company sees it (docs/channels.md's screenshot): the WeCom and email channels this
    service ships, WeCom saved (secrets shown as set with their last four characters only)."""
    chromium_or_skip()
    real = Server(tmp_path_factory.mktemp("ui-real-channels"))
    try:
        real.ok("PUT", "/channels/wecom", {"values": {
            "corp_id": "ww4d2c1a7e9f3b5d80", "agent_id": 1000002, "secret": "Fq3-app-secret-from-wecom-x9Kd",
            "callback_token": "cbToken7Q2s", "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"}},
            user=ADMIN)
        real.ok("PUT", "/channels/email", {"values": {
            "smtp_host": "smtp.exmail.qq.com", "smtp_port": 465, "smtp_security": "ssl",
            "smtp_username": "recall@example.com", "smtp_password": "mail-app-password-7f3A",
            "from_address": "hr@example.com", "from_name": "李娜(某某公司招聘)", "reply_to": "recall@example.com"}},
            user=ADMIN)          # no IMAP host: the embedded worker would try to read a mailbox it cannot reach
        page = _signed_in(browser, real, ADMIN)
        page.goto("/app/channels")
        page.wait_for_selector("main[data-ready=channels]")
        wecom, email = page.locator("form[data-channel=wecom]"), page.locator("form[data-channel=email]")
        expect(wecom.locator("[data-secret=secret]")).to_have_text("已设置 ••••x9Kd")
        expect(wecom.locator("[data-secret=encoding_aes_key]")).to_have_text("已设置 ••••2B2C")
        expect(wecom.locator("[data-secret=callback_token]")).to_have_text("已设置 ••••")      # too short for a hint
        expect(email.locator("[data-secret=smtp_password]")).to_have_text("已设置 ••••7f3A")
        expect(email.get_by_label("SMTP 服务器")).to_have_value("smtp.exmail.qq.com")
        assert "Fq3-app-secret" not in page.content() and "mail-app-password" not in page.content()
        assert not [v for v in violations(page) if v["impact"] in ("serious", "critical")]
        shot(page, "channels-settings.png")
        page.context.close()
        page = browser.page(real.base, lang="en")                       # the same page in English
        page.goto("/app/signin")
        page.wait_for_selector("main[data-ready=signin]")
        page.evaluate("token => sessionStorage.setItem('recall.token', token)", real.tokens[ADMIN])
        page.goto("/app/channels")
        page.wait_for_selector("main[data-ready=channels]")
        expect(page.locator("form[data-channel=email]").get_by_label("SMTP server")).to_have_value("smtp.exmail.qq.com")
        shot(page, "channels-settings-en.png")
        page.context.close()
    finally:
        output = real.stop()
    assert "Traceback" not in output, output
