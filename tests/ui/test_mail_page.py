"""Issue 17, email nobody was matched to, in the browser (HR, pages/mail.js): a mail pushed by the mail
gateway from an address no candidate has waits on the page; HR finds the candidate by name and assigns
it, which records the reply and moves the case to assess_reply (checked through the API); the page is
then empty; no serious axe-core violation. Chromium against a real `recall serve`."""
from __future__ import annotations

import urllib.request
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from playwright.sync_api import expect

from tests.support import ATS, HR
from tests.ui.test_accessibility import violations
from tests.ui.test_workspace import seed_case
from tests.ui.ui_harness import shot

pytestmark = pytest.mark.slow


def _push(server, sender: str, text: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "recall@mail.test", "回复:好久不见"
    message["Message-ID"] = make_msgid(domain="webmail.test")
    message.set_content(text)
    request = urllib.request.Request(f"{server.base}/api/v1/channels/email/inbound", data=bytes(message), method="POST",
                                     headers={"Content-Type": "message/rfc822",
                                              "Authorization": f"Bearer {server.tokens[ATS]}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def test_hr_assigns_an_unmatched_reply_to_the_candidate(server, browser):
    candidate_id, instance_id = seed_case(server, name="邮件候选人", reason="salary", decline_date="2026-01-01")
    server.ok("POST", "/testing/clock", {"advance": "P31D"}, user=ATS)
    _push(server, "邮件候选人 <new.address@webmail.test>", "我换了邮箱,下周可以聊。")

    page = browser.page(server.base)
    page.goto("/app/signin")
    page.wait_for_selector("main[data-ready=signin]")
    page.evaluate("token => sessionStorage.setItem('recall.token', token)", server.tokens[HR])
    page.goto("/app/")
    page.wait_for_selector("main[data-ready]")
    page.locator("#nav").get_by_role("link", name="待归属邮件").click()
    page.wait_for_selector("main[data-ready=mail]")
    card = page.locator("article[data-mail]")
    expect(card).to_have_count(1)
    expect(card.locator("blockquote")).to_have_text("我换了邮箱,下周可以聊。")
    expect(card.get_by_label("查找候选人")).to_have_value("邮件候选人")
    card.get_by_role("button", name="查找").click()
    assert not [v for v in violations(page) if v["impact"] in ("serious", "critical")]
    expect(card.get_by_role("button", name="归属给 邮件候选人")).to_be_visible()
    shot(page, "mail-unmatched.png")
    card.get_by_role("button", name="归属给 邮件候选人").click()
    expect(page.locator("#toast")).to_have_text("已记为 邮件候选人 的回复")
    expect(page.locator("#mail-empty")).to_be_visible()

    tasks = server.ok("GET", f"/tasks?instance_id={instance_id}&element_id=assess_reply", user=HR)["items"]
    assert len(tasks) == 1
    reply = server.ok("GET", f"/tasks/{tasks[0]['id']}", user=HR)["data"]["reply"]
    assert (reply["text"], reply["channel"]) == ("我换了邮箱,下周可以聊。", "email")
    assert server.ok("GET", "/channels/email/unmatched", user=HR)["items"] == []
    page.context.close()
