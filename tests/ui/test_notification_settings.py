"""The account page's notification settings in Chromium against a real `recall serve` (issue 17): a hiring
manager without a WeCom id or email sees those channels disabled with why, picks a daily summary at 8 in
English, saves, and finds it kept after a reload (axe-core clean)."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support import MANAGER
from tests.ui.test_accessibility import violations
from tests.ui.ui_harness import shot

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"


def test_a_manager_chooses_a_daily_summary_on_their_account_page(server, browser):
    from engine.db import Database
    from engine.signin import set_password
    database = Database(server.url_db)
    set_password(database, MANAGER, PASSWORD)
    database.dispose()
    page = browser.page(server.base)
    page.goto("/app/signin")
    page.get_by_label("用户名").fill(MANAGER)
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("main[data-ready=inbox]")
    page.goto("/app/account")
    page.wait_for_selector("main[data-ready=account]")

    expect(page.get_by_role("heading", name="通知")).to_be_visible()
    channel = page.get_by_label("通知方式")
    expect(channel).to_have_value("none")
    expect(channel.locator("option[value=wecom]")).to_be_disabled()
    expect(channel.locator("option[value=wecom]")).to_contain_text("未设置")
    expect(page.get_by_label("汇总时间（点）")).to_be_hidden()
    page.get_by_label("发送时间").select_option("digest")
    page.get_by_label("汇总时间（点）").fill("8")
    page.get_by_label("通知语言").select_option("en")
    page.get_by_label("我所在队列的新任务也通知我").uncheck()
    page.get_by_role("button", name="保存通知设置").click()
    expect(page.locator("#toast")).to_have_text("通知设置已保存")
    serious = [v for v in violations(page) if v["impact"] in ("serious", "critical")]
    assert serious == [], serious

    page.reload()
    page.wait_for_selector("main[data-ready=account]")
    expect(page.get_by_label("发送时间")).to_have_value("digest")
    expect(page.get_by_label("汇总时间（点）")).to_have_value("8")
    expect(page.get_by_label("通知语言")).to_have_value("en")
    expect(page.get_by_label("我所在队列的新任务也通知我")).not_to_be_checked()
    shot(page, "account-notifications.png")
    assert server.ok("GET", "/users/me/notifications", user=MANAGER)["mode"] == "digest"
