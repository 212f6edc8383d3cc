"""Issue 16, webhooks in the browser (admin, pages/webhooks.js): subscribe a URL to case ends, see the
secret once, find the delivery the embedded worker attempted in the log, redeliver it, disable and enable
the webhook again; at phone width, and no serious axe-core violation. Chromium against a real
`recall serve`; every change is checked through the API."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support import ADMIN
from tests.ui.test_accessibility import violations
from tests.ui.test_workspace import seed_case

pytestmark = pytest.mark.slow
DEAD_END = "http://127.0.0.1:9/hooks"          # nothing listens: each attempt fails at once


def test_an_admin_manages_a_webhook_on_a_phone(server, browser):
    page = browser.page(server.base, width=390, height=844)
    page.goto("/app/signin")
    page.wait_for_selector("main[data-ready=signin]")
    page.evaluate("token => sessionStorage.setItem('recall.token', token)", server.tokens[ADMIN])
    page.goto("/app/")
    page.wait_for_selector("main[data-ready]")
    page.locator("#nav").get_by_role("link", name="Webhook", exact=True).click()    # in an admin's menu
    page.wait_for_selector("main[data-ready=webhooks]")

    page.get_by_role("button", name="创建").click()                       # nothing filled: said beside the field
    expect(page.locator("#" + page.get_by_label("接收地址").get_attribute("id") + "-err")).to_have_text("必填")
    page.get_by_label("接收地址").fill(DEAD_END)
    page.get_by_label("case.ended").check()
    page.get_by_role("button", name="创建").click()
    secret = page.locator("#webhook-secret")
    expect(secret).to_contain_text("whsec_")
    [hook] = server.ok("GET", "/webhooks", user=ADMIN)["items"]
    assert (hook["url"], hook["kinds"], hook["status"]) == (DEAD_END, ["case.ended"], "active")
    assert not [v for v in violations(page) if v["impact"] in ("serious", "critical")]

    # a case ends; the embedded worker tries to deliver it and fails: the log shows it
    _, instance_id = seed_case(server, name="钩子页", reason="salary", decline_date="2026-02-01", archive_it=False)
    server.ok("POST", f"/process-instances/{instance_id}/cancel", {"reason": "test"}, user="hr.li")
    log = []
    for _ in range(100):
        log = server.ok("GET", f"/webhooks/{hook['id']}/deliveries", user=ADMIN)["items"]
        if log and log[0]["attempts"]:
            break
        page.wait_for_timeout(100)
    assert log and log[0]["event_kind"] == "case.ended" and log[0]["error"], log
    page.goto(f"/app/webhooks?id={hook['id']}")
    page.wait_for_selector("main[data-ready=webhooks]")
    expect(page.locator("#webhook-secret")).to_have_count(0)             # shown once only
    expect(page.get_by_text("case.ended #" + log[0]["event_id"])).to_be_visible()
    page.get_by_role("button", name="重新推送").click()
    expect(page.locator("#toast")).to_have_text("已安排重新推送。")
    assert not [v for v in violations(page) if v["impact"] in ("serious", "critical")]

    # disable, then enable again
    page.locator(f"tr[data-webhook='{hook['id']}'] .webhook-toggle").click()
    expect(page.locator("#toast")).to_have_text("Webhook 已停用。")
    assert server.ok("GET", f"/webhooks/{hook['id']}", user=ADMIN)["status"] == "disabled"
    page.wait_for_selector(f"tr[data-webhook='{hook['id']}'] .webhook-toggle:has-text('重新启用')")
    page.locator(f"tr[data-webhook='{hook['id']}'] .webhook-toggle").click()
    expect(page.locator("#toast")).to_have_text("Webhook 已重新启用。")
    assert server.ok("GET", f"/webhooks/{hook['id']}", user=ADMIN)["status"] == "active"
    page.context.close()
