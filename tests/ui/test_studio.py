"""The process owner's studio in Chromium (issue 19, "Done when", pages/studio.js).

A real `recall serve` with workflows/ deployed and two running cases: one past its day-30 follow-up,
waiting at day 90; one with its archive task still open. The owner, in the browser: opens a new draft
from the deployed version, selects the day-90 timer on the modeler's canvas, types an unquoted P60D
in the properties panel — the live check pins a red marker and its message to the element and lists
it — fixes it to "P60D" (the reading says 60 days), adds a required field to the archive form in the
forms tab (its preview shows it), saves, diffs (wait_day_90 listed and marked changed), deploys with a
required note, dry-runs the migration (the case filling the archive form is refused with its reason),
moves the other with its timer recomputed; then, on the simulated clock over the API, the moved case's
follow-up comes on day 60, not day 90. Between the live check and the diff the owner REHEARSES the draft
(the Rehearse tab, POST /studio/rehearsals): 30 simulated candidates over 200 days beside the deployed
version with the same seed, and the page's follow-up calendar shows the day-90 tasks about 30 days
(4.3 weeks) earlier in the draft, as many of them; an element no case reached is selected on the diagram
from the report.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import expect

from tests.support import ADMIN, HR, OWNER, ROOT
from tests.ui.ui_harness import Server, chromium_or_skip, shot, sign_in

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    """`recall serve` on SQLite, then on PostgreSQL (skipped when it is unreachable): deploy and
    migration write through both."""
    chromium_or_skip()
    srv = Server(tmp_path_factory.mktemp(f"ui-studio-{request.param}"), database=request.param)
    yield srv
    output = srv.stop()
    assert "Traceback" not in output, output

TIMER = 'cadence_due if cadence_entry == "day_90" else add_duration(decline_date, "P90D")'


def start_case(server, name, declined):
    who = server.ok("POST", "/candidates", {"name": name, "role_applied": "门店主管"}, user="hr.li")
    started = server.ok("POST", f"/candidates/{who['id']}/declines", {
        "reason": "salary", "decline_date": declined.isoformat(), "needs": [], "open_questions": [],
        "lang": "zh", "consent": {"granted": True, "scope": "similar_roles", "source": "电话",
                                  "expires_at": "2027-06-30T00:00:00+08:00"}}, user="hr.li")
    return started["instance_id"]


def clock_to(server, when):
    report = server.ok("POST", "/testing/clock", {"set": when.isoformat()}, user=ADMIN)
    assert report["errors"] == 0, report


def _week_index(week: str) -> int:
    year, number = week.split("-W")
    return datetime.fromisocalendar(int(year), int(number), 1).toordinal() // 7


def _day_90_weeks(page, side: str) -> list[int]:
    """The weeks (as indexes) of each follow_up_day_90 task the calendar table lists for one side."""
    weeks = []
    for row in page.locator("#studio-rehearse-calendar-table tr[data-task=follow_up_day_90]").all():
        n = int(row.locator(f"td[data-side={side}]").text_content())
        weeks += [_week_index(row.get_attribute("data-week"))] * n
    return weeks


def rehearse(page):
    """The rehearsal step: the form is prefilled with the funnel's defaults; 30 candidates declining for
    'salary' over 200 days, nobody replying (so every case reaches day 90 on both sides); the draft's
    day-90 follow-ups come about 30 days earlier than the deployed version's, as many of them."""
    page.locator("#tab-rehearse").click()
    form = page.locator("#studio-rehearse-form")
    expect(form.locator("input[name=candidates]")).to_have_value("200")
    expect(form.locator("input[name=days]")).to_have_value("400")
    # the live funnel has one day-30 follow-up sent and no reply: measured 0 %; day 90 keeps its default
    expect(form.locator("input[data-task=follow_up_day_30]")).to_have_value("0")
    expect(form.locator("input[data-task=follow_up_day_90]")).to_have_value("12")
    form.locator("input[name=candidates]").fill("30")
    form.locator("input[name=days]").fill("200")
    form.locator("input[name=seed]").fill("7")
    form.locator("input[name=reasons][value=salary]").check()
    for stage in form.locator("input[data-task]").all():
        stage.fill("0")
    page.locator("#studio-rehearse-run").click()
    expect(page.locator("#studio-status")).to_have_text("草稿已保存")      # unsaved edits saved first
    expect(page.locator("#studio-rehearse-report[data-status=done]")).to_have_count(1, timeout=90_000)
    draft, deployed = _day_90_weeks(page, "draft"), _day_90_weeks(page, "deployed")
    assert len(draft) == len(deployed) > 0, (draft, deployed)
    shift = sum(deployed) / len(deployed) - sum(draft) / len(draft)
    assert 3.5 <= shift <= 5.0, (shift, draft, deployed)         # 30 days = 4.3 weeks earlier
    assert max(draft) < max(deployed) and min(draft) < min(deployed)
    # the chart draws the same numbers: a draft bar segment for day 90 in the draft's first day-90 week
    first = page.locator("#studio-rehearse-calendar-table tr[data-task=follow_up_day_90]").first.get_attribute("data-week")
    expect(page.locator(f"#studio-rehearse-chart [data-side=draft][data-task=follow_up_day_90][data-week='{first}']")).to_have_count(1)
    # a task the vocabulary does not name is shown by its diagram name (in the page's language), not its id only
    expect(page.locator("#studio-rehearse-calendar-table tr[data-task=archive_decline]").first).to_contain_text(
        "记录未到岗原因 (archive_decline)")
    # the live case at day 31 is not overdue under day 60; only 'salary' got templates
    expect(page.locator("#studio-rehearse-past-none")).to_be_visible()
    reasons = {r.get_attribute("data-reason") for r in page.locator("#studio-rehearse-templates tbody tr").all()}
    assert reasons == {"salary"}, reasons
    expect(page.locator("#studio-rehearse-ends tbody tr").first).to_be_visible()
    shot(page, "studio-rehearsal.png", element="#pane-rehearse")
    # nobody replied: the assessment was never reached; a click selects it on the diagram
    never = page.locator("#studio-rehearse-never button[data-element=assess_reply]")
    never.click()
    expect(page.locator("#pane-bpmn")).to_be_visible()
    expect(page.locator("#prop-id")).to_have_text("assess_reply")


