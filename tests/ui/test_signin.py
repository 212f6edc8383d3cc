"""Signing in as a person in the browser (issue 15, "sign-in that lasts"), Chromium against a real
`recall serve`: a wrong password is refused beside the form, the right one sets an HttpOnly session
cookie (no token in sessionStorage), a new tab is signed in too, a write carries the CSRF token,
sign-out ends the session on the server, and a one-time sign-in link works once and leads someone
without a password to set one. On the account page a person changes their password: mistakes are
named beside their field, the other browser is signed out, this one stays (also at phone width,
axe-core clean).
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support import HR_HRBP, MANAGER
from tests.ui.test_accessibility import violations
from tests.ui.test_workspace import seed_case

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"


def _database(server):
    from engine.db import Database
    return Database(server.url_db)


def test_hr_signs_in_with_a_password_works_in_a_new_tab_and_signs_out(server, browser):
    from engine.signin import set_password
    database = _database(server)
    set_password(database, "hr.li", PASSWORD)
    database.dispose()
    _, instance_id = seed_case(server, name="秦岚", reason="salary", decline_date="2026-02-01", archive_it=False)
    task = server.ok("GET", f"/tasks?instance_id={instance_id}&element_id=archive_decline", user="hr.li")["items"][0]

    page = browser.page(server.base)
    page.goto("/app/")
    page.wait_for_url(re.compile(r"/app/signin\?next="))
    page.get_by_label("用户名").fill("hr.li")
    page.get_by_label("密码", exact=True).fill("not the password")
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".field-error")).to_have_text("用户名或密码错误")
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("h1:text('我的待办')")
    cookie = next(c for c in page.context.cookies() if c["name"] == "recall_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("sessionStorage.getItem('recall.token')") is None

    tab = page.context.new_page()                      # a new tab shares the cookie: no second sign-in
    tab.goto(f"/app/tasks/{task['id']}")
    tab.wait_for_selector("#claim")
    tab.locator("#claim").click()                      # a write: sent with the X-CSRF-Token header
    expect(tab.locator("#toast")).to_be_visible()
    assert server.ok("GET", f"/tasks/{task['id']}", user="hr.li")["assignee"] == "hr.li"

    page.locator("#session").get_by_role("button", name="退出").click()
    page.wait_for_url(re.compile(r"/app/signin"))
    tab.goto("/app/")                                  # the session ended on the server, not only here
    tab.wait_for_url(re.compile(r"/app/signin\?next="))
    kinds = [e["actor"] for e in server.ok("GET", f"/process-instances/{instance_id}/history?limit=200",
                                           user="hr.li")["items"] if e["kind"] == "task_claimed"]
    assert kinds == ["hr.li"]


def test_a_one_time_sign_in_link_works_once(server, browser):
    from engine.signin import issue_link
    database = _database(server)
    token = issue_link(database, MANAGER)
    database.dispose()
    page = browser.page(server.base, lang="en")
    page.goto(f"/app/signin#token={token}")
    page.wait_for_selector("main[data-ready]:not([data-ready=signin])")
    assert "#token" not in page.url
    expect(page.locator("#session .who")).to_contain_text(MANAGER)
    again = browser.page(server.base, lang="en")
    again.goto(f"/app/signin#token={token}")
    expect(again.locator(".field-error")).to_contain_text("not valid")

    # no password yet: the link led to the account page, which asks for a first one (no current one)
    page.wait_for_selector("main[data-ready=account]")
    expect(page.get_by_role("heading", name="Set a password")).to_be_visible()
    expect(page.locator(".notice.info")).to_contain_text("one-time sign-in link")
    assert page.get_by_label("Current password").count() == 0
    page.get_by_label("New password", exact=True).fill(PASSWORD)
    page.get_by_label("New password again").fill(PASSWORD)
    page.get_by_role("button", name="Set password").click()
    page.wait_for_selector("main[data-ready=inbox]")               # then on to where they were going
    expect(page.locator("#toast")).to_contain_text("Password changed")
    fresh = browser.page(server.base, lang="en")                   # from now on: name and password
    fresh.goto("/app/signin")
    fresh.get_by_label("User name").fill(MANAGER)
    fresh.get_by_label("Password", exact=True).fill(PASSWORD)
    fresh.get_by_role("button", name="Sign in").click()
    fresh.wait_for_selector("main[data-ready=inbox]")


def _sign_in(browser, server, name, password, **kw):
    page = browser.page(server.base, **kw)
    page.goto("/app/signin")
    page.get_by_label("用户名").fill(name)
    page.get_by_label("密码", exact=True).fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("main[data-ready=inbox]")
    return page


def test_a_person_changes_their_password_and_their_other_browser_is_signed_out(server, browser):
    from engine.signin import set_password
    database = _database(server)
    set_password(database, HR_HRBP, PASSWORD)
    database.dispose()
    new = "春眠不觉晓 处处闻啼鸟"
    phone = _sign_in(browser, server, HR_HRBP, PASSWORD, width=390, height=844)
    desk = _sign_in(browser, server, HR_HRBP, PASSWORD)

    phone.locator("#session").get_by_role("link", name="我的账户").click()
    phone.wait_for_selector("main[data-ready=account]")
    expect(phone.get_by_role("heading", name="修改密码")).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390          # no sideways scrolling
    serious = [v for v in violations(phone) if v["impact"] in ("serious", "critical")]
    assert serious == [], serious

    current, fresh = phone.get_by_label("当前密码"), phone.get_by_label("新密码", exact=True)
    current.fill("not the password")
    fresh.fill(new)
    phone.get_by_label("再次输入新密码").fill(new + "!")
    phone.get_by_role("button", name="修改密码").click()
    expect(phone.locator("[id$=-again-err]")).to_have_text("两次输入的新密码不一致")  # caught here, nothing sent
    phone.get_by_label("再次输入新密码").fill(new)
    phone.get_by_role("button", name="修改密码").click()
    expect(phone.locator("[id$=-current-err]")).to_have_text("当前密码不正确")      # the server's 422, beside it
    expect(current).to_have_attribute("aria-invalid", "true")
    expect(current).to_be_focused()
    current.fill(PASSWORD)
    phone.get_by_role("button", name="修改密码").click()
    expect(phone.locator("#toast")).to_have_text("密码已修改;其他 1 处登录已退出")

    phone.goto("/app/")                                             # this browser stays signed in
    phone.wait_for_selector("main[data-ready=inbox]")
    desk.goto("/app/")                                              # the other one was signed out
    desk.wait_for_url(re.compile(r"/app/signin\?next="))
    _sign_in(browser, server, HR_HRBP, new)                         # the new password works
