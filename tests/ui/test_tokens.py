"""Issue 16, API tokens in the browser (admin, pages/tokens.js): find an integrator's tokens from the
admin menu, issue a second one (the secret shown once, copied with the button), see a taken name
refused beside the field, revoke the old one after a confirmation (a dismissed one changes nothing);
at phone width, and no serious axe-core violation. Chromium against a real `recall serve`; every
change is checked through the API with the tokens themselves."""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.support import ADMIN, ATS, HR, MANAGER
from tests.ui.test_accessibility import violations
from tests.ui.ui_harness import shot, sign_in

pytestmark = pytest.mark.slow


def _as_token(server, token: str, method="GET", path="/users/me"):
    return server.api(method, path, {} if method != "GET" else None, headers={"Authorization": f"Bearer {token}"})


def _serious(page):
    return [v for v in violations(page) if v["impact"] in ("serious", "critical")]


def test_an_admin_rotates_an_integrators_token_on_a_phone(server, browser):
    page = browser.page(server.base, width=390, height=844)
    sign_in(page, server, ADMIN)
    page.locator("#nav").get_by_role("link", name="API 令牌", exact=True).click()       # in an admin's menu
    page.wait_for_selector("main[data-ready=tokens]")
    expect(page.get_by_label("用户")).to_have_value(ATS)                  # the integrator first
    [old] = server.ok("GET", f"/users/{ATS}/tokens", user=ADMIN)["items"]
    expect(page.locator(f"tr[data-token='{old['id']}']")).to_contain_text("default")
    expect(page.locator(f"tr[data-token='{old['id']}']")).to_contain_text("永不过期")
    assert not _serious(page)

    page.get_by_role("button", name="签发", exact=True).click()          # nothing filled: said beside the field
    expect(page.locator("#" + page.get_by_label("名称").get_attribute("id") + "-err")).to_have_text("必填")
    page.get_by_label("名称").fill("ats-2027-01")
    page.get_by_label("权限").select_option("read")
    page.get_by_label("到期日(可选)").fill("2027-06-30")
    page.get_by_role("button", name="签发", exact=True).click()
    secret = page.locator("#token-secret")
    expect(secret).to_be_visible()
    expect(page.get_by_role("alert").filter(has=secret)).to_contain_text("只显示这一次")
    token = secret.inner_text()
    page.get_by_role("button", name="复制").click()
    expect(page.locator("#toast")).to_have_text("已复制令牌")
    assert page.evaluate("navigator.clipboard.readText()") == token
    assert not _serious(page)
    made = [t for t in server.ok("GET", f"/users/{ATS}/tokens", user=ADMIN)["items"] if t["name"] == "ats-2027-01"]
    assert [(t["scope"], t["expires_at"][:10], t["created_by"]) for t in made] == [("read", "2027-06-30", ADMIN)]
    assert _as_token(server, token)[0] == 200 and _as_token(server, token)[1]["name"] == ATS      # both work
    assert _as_token(server, server.tokens[ATS])[0] == 200
    assert _as_token(server, token, "POST", "/candidates")[0] == 403                     # read: GET only
    expect(page.locator(f"tr[data-token='{made[0]['id']}']")).to_contain_text("只读")

    # the same name again: refused beside the name; the secret is not shown again
    page.get_by_label("名称").fill("ats-2027-01")
    page.get_by_role("button", name="签发", exact=True).click()
    expect(page.locator("#" + page.get_by_label("名称").get_attribute("id") + "-err")).to_have_text("该用户已有同名令牌。")
    page.reload()
    page.wait_for_selector("main[data-ready=tokens]")
    expect(page.locator("#token-secret")).to_have_count(0)

    # revoke the old one: a dismissed confirmation changes nothing, an accepted one revokes it
    revoke = page.get_by_role("button", name="吊销令牌 default")
    page.once("dialog", lambda dialog: dialog.dismiss())
    revoke.click()
    assert _as_token(server, server.tokens[ATS])[0] == 200
    page.once("dialog", lambda dialog: dialog.accept())
    revoke.click()
    expect(page.locator("#toast")).to_have_text("令牌“default”已吊销。")
    expect(page.locator(f"tr[data-token='{old['id']}']")).to_have_count(0)
    assert _as_token(server, server.tokens[ATS])[0] == 401                               # the old one: refused
    assert _as_token(server, token)[0] == 200                                            # the new one still works
    page.context.close()


def test_an_admin_sets_changes_and_clears_a_managers_wecom_user_id(server, browser):
    """Issue 17: the WeCom user id WeCom sends, notifications and sign-in with WeCom use, on the same page."""
    server.ok("PATCH", f"/users/{HR}", {"wecom_user_id": "LiHR"}, user=ADMIN)
    page = browser.page(server.base)
    sign_in(page, server, ADMIN)
    page.goto(f"/app/tokens?user={MANAGER}")
    page.wait_for_selector("main[data-ready=tokens]")
    field = page.get_by_label("企业微信 UserID")
    expect(field).to_have_value("")
    error = page.locator("#" + field.get_attribute("id") + "-err")
    field.fill("王经理")                                          # not a WeCom id: said beside the field, nothing sent
    page.get_by_role("button", name="保存", exact=True).click()
    expect(error).to_have_text("1–64 个字母、数字或 _ - . @")
    field.fill("LiHR")                                            # HR's: the server's 409 names the field
    page.get_by_role("button", name="保存", exact=True).click()
    expect(error).to_contain_text("already belongs to hr.li")
    assert server.ok("GET", f"/users/{MANAGER}", user=ADMIN)["wecom_user_id"] is None
    field.fill(" WangLi ")
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.locator("#toast")).to_have_text(f"已保存 {MANAGER} 的企业微信 UserID")
    expect(error).to_be_hidden()
    assert server.ok("GET", "/users/me", user=MANAGER)["wecom_user_id"] == "WangLi"
    assert not _serious(page)
    shot(page, "user-wecom-id.png", element="form:has(#" + field.get_attribute("id") + ")")
    page.reload()
    page.wait_for_selector("main[data-ready=tokens]")
    expect(page.get_by_label("企业微信 UserID")).to_have_value("WangLi")
    page.get_by_label("企业微信 UserID").fill("")
    page.get_by_role("button", name="保存", exact=True).click()
    expect(page.locator("#toast")).to_have_text(f"已清除 {MANAGER} 的企业微信 UserID")
    assert server.ok("GET", f"/users/{MANAGER}", user=ADMIN)["wecom_user_id"] is None
    page.context.close()
