"""Issue 15, "Duplicates": HR merges two records of one person from the candidate's page, in Chromium
against a real `recall serve`: the likely duplicate is offered, both records are shown side by side,
the merge lands on the survivor with the other record's case, and an old link to the absorbed record
leads to the survivor. Then in English at phone width, opened with the other record preset; axe-core
clean with the comparison shown.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.ui.test_accessibility import violations
from tests.ui.test_workspace import seed_case, sign_in
from tests.ui.ui_harness import shot

pytestmark = pytest.mark.slow


def _ready(page, path):
    page.wait_for_selector(f"main[data-ready='{path}']")


def test_hr_merges_a_duplicate_and_an_old_link_leads_to_the_survivor(server, browser):
    absorbed, instance = seed_case(server, name="秦雨桐", reason="salary", decline_date="2026-02-01")
    survivor = server.ok("POST", "/candidates?allow_duplicate=true", {"name": "秦雨桐", "phone": "13912345678"},
                         user="hr.li")["id"]
    page = browser.page(server.base)
    sign_in(page, server, "hr.li")
    page.goto(f"/app/candidates/{survivor}")
    _ready(page, f"candidates/{survivor}")
    page.get_by_role("link", name="合并重复档案").click()
    _ready(page, f"candidates/{survivor}/merge")
    expect(page.locator("h1")).to_have_text("合并重复档案:秦雨桐")

    # the record with the same name is offered; choosing it shows both side by side
    expect(page.locator("#merge-results")).to_contain_text("可能重复的档案")
    page.locator(f"#merge-results button[data-candidate='{absorbed}']").click()
    table = page.locator("table.merge-compare")
    expect(table).to_be_visible()
    role_row = table.locator("tbody tr", has_text="应聘岗位")
    expect(role_row.locator("td").nth(0)).to_have_text("—")
    expect(role_row.locator("td").nth(2)).to_have_text("门店主管")          # filled from the other record
    expect(table.locator("tbody tr", has_text="未到岗").locator("td").nth(2)).to_have_text("1")
    assert server.api("GET", f"/candidates/{absorbed}", user="hr.li")[0] == 200      # nothing merged yet
    shot(page, "merge.png")

    page.locator("#merge-confirm").dblclick()
    _ready(page, f"candidates/{survivor}")
    expect(page.locator("#toast")).to_have_text("已合并到 秦雨桐")
    expect(page.locator(f"a[href='/app/cases/{instance}']").first).to_be_visible()
    merged = server.ok("GET", f"/candidates/{survivor}", user="hr.li")
    assert merged["role_applied"] == "门店主管" and merged["phone"] == "13912345678"
    assert [c["instance_id"] for c in merged["cases"]] == [instance]
    status, gone = server.api("GET", f"/candidates/{absorbed}", user="hr.li")
    assert status == 404 and gone["merged_into"] == survivor

    # an old link to the absorbed record opens the survivor
    page.goto(f"/app/candidates/{absorbed}")
    _ready(page, f"candidates/{survivor}")
    assert page.url.endswith(f"/app/candidates/{survivor}")
    expect(page.locator("#toast")).to_contain_text("已合并到另一份")


def test_in_english_at_phone_width_with_the_other_record_preset(server, browser):
    absorbed, _ = seed_case(server, name="Lena Zhou", reason="commute", decline_date="2026-02-03")
    survivor = server.ok("POST", "/candidates?allow_duplicate=true",
                         {"name": "Lena Zhou", "email": "lena.zhou@example.com"}, user="hr.li")["id"]
    page = browser.page(server.base, width=390, height=844, lang="en")
    page.goto("/app/signin")
    _ready(page, "signin")
    page.get_by_label("API token").fill(server.tokens["hr.li"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("main[data-ready]:not([data-ready=signin])")
    page.goto(f"/app/candidates/{survivor}/merge?from={absorbed}")
    _ready(page, f"candidates/{survivor}/merge")
    expect(page.locator("h1")).to_have_text("Merge a duplicate record into Lena Zhou")
    expect(page.locator("#merge-compare-title")).to_have_text("Both records side by side")
    expect(page.locator("#merge-compare")).to_contain_text("the stricter one holds")
    consent_row = page.locator("table.merge-compare tbody tr").last      # the absorbed record's grant stands
    expect(consent_row.locator("td").nth(0)).to_have_text("Not recorded")
    expect(consent_row.locator("td").nth(2)).to_contain_text("Similar roles · 2027-06-30")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    serious = [v for v in violations(page) if v["impact"] in ("serious", "critical")]
    assert not serious, serious
    page.get_by_role("button", name="Merge the records").click()
    _ready(page, f"candidates/{survivor}")
    expect(page.locator("#toast")).to_have_text("Merged into Lena Zhou")
    assert server.api("GET", f"/candidates/{absorbed}", user="hr.li")[0] == 404
    # merging it again (an old tab): said so, nothing else happens
    page.goto(f"/app/candidates/{survivor}/merge")
    _ready(page, f"candidates/{survivor}/merge")
    expect(page.locator("#merge-results")).not_to_contain_text("Choose")
