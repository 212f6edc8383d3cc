"""Issue 20, who to call first in the browser: the candidate list sorted by recall likelihood with each score's
top reasons, the inbox showing the score beside a follow-up, and the recall list of a newly opened role where
HR pins a candidate to the top. Chromium against a real `recall serve`; every change checked through the API;
no serious axe-core violation; screenshots for docs/ranking.md."""
from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.support import ATS, HR, OWNER
from tests.ui.test_accessibility import violations
from tests.ui.ui_harness import shot

pytestmark = pytest.mark.slow
CONSENT = {"granted": True, "scope": "any_role", "source": "电话", "expires_at": "2027-06-30T00:00:00+08:00"}


def _signed_in(browser, server, user):
    page = browser.page(server.base)
    page.goto("/app/signin")
    page.wait_for_selector("main[data-ready=signin]")
    page.evaluate("token => sessionStorage.setItem('recall.token', token)", server.tokens[user])
    return page


def _candidate(server, name, role, signal=None):
    made = server.ok("POST", "/candidates", {"name": name, "role_applied": role, "consent": CONSENT}, user=HR)
    server.ok("POST", f"/candidates/{made['id']}/declines", {"reason": "salary", "role": role, "consent": CONSENT},
              user=ATS)
    if signal:
        server.ok("POST", f"/candidates/{made['id']}/signals", {"kind": signal, "text": "…", "source": "wecom"}, user=ATS)
    return made["id"]


def test_the_ranked_list_with_reasons_the_inbox_and_the_recall_list_of_a_role(server, browser):
    ids = {"open": _candidate(server, "林一", "后端工程师", "open_to_work"),
           "viewed": _candidate(server, "王二", "后端工程师", "growth_page_viewed"),
           "plain": _candidate(server, "赵三", "后端工程师"),
           "designer": _candidate(server, "钱四", "设计师")}
    assert server.ok("POST", "/ranking/refresh", user=HR)["scored"] == 4

    page = _signed_in(browser, server, HR)
    page.goto("/app/candidates")
    page.wait_for_selector("main[data-ready=candidates]")
    page.get_by_label("按召回可能性排序").check()
    page.get_by_role("button", name="搜索").click()
    page.wait_for_url("**sort=-likelihood**")
    page.wait_for_selector("main[data-ready=candidates] table.candidates")
    rows = page.locator("table.candidates tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.nth(0)).to_have_attribute("data-candidate-id", ids["open"])
    expect(rows.nth(0).locator(".likelihood li").first).to_contain_text("正在看机会")
    expect(rows.nth(0).locator(".likelihood li").first).to_contain_text("+1.0")
    expect(rows.nth(1)).to_have_attribute("data-candidate-id", ids["viewed"])
    expect(rows.nth(1).locator(".likelihood")).to_contain_text("看过成长路径页")
    assert not [v for v in violations(page) if v["impact"] in ("serious", "critical")]
    shot(page, "ranking-candidates.png")

    # the inbox: each follow-up's candidate with their likelihood (the archive_decline tasks of the four cases)
    page.goto("/app/")
    page.wait_for_selector("main[data-ready=inbox] table.inbox")
    row = page.locator(f"table.inbox tbody tr[data-candidate-id='{ids['open']}']").first
    expect(row.locator(".likelihood")).to_contain_text("%")
    shot(page, "ranking-inbox.png")

    # the recall list of the role, and a pin (a second click unpins)
    page.goto("/app/recall-list")
    page.wait_for_selector("main[data-ready=recall-list]")
    page.get_by_label("岗位(岗位档案的标识)").fill("后端工程师")
    page.get_by_role("button", name="查看").click()
    page.wait_for_selector("table.recall-list")
    listed = page.locator("table.recall-list tbody tr")
    expect(listed).to_have_count(3)
    expect(listed.nth(0)).to_have_attribute("data-candidate-id", ids["open"])
    page.locator(f"button[data-pin='{ids['plain']}']").click()
    expect(page.locator("table.recall-list tbody tr").nth(0)).to_have_attribute("data-candidate-id", ids["plain"])
    expect(page.locator("table.recall-list tbody tr").nth(0)).to_contain_text("已置顶")
    assert server.ok("GET", f"/recall-list?role_key={quote('后端工程师')}", user=HR)["items"][0]["pinned"] is True
    assert not [v for v in violations(page) if v["impact"] in ("serious", "critical")]
    shot(page, "ranking-recall-list.png")
    page.locator(f"button[data-pin='{ids['plain']}']").click()
    expect(page.locator("table.recall-list tbody tr").nth(0)).to_have_attribute("data-candidate-id", ids["open"])

    # a newcomer is scored when HR asks (the worker would at its next round)
    newcomer = _candidate(server, "孙五", "后端工程师")
    page.get_by_role("button", name="重新评分").click()
    expect(page.locator("table.recall-list tbody tr")).to_have_count(4)
    expect(page.locator(f"tr[data-candidate-id='{newcomer}'] .likelihood")).to_contain_text("%")

    # in English
    page.evaluate("localStorage.setItem('recall.lang', 'en')")
    page.reload()
    page.wait_for_selector("table.recall-list")
    expect(page.locator("table.recall-list tbody tr").nth(0).locator(".likelihood")).to_contain_text("Open to work")
    page.evaluate("localStorage.setItem('recall.lang', 'zh')")


def test_a_process_owner_changes_the_scorecard_in_the_browser(server, browser):
    viewed = _candidate(server, "周六", "数据分析师", "growth_page_viewed")
    opened = _candidate(server, "吴七", "数据分析师", "open_to_work")
    page = _signed_in(browser, server, OWNER)
    page.goto("/app/scorecard")
    page.wait_for_selector("main[data-ready=scorecard] #scorecard-form")
    expect(page.locator("#scorecard-in-use")).to_contain_text("评分卡 v0")
    expect(page.locator("tr[data-feature='reason:family']")).to_have_count(0)        # never an input
    page.get_by_label("看过成长路径页").fill("3")
    page.get_by_label("修改说明").fill("成长页更能说明意向")
    assert not [v for v in violations(page) if v["impact"] in ("serious", "critical")]
    shot(page, "ranking-scorecard.png")
    page.get_by_role("button", name="保存并重新评分").click()
    expect(page.locator("#scorecard-in-use")).to_contain_text("评分卡 v1")
    card = server.ok("GET", "/ranking/scorecard", user=OWNER)
    assert card["weights"]["signal_growth_page_viewed"] == 3 and card["note"] == "成长页更能说明意向"
    listed = server.ok("GET", f"/recall-list?role_key={quote('数据分析师')}", user=HR)["items"]
    assert [i["candidate_id"] for i in listed] == [viewed, opened]
