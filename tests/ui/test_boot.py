"""A page load's first reads (api/web/static/boot.js, inlined in the shell) in Chromium against a real
`recall serve` (issue 15, "Fast"): who is signed in, the vocabulary and the inbox are asked once
each, before the modules have arrived, and the app takes those answers over instead of asking
again; only the inbox's modules load up front, another page's module when it is first drawn. With
a session cookie the same, /session included; answers sent before signing in (401s) are never
used once someone has signed in.
"""
from __future__ import annotations

import re

import pytest

from tests.ui.test_workspace import seed_case

pytestmark = pytest.mark.slow
PASSWORD = "correct horse battery"
FIRST_READS = ("/api/v1/session", "/api/v1/workspace/me", "/api/v1/vocabulary", "/api/v1/workspace/inbox")


def record_requests(page) -> list[str]:
    seen: list[str] = []
    page.on("request", lambda request: seen.append(re.sub(r"^https?://[^/]+", "", request.url)))
    return seen


def count(seen: list[str], path: str) -> int:
    return sum(1 for url in seen if url.split("?")[0] == path)


def static_files(seen: list[str]) -> set[str]:
    return {re.sub(r"^/app/static/v/[0-9a-f]{16}/", "", url) for url in seen if url.startswith("/app/static/v/")}


def test_a_token_load_asks_each_first_read_once_and_loads_other_pages_lazily(server, browser):
    seed_case(server, name="韩梅", reason="salary", decline_date="2026-02-01", archive_it=False)
    page = browser.page(server.base, width=390, height=844)
    page.add_init_script(f"sessionStorage.setItem('recall.token', {server.tokens['hr.li']!r})")
    seen = record_requests(page)
    page.goto("/app/")
    page.wait_for_selector("main[data-ready=inbox] table.inbox tbody tr")
    assert "韩梅" in page.locator("table.inbox").text_content()
    # a token: no /session; me, vocabulary and the inbox once each (boot.js's answers were taken over)
    assert [count(seen, path) for path in FIRST_READS] == [0, 1, 1, 1], seen
    assert page.locator("nav#nav a", has_text="候选人").count() == 1     # the role from /workspace/me
    # sent by the shell's inline script while the page was parsed, before the modules ran
    timing = page.evaluate("""() => Object.fromEntries(performance.getEntries()
        .filter((e) => e.entryType === 'resource' || e.entryType === 'mark')
        .map((e) => [e.name.replace(location.origin, ''), e.startTime]))""")
    assert timing["boot"] <= timing["/api/v1/workspace/inbox"] < timing["app"], timing
    loaded = static_files(seen)
    assert {"app.js", "api.js", "pages/inbox.js", "views.js", "app.css"} <= loaded
    assert not loaded & {"pages/task.js", "form.js", "pages/case.js", "diagram.js", "boot.js"}, loaded

    page.locator("table.inbox tbody tr th a").first.click()              # another page: imported now
    page.wait_for_selector("main[data-ready^='tasks/'] #task-form")
    assert {"pages/task.js", "form.js"} <= static_files(seen)
    assert count(seen, "/api/v1/workspace/me") == 1                       # still known, not asked again
    page.go_back()
    page.wait_for_selector("main[data-ready=inbox] table.inbox tbody tr")
    assert count(seen, "/api/v1/workspace/inbox") == 2                    # drawn again: asked again
    page.context.close()


def test_a_cookie_session_load_takes_over_the_early_reads_and_never_a_stale_401(server, browser):
    from engine.db import Database
    from engine.signin import set_password
    database = Database(server.url_db)
    set_password(database, "hr.li", PASSWORD)
    database.dispose()
    page = browser.page(server.base)
    seen = record_requests(page)
    page.goto("/app/")                          # not signed in: the early reads are 401s, then sign-in
    page.wait_for_selector("main[data-ready=signin]")
    assert [count(seen, path) for path in FIRST_READS] == [1, 1, 1, 1], seen
    page.get_by_label("用户名").fill("hr.li")
    page.get_by_label("密码", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("main[data-ready=inbox] table.inbox")           # the 401s were not reused
    assert page.locator("#session").get_by_role("button", name="退出").count() == 1

    seen.clear()
    page.reload()                               # the cookie: /session with the others, each once
    page.wait_for_selector("main[data-ready=inbox] table.inbox")
    assert [count(seen, path) for path in FIRST_READS] == [1, 1, 1, 1], seen
    page.context.close()
