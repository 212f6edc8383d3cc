"""Sign in with WeCom in the browser (Chromium against a real `recall serve` with WeCom configured against the
fake WeCom): the sign-in page offers "使用企业微信登录" only when WeCom is set up, WeCom's return signs the
person in (the session cookie, the inbox), and a refused return comes back to the sign-in page saying so."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from playwright.sync_api import expect
from sqlalchemy import update

from tests.fakes.wecom_server import FakeWeCom
from tests.support import ADMIN
from tests.ui.ui_harness import shot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wecom(server):
    from engine.db import Database
    from engine.models import User

    with FakeWeCom() as fake:
        database = Database(server.url_db)
        with database.write_transaction() as s:
            s.execute(update(User).where(User.name == "hr.li").values(wecom_user_id="LiNa"))
        database.dispose()
        yield fake


def _wecom_link(page):
    link = page.get_by_role("link", name="使用企业微信登录")
    expect(link).to_be_visible()
    return link.get_attribute("href")


def test_the_button_appears_once_wecom_is_set_up_and_wecom_signs_hr_in(server, browser, wecom):
    page = browser.page(server.base)
    page.goto("/app/signin")
    page.wait_for_selector("form")
    expect(page.get_by_role("link", name="使用企业微信登录")).to_have_count(0)
    server.ok("PUT", "/channels/wecom", {"values": wecom.settings()}, user=ADMIN)

    page.goto("/app/signin")
    url = urlsplit(_wecom_link(page))
    shot(page, "signin-wecom.png", full_page=False)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert (url.netloc, query["appid"], query["agentid"]) == ("login.work.weixin.qq.com", wecom.corp_id,
                                                              str(wecom.agent_id))
    # the person signs in at WeCom, which sends the browser back with a code and the state
    page.goto(query["redirect_uri"] + "?" + urlencode({"code": wecom.oauth_code("LiNa"), "state": query["state"]}))
    page.wait_for_selector("h1:text('我的待办')")
    cookie = next(c for c in page.context.cookies() if c["name"] == "recall_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    page.context.clear_cookies()


def test_a_refused_return_says_so_on_the_sign_in_page(server, browser, wecom):
    server.ok("PUT", "/channels/wecom", {"values": wecom.settings()}, user=ADMIN)
    page = browser.page(server.base)
    page.goto("/app/signin")
    query = {k: v[0] for k, v in parse_qs(urlsplit(_wecom_link(page)).query).items()}
    page.goto(query["redirect_uri"] + "?" + urlencode({"code": wecom.oauth_code("Stranger"), "state": query["state"]}))
    page.wait_for_url(re.compile(r"/app/signin"))
    expect(page.locator(".field-error")).to_contain_text("企业微信登录没有成功")
    assert not any(c["name"] == "recall_session" for c in page.context.cookies())
