"""The inbox's columns sort (issue 15, "Columns can be sorted"): a header link asks the server for that
order (GET /workspace/inbox?sort=&order=), says which column is sorted (aria-sort), and a second click
flips it; the queue chosen stays. Chromium against a real `recall serve`.
"""
from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.ui.test_workspace import seed_case, sign_in

pytestmark = pytest.mark.slow


def shown(page):
    return [row.get_attribute("data-task-id") for row in page.locator("table.inbox tbody tr").all()]


def expected(server, order):
    return [x["id"] for x in server.ok("GET", f"/workspace/inbox?sort=candidate&order={order}", user="hr.li")["items"]]


def test_hr_sorts_the_inbox_by_candidate_and_back(server, browser):
    for name in ("乙", "甲", "丙"):
        seed_case(server, name=name, reason="salary", decline_date="2026-02-01", archive_it=False)
    page = browser.page(server.base)
    sign_in(page, server, "hr.li")
    page.locator("table.inbox thead a[data-sort=candidate]").click()
    page.wait_for_url("**/app/?sort=candidate&order=asc")
    page.wait_for_selector("th[aria-sort=ascending] a[data-sort=candidate]")
    assert shown(page) == expected(server, "asc") and len(shown(page)) == 3
    page.locator("table.inbox thead a[data-sort=candidate]").click()
    page.wait_for_selector("th[aria-sort=descending] a[data-sort=candidate]")
    assert shown(page) == expected(server, "desc") == list(reversed(expected(server, "asc")))
    expect(page.locator("th[aria-sort]")).to_have_count(1)
    page.locator(".queues a", has_text="分配给我").click()
    page.wait_for_url("**/app/?sort=candidate&order=desc&queue=mine")
    page.context.close()