def test_owner_changes_day_90_to_day_60_deploys_and_migrates(server, browser):
    declined = datetime.now(timezone(timedelta(hours=8))).replace(microsecond=0)
    waiting, filling = start_case(server, "候选人甲", declined), start_case(server, "候选人乙", declined)
    task = server.ok("GET", f"/tasks?instance_id={waiting}&element_id=archive_decline", user=HR)["items"][0]
    server.ok("POST", f"/tasks/{task['id']}/complete", {"data": {
        "decline_reason": "salary", "needs": [], "open_questions": [], "talent_pool_consent": True,
        "consent_scope": "similar_roles", "consent_expiry": "2027-06-30"}}, user=HR)
    clock_to(server, declined + timedelta(days=31))
    [day_30] = [i for i in server.ok("GET", "/workspace/inbox", user=HR)["items"] if i["instance_id"] == waiting]
    assert day_30["element_id"] == "follow_up_day_30", day_30
    server.ok("POST", f"/tasks/{day_30['id']}/complete", {"data": {
        "outcome": "sent", "channel": "wecom", "message_sent": "您好"}}, user=HR)
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
    listed.click()                                   # the list selects (and zooms to) the element
    expect(page.locator("#prop-id")).to_have_text("wait_day_90")
    shot(page, "studio-live-check.png")
    # fixed: the marker goes, the reading says 60 days
    timer.fill(TIMER.replace("P90D", "P60D"))
    expect(pin).to_have_count(0)
    expect(page.locator("#prop-timer-reading")).to_contain_text("60 天")
    rehearse(page)
    # the DMN tab draws the follow-up template's decision table with dmn-js
    page.locator("#tab-dmn").click()
    page.locator("#studio-dmn-file").select_option("follow_up_template.dmn")
    expect(page.locator("#studio-dmn .tjs-table")).to_be_visible()
    expect(page.locator("#studio-dmn")).to_contain_text("day_90")
    note_cell = page.locator("#studio-dmn td.annotation").first                # a rule's annotation, edited
    note_cell.click()
    page.keyboard.type("注 60")
    # the archive form gains a required field: a case filling it in cannot move
    template = (ROOT / "workflows" / "templates" / "zh" / "day_90_commute.j2").read_text(encoding="utf-8")
    page.locator("#tab-forms").click()
    page.locator("#studio-form-file").select_option("archive_decline.schema.json")
    form = json.loads(page.locator("#studio-form-json").input_value())
    form["properties"]["referrer"] = {"type": "string", "title": "推荐人 / Referrer"}
    form["required"] = [*form.get("required", []), "referrer"]
    page.locator("#studio-form-json").fill(json.dumps(form, ensure_ascii=False, indent=2))
    expect(page.locator("#studio-form-preview")).to_contain_text("推荐人")
    # a template edited in the templates tab: the server renders it for the sample candidate
    page.locator("#tab-templates").click()
    page.locator("#studio-template-file").select_option("templates/zh/day_90_commute.j2")
    expect(page.locator("#studio-template-preview")).to_contain_text("张伟")
    page.locator("#studio-template-text").fill("{{ candidate_name }}，第 60 天问候")
    expect(page.locator("#studio-template-preview")).to_have_text("张伟，第 60 天问候")
    page.locator("#studio-template-text").fill("{% if %}")
    expect(page.locator("#studio-template-preview [role=alert]")).to_contain_text("does not render")
    page.locator("#studio-template-text").fill(template)
    page.locator("#tab-bpmn").click()
    page.locator("#studio-save").click()
    expect(page.locator("#studio-status")).to_have_text("草稿已保存")
    saved = server.ok("GET", f"/studio/drafts/{page.url.rsplit('=', 1)[1]}", user=OWNER)
    assert "注 60" in saved["files"]["follow_up_template.dmn"]                  # the DMN edit is in the draft

    # diff: the timer is changed, marked on the canvas
    page.locator("#tab-rollout").click()
    page.locator("#studio-diff-button").click()
    changed = page.locator("#studio-diff-list li[data-element=wait_day_90]")
    expect(changed).to_contain_text('add_duration(decline_date, "P60D")»')     # the text as written, not JSON-escaped
    expect(page.locator("#studio-diff-list li[data-rule]")).to_contain_text("注 60")   # the DMN rule's annotation
    # the migration form knows version 2 is not there yet and says so
    expect(page.locator("#studio-mapping-not-deployed")).to_contain_text("第 2 版尚未部署")
    expect(page.locator("#studio-canvas .djs-element[data-element-id=wait_day_90].studio-changed")).to_have_count(1)
    shot(page, "studio-diff.png")

    # deploy needs a note
    page.locator("#studio-deploy button[type=submit]").click()      # no note: the browser holds the form
    expect(page.locator("#studio-note:invalid")).to_have_count(1)
    expect(page.locator("#studio-deploy-result")).to_be_empty()
    page.locator("#studio-note").fill("第 90 天跟进提前到第 60 天 / day-90 follow-up moves to day 60")
    page.locator("#studio-deploy button[type=submit]").click()
    expect(page.locator("#studio-deploy-result [data-created=true]")).to_have_text("offer_recall v2 (新版本)")
    expect(page.locator("#studio-mapping-not-deployed")).to_have_count(0)       # the deploy made it: read again
    expect(page.locator("#studio-mapping-none")).to_have_count(1)               # nothing removed: nothing to map
    versions = server.ok("GET", "/process-definitions/offer_recall", user=OWNER)
    assert "day 60" in str(versions), versions

    # migration: dry run (one case refused with its reason), then move the other, timers recomputed
    page.locator("#studio-migrate select[name=timers]").select_option("recompute")
    page.locator("#studio-dry-run").click()
    expect(page.locator("#studio-migration-table tbody tr")).to_have_count(2)
    refused = page.locator(f"#studio-migration-table tbody tr[data-instance='{filling}']")
    expect(refused).to_have_attribute("data-movable", "false")
    expect(refused.locator(".reasons")).to_contain_text("archive_decline")
    expect(page.locator(f"#studio-migration-table tbody tr[data-instance='{waiting}']")).to_have_attribute(
        "data-movable", "true")
    shot(page, "studio-migration-dry-run.png")
    page.locator("#studio-move").click()
    expect(page.locator("#studio-moved")).to_have_text("1 / 1")
    expect(page.locator(f"#studio-migration-table tr[data-instance='{waiting}'] .outcome")).to_have_text("moved")
    assert server.ok("GET", f"/process-instances/{filling}", user=ADMIN)["version"] == 1
    assert server.ok("GET", f"/process-instances/{waiting}", user=ADMIN)["version"] == 2

    # the simulated clock: the moved case's follow-up comes on day 60, not day 90
    clock_to(server, declined + timedelta(days=59, hours=23))
    assert [i for i in server.ok("GET", "/workspace/inbox", user=HR)["items"] if i["instance_id"] == waiting] == []
    clock_to(server, declined + timedelta(days=60, hours=1))
    items = [i for i in server.ok("GET", "/workspace/inbox", user=HR)["items"] if i["instance_id"] == waiting]
    assert [i["element_id"] for i in items] == ["follow_up_day_90"], items

    # dmn-js 16.8.2's production bundle carries Inferno's development build, which says so with a
    # console.error when it loads (vendor/dmn-js/SOURCE.txt); that one line is not an error of ours
    inferno = [e for e in browser.errors if "infernojs.org" in e]
    assert len(inferno) <= 1, inferno
    browser.errors[:] = [e for e in browser.errors if "infernojs.org" not in e]


