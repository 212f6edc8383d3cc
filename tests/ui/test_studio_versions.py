"""Versions in the browser (issue 19): the process page and the migration mapping editor.

A real `recall serve` (SQLite) with workflows/ deployed as version 1 and a case on it waiting at the day-90
timer; version 2, deployed from a studio draft with a change note, renames that timer wait_day_90 ->
wait_day_60; a second case starts on version 2. The process owner, in Chromium: the process page lists both
versions with who deployed them and the note, and the version selector narrows the counts per element and
the case list to one version's cases (each row links to its case page; 25 a page, "more" for the rest);
a hiring manager's process page shows no case list. In the studio's roll-out, migrating 1 -> 2 lists
wait_day_90 as an element version 2 lacks; the dry run refuses the case waiting there, mapping it to
wait_day_60 makes it movable, and the move succeeds: the case is on version 2, waiting at wait_day_60.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from tests.support import ADMIN, HR, MANAGER, OWNER
from tests.ui.ui_harness import Server, chromium_or_skip, shot, sign_in

pytestmark = pytest.mark.slow
NOTE = "第 90 天的等待改名为第 60 天 / the day-90 wait is renamed wait_day_60"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    chromium_or_skip()
    srv = Server(tmp_path_factory.mktemp("ui-studio-versions"))
    yield srv
    output = srv.stop()
    assert "Traceback" not in output, output


def start_case(server, name, declined):
    who = server.ok("POST", "/candidates", {"name": name, "role_applied": "门店主管"}, user=HR)
    return server.ok("POST", f"/candidates/{who['id']}/declines", {
        "reason": "salary", "decline_date": declined.isoformat(), "needs": [], "open_questions": [],
        "lang": "zh", "consent": {"granted": True, "scope": "similar_roles", "source": "电话",
                                  "expires_at": "2027-06-30T00:00:00+08:00"}}, user=HR)["instance_id"]


def wait_at_day_90(server, case, declined):
    task = server.ok("GET", f"/tasks?instance_id={case}&element_id=archive_decline", user=HR)["items"][0]
    server.ok("POST", f"/tasks/{task['id']}/complete", {"data": {
        "decline_reason": "salary", "needs": [], "open_questions": [], "talent_pool_consent": True,
        "consent_scope": "similar_roles", "consent_expiry": "2027-06-30"}}, user=HR)
    report = server.ok("POST", "/testing/clock", {"set": (declined + timedelta(days=31)).isoformat()}, user=ADMIN)
    assert report["errors"] == 0, report
    [day_30] = [i for i in server.ok("GET", "/workspace/inbox", user=HR)["items"] if i["instance_id"] == case]
    server.ok("POST", f"/tasks/{day_30['id']}/complete", {"data": {
        "outcome": "sent", "channel": "wecom", "message_sent": "您好"}}, user=HR)
    timers = server.ok("GET", f"/process-instances/{case}", user=ADMIN)["waiting_timers"]
    assert [t["element_id"] for t in timers] == ["wait_day_90"], timers


def deploy_renamed_timer(server):
    draft = server.ok("POST", "/studio/drafts", {"title": "rename"}, user=OWNER)
    files = {name: text.replace("wait_day_90", "wait_day_60") if name in ("offer_recall.bpmn", "vocabulary.json")
             else text for name, text in draft["files"].items()}
    status, _ = server.api("PUT", f"/studio/drafts/{draft['id']}", {"files": files}, user=OWNER,
                           headers={"If-Match": '"v1"'})
    assert status == 200
    deployed = server.ok("POST", f"/studio/drafts/{draft['id']}/deploy", {"note": NOTE}, user=OWNER)
    assert [v["version"] for v in deployed["versions"] if v["process_key"] == "offer_recall"] == [2], deployed


def rows(page, table):
    return page.locator(f"{table} tbody tr")


def test_versions_on_the_process_page_and_the_mapping_editor(server, browser):
    declined = datetime.now(timezone(timedelta(hours=8))).replace(microsecond=0)
    old = start_case(server, "候选人旧", declined)
    wait_at_day_90(server, old, declined)
    deploy_renamed_timer(server)
    new = start_case(server, "候选人新", declined + timedelta(days=31))
    assert server.ok("GET", f"/process-instances/{new}", user=ADMIN)["version"] == 2

    page = browser.page(server.base)
    sign_in(page, server, OWNER)
    page.goto("/app/processes/offer_recall")
    page.wait_for_selector("main[data-ready] #process-versions")
    # the history: both versions, who deployed them, the note of the studio's deploy
    expect(rows(page, "#process-versions")).to_have_count(2)
    expect(page.locator("#process-versions tr[data-version='2'] .note")).to_have_text(NOTE)
    expect(page.locator("#process-versions tr[data-version='1'] .note")).to_have_text("—")
    # all versions: both cases
    expect(page.locator("#process-version")).to_have_value("")
    expect(rows(page, "#process-cases")).to_have_count(2)
    listed = page.inner_text("#process-cases")           # no ids: the owner sees no names, so when each began
    assert "开始的案件" in listed and not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", listed), listed
    expect(page.locator("#process-active")).to_contain_text("2")

    # version 1: its diagram, its one case, waiting at the day-90 timer
    page.locator("#process-version").select_option("1")
    page.wait_for_url(re.compile(r"/app/processes/offer_recall\?version=1$"))
    expect(page.locator("h1")).to_contain_text("v1")
    expect(rows(page, "#process-cases")).to_have_count(1)
    expect(page.locator(f"#process-cases tr[data-instance-id='{old}']")).to_have_count(1)
    expect(page.locator(f"#process-cases tr[data-instance-id='{old}'] .now-at")).to_have_text("等待定时器或消息")
    expect(page.locator("#process-cases-more")).to_be_hidden()                           # one page only
    expect(page.locator("#process-active")).to_contain_text("1")
    day_90 = page.locator("table.counts tr[data-element-id=wait_day_90]")
    expect(day_90.locator("td").nth(1)).to_have_text("1")                                  # one timer
    expect(page.locator("table.counts tr[data-element-id=archive_decline]")).to_have_count(0)
    expect(page.locator(".djs-element[data-element-id=wait_day_90]").first).to_be_attached()

    # version 2 (from the history's link): the new case, at its archive task; no day-90 timer there
    page.locator("#process-versions a[href$='version=2']").click()
    page.wait_for_url(re.compile(r"\?version=2$"))
    expect(page.locator("#process-version")).to_have_value("2")
    expect(rows(page, "#process-cases")).to_have_count(1)
    expect(page.locator(f"#process-cases tr[data-instance-id='{new}']")).to_have_count(1)
    expect(page.locator(f"#process-cases tr[data-instance-id='{new}'] .now-at")).to_contain_text("记录")  # its archive task
    expect(page.locator("table.counts tr[data-element-id=archive_decline] td").first).to_have_text("1")
    expect(page.locator("table.counts tr[data-element-id=wait_day_90]")).to_have_count(0)
    expect(page.locator(".djs-element[data-element-id=wait_day_60]").first).to_be_attached()
    page.locator(f"#process-cases tr[data-instance-id='{new}'] a").click()             # the case page
    page.wait_for_url(re.compile(rf"/app/cases/{new}$"))
    page.wait_for_selector("main[data-ready]")

    # a hiring manager sees the diagram and the versions, but no case list and no counts (as before)
    manager = browser.page(server.base)
    sign_in(manager, server, MANAGER)
    manager.goto("/app/processes/offer_recall?version=1")
    manager.wait_for_selector("main[data-ready] #process-versions")
    expect(manager.locator("#process-cases, #cases-title, table.counts")).to_have_count(0)

    # the case list is paged (25 a page): 26 cases on version 2, the rest come with "more"
    for n in range(25):
        start_case(server, f"候选人{n}", declined + timedelta(days=31))
    page.goto("/app/processes/offer_recall?version=2")
    expect(rows(page, "#process-cases")).to_have_count(25)
    page.locator("#process-cases-more").click()
    expect(rows(page, "#process-cases")).to_have_count(26)
    expect(page.locator("#process-cases-more")).to_be_hidden()
    expect(page.locator(f"#process-cases tr[data-instance-id='{old}']")).to_have_count(0)

    # the studio's roll-out: version 2 lacks wait_day_90; unmapped, the case waiting there is refused
    page.goto("/app/studio")
    page.wait_for_selector("main[data-ready=studio] #new-draft")
    page.locator("#new-draft button[type=submit]").click()
    page.wait_for_url(re.compile(r"/app/studio\?draft="))
    page.wait_for_selector("#studio-canvas .djs-element[data-element-id=wait_day_60]")
    page.locator("#tab-rollout").click()
    page.locator("#studio-migrate input[name=from_version]").fill("1")
    page.locator("#studio-migrate input[name=to_version]").fill("2")
    mapped = page.locator("#studio-mapping-table select[data-old=wait_day_90]")
    expect(mapped).to_have_value("")
    expect(page.locator("#studio-mapping-table tbody tr")).to_have_count(1)          # only the renamed timer
    expect(page.locator("#studio-mapping-table tr[data-old=wait_day_90] [data-type]")).to_have_text(
        " · 等待事件（定时/消息）")                                                   # the step's kind in words
    # the same type first: the first element offered is the new timer
    expect(mapped.locator("option").nth(1)).to_have_attribute("value", "wait_day_60")
    page.locator("#studio-dry-run").click()
    case_row = page.locator(f"#studio-migration-table tbody tr[data-instance='{old}']")
    expect(case_row).to_have_attribute("data-movable", "false")
    expect(case_row.locator(".reasons")).to_contain_text("wait_day_90")
    # mapped to the new timer: movable, and it moves
    mapped.select_option("wait_day_60")
    page.locator("#studio-dry-run").click()
    expect(page.locator("#studio-mapping-used")).to_contain_text("wait_day_90 → wait_day_60")
    expect(case_row).to_have_attribute("data-movable", "true")
    shot(page, "studio-migration-mapping.png", element="#studio-migrate")
    page.locator("#studio-move").click()
    expect(page.locator("#studio-moved")).to_have_text("1 / 1")
    expect(page.locator(f"#studio-migration-table tr[data-instance='{old}'] .outcome")).to_have_text("moved")
    moved = server.ok("GET", f"/process-instances/{old}", user=ADMIN)
    assert moved["version"] == 2 and [t["element_id"] for t in moved["waiting_timers"]] == ["wait_day_60"]


def test_a_deploy_with_warnings_deploys_and_lists_them(server, browser):
    """A draft carrying a Camunda attribute nothing reads is deployed from the roll-out tab (not refused), and
    the page lists the warning with its element — the owner learns it is ignored instead of trusting it."""
    draft = server.ok("POST", "/studio/drafts", {"title": "camunda"}, user=OWNER)
    bpmn = draft["files"]["offer_recall.bpmn"]
    tag = '<bpmn:userTask id="follow_up_day_30" '
    assert bpmn.count(tag) == 1
    bpmn = bpmn.replace(tag, '<bpmn:userTask camunda:candidateGroups="hr" id="follow_up_day_30" ').replace(
        'xmlns:bpmn="', 'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:bpmn="', 1)
    status, _ = server.api("PUT", f"/studio/drafts/{draft['id']}", {"files": {**draft["files"], "offer_recall.bpmn": bpmn}},
                           user=OWNER, headers={"If-Match": '"v1"'})
    assert status == 200
    page = browser.page(server.base)
    sign_in(page, server, OWNER)
    page.goto(f"/app/studio?draft={draft['id']}")
    page.wait_for_selector("#studio-canvas .djs-element[data-element-id=follow_up_day_30]")
    page.locator("#tab-rollout").click()
    page.locator("#studio-note").fill("Camunda 的分组属性 / a Camunda group attribute")
    page.locator("#studio-deploy button[type=submit]").click()
    # the attribute is not part of what runs: the deploy answers, and makes no new version for it
    expect(page.locator("#studio-deploy-result .deployed-version[data-created=false]").filter(
        has_text="offer_recall v2")).to_have_count(1)
    warning = page.locator("#studio-deploy-warnings li[data-element=follow_up_day_30]")
    expect(warning).to_have_count(1)
    expect(warning).to_contain_text("candidateGroups")