def test_the_studio_in_english_and_not_for_hr(server, browser):
    page = browser.page(server.base, lang="en")
    page.goto("/app/")
    page.wait_for_url(re.compile(r"/app/signin"))
    page.get_by_label("API token").fill(server.tokens[OWNER])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("main[data-ready]:not([data-ready=signin])")
    page.locator("#nav a[href$='studio']").click()
    page.wait_for_selector("main[data-ready=studio] #new-draft")
    expect(page.locator("h1")).to_have_text("Process studio")
    expect(page.locator("#studio-nothing-runs")).to_contain_text("nothing runs until it is deployed")
    expect(page.locator("#studio-drafts tbody tr")).to_have_count(1)       # the first test's draft
    page.locator("#studio-drafts a").first.click()
    page.wait_for_selector("#studio-canvas .djs-element[data-element-id=wait_day_90]")
    page.locator("#studio-canvas .djs-element[data-element-id=wait_day_90] .djs-hit").first.click()
    expect(page.locator("#prop-timer-reading")).to_contain_text("60 days after decline_date")
    expect(page.locator("#tab-rollout")).to_have_text("Roll out")
    # a user task's form is picked in the panel and written into the XML (the diff names it)
    page.locator("#studio-canvas .djs-element[data-element-id=follow_up_day_90] .djs-hit").first.click()
    form = page.locator("#studio-props select[name=form]")
    expect(form).to_have_value("follow_up_day_90.schema.json")
    form.select_option("follow_up_day_30.schema.json")
    page.locator("#studio-save").click()
    expect(page.locator("#studio-status")).to_have_text("Draft saved")
    page.locator("#tab-rollout").click()
    page.locator("#studio-diff-button").click()
    expect(page.locator("#studio-diff-list li[data-element=follow_up_day_90]")).to_contain_text(
        "follow_up_day_30.schema.json")
    # the rehearsal names what is wrong: a limit (422 naming the field), then a draft the checks refuse
    page.locator("#tab-rehearse").click()
    rehearsal = page.locator("#studio-rehearse-form")
    expect(rehearsal.locator("legend").first).to_have_text("Decline reasons")
    rehearsal.locator("input[name=candidates]").fill("5000")
    page.locator("#studio-rehearse-run").click()
    expect(page.locator("#studio-rehearse-error li[data-field=candidates]")).to_contain_text("candidates")
    expect(rehearsal.locator("input[name=candidates][aria-invalid=true]")).to_have_count(1)
    page.locator("#tab-bpmn").click()
    page.locator("#studio-canvas .djs-element[data-element-id=wait_day_90] .djs-hit").first.click()
    page.locator("#studio-props textarea[name=timer]").fill(TIMER.replace('"P90D"', "P60D"))
    page.locator("#tab-rehearse").click()
    rehearsal.locator("input[name=candidates]").fill("2")
    rehearsal.locator("input[name=days]").fill("10")
    page.locator("#studio-rehearse-run").click()
    expect(page.locator("#studio-rehearse-report[data-status=failed]")).to_have_count(1, timeout=30_000)
    expect(page.locator("#studio-rehearse-error li[data-field=files]").first).to_contain_text("wait_day_90")
    expect(page.locator("#studio-rehearse-error")).to_contain_text("The rehearsal failed")
    page.locator("#tab-bpmn").click()                                         # fixed again
    page.locator("#studio-props textarea[name=timer]").fill(TIMER.replace("P90D", "P60D"))
    expect(page.locator("#studio-canvas .studio-pin[data-element=wait_day_90]")).to_have_count(0)
    page.locator("#studio-canvas .djs-element[data-element-id=follow_up_day_90] .djs-hit").first.click()
    expect(page.locator("#prop-id")).to_have_text("follow_up_day_90")
    # someone saves the same draft elsewhere: this page's next save is refused and says why
    draft_id = page.url.rsplit("=", 1)[1]
    seen = server.ok("GET", f"/studio/drafts/{draft_id}", user=OWNER)
    status, _ = server.api("PUT", f"/studio/drafts/{draft_id}", {"title": "elsewhere"}, user=OWNER,
                           headers={"If-Match": f'"v{seen["version"]}"'})
    assert status == 200
    page.locator("#tab-bpmn").click()
    page.locator("#studio-canvas .djs-element[data-element-id=wait_day_90] .djs-hit").first.click()
    page.locator("#studio-props input[name=name]").fill("Day 60")
    page.locator("#studio-save").click()
    expect(page.locator("#studio-status")).to_have_text("The draft was changed elsewhere; open it again.")
    assert server.ok("GET", f"/studio/drafts/{draft_id}", user=OWNER)["title"] == "elsewhere"
    # HR has no studio link, and the API refuses HR the drafts
    hr = browser.page(server.base)
    sign_in(hr, server, HR)
    expect(hr.locator("#nav a[href$='studio']")).to_have_count(0)
    assert server.api("GET", "/studio/drafts", user=HR)[0] == 403
