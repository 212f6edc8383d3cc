"""The studio's properties panel edits what the engine reads, and the template preview fills role facts
(issue 19, pages/studio.js), in Chromium against a real `recall serve` (SQLite).

The owner opens a new draft, moves a user task to another lane from the panel's lane select (the panel
names the lane's group), picks another decision for a business rule task from the draft's decision ids,
points a message event at another message from the list (the panel shows its correlation from
messages.json), renames a lane to a name no group matches (the panel warns), saves; the saved draft's XML, read over the API, has each change. In the templates tab the
preview of `{{ role.salary.change_pct }}` shows the sample role profile's figure, and with an archive role
chosen, that role's figure and profile version.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from playwright.sync_api import expect

from tests.archive.test_roles import FACTS, TITLE
from tests.support import HR, OWNER
from tests.ui.ui_harness import sign_in

NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
      "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core"}


def select_on_canvas(page, element_id):
    page.locator(f"#studio-canvas .djs-element[data-element-id={element_id}] .djs-hit").first.click(force=True)
    expect(page.locator("#prop-id")).to_have_text(element_id)


def test_the_panel_edits_lane_decision_and_message_and_the_preview_fills_role_facts(server, browser):
    server.ok("PUT", "/roles/backend_engineer", {"title": TITLE, "facts": FACTS, "effective_from": "2026-01-01"},
              user=HR)
    page = browser.page(server.base)
    sign_in(page, server, OWNER)
    page.goto(f"{server.base}/app/studio")
    page.wait_for_selector("main[data-ready=studio] #new-draft")
    page.locator("#new-draft button[type=submit]").click()
    page.wait_for_url(re.compile(r"/app/studio\?draft="))
    draft_id = page.url.split("draft=")[1]
    page.wait_for_selector("#studio-canvas .djs-element[data-element-id=assess_reply]")
    page.wait_for_selector("#studio-checks-ok, #studio-diagnostics")
    props = page.locator("#studio-props")

    # lane: the select lists the diagram's lanes; choosing one moves the task into it
    select_on_canvas(page, "assess_reply")
    lane = props.locator("select[name=lane]")
    expect(lane.locator("option:checked")).to_have_text("HR")
    expect(page.locator("#prop-lane-group code")).to_have_text("hr")
    lane.select_option(label="Hiring Manager")
    expect(props.locator("select[name=lane] option:checked")).to_have_text("Hiring Manager")
    expect(page.locator("#prop-lane-group code")).to_have_text("hiring_manager")
    expect(page.locator("#prop-lane-group .notice")).to_have_count(0)        # a known group: no warning

    # a business rule task: another decision of the draft's .dmn files
    select_on_canvas(page, "pick_template_day_90")
    decision = props.locator("select[name=decision]")
    expect(decision).to_have_value("follow_up_template")
    expect(decision.locator("option")).to_have_count(2)
    decision.select_option("reoffer_approval")
    expect(props.locator("select[name=decision]")).to_have_value("reoffer_approval")

    # a message event: another message from the list, with the correlation messages.json gives it
    select_on_canvas(page, "cadence_reply_received")
    message = props.locator("input[name=message]")
    expect(message).to_have_value("candidate_replied")
    names = {o.get_attribute("value") for o in props.locator("datalist option").all()}
    assert {"candidate_replied", "offer_response", "new_hire_feedback", "employee_left"} <= names, names
    expect(page.locator("#prop-message-correlation")).to_have_text("candidate_id")
    message.fill("offer_response")
    message.dispatch_event("change")
    expect(props.locator("input[name=message]")).to_have_value("offer_response")
    expect(page.locator("#prop-message-about")).to_contain_text("不保留")      # offer_response: buffer false

    # a lane itself: its name decides its group; a name no group matches is warned about as it is typed
    select_on_canvas(page, "lane_hiring_manager")
    expect(page.locator("#prop-lane-group code")).to_have_text("hiring_manager")
    props.locator("input[name=name]").fill("招聘经理")
    expect(page.locator("#prop-lane-group code")).to_have_text("—")
    expect(page.locator("#prop-lane-group .notice[data-code=lane-no-group]")).to_have_count(1)

    page.locator("#studio-save").click()
    expect(page.locator("#studio-status")).to_have_text("草稿已保存")
    xml = server.ok("GET", f"/studio/drafts/{draft_id}", user=OWNER)["files"]["offer_recall.bpmn"]
    root = ET.fromstring(xml)
    lanes = {la.get("id"): {r.text for r in la.findall("bpmn:flowNodeRef", NS)} for la in root.iterfind(".//bpmn:lane", NS)}
    assert "assess_reply" in lanes["lane_hiring_manager"] and "assess_reply" not in lanes["lane_hr"], lanes
    task = root.find(".//bpmn:businessRuleTask[@id='pick_template_day_90']", NS)
    assert task.find(".//spiffworkflow:calledDecisionId", NS).text == "reoffer_approval"
    other = root.find(".//bpmn:businessRuleTask[@id='pick_template_day_30']", NS)
    assert other.find(".//spiffworkflow:calledDecisionId", NS).text == "follow_up_template"
    ref = root.find(".//bpmn:messageEventDefinition[@id='cadence_reply_received_message']", NS).get("messageRef")
    [message_el] = [m for m in root.iterfind("bpmn:message", NS) if m.get("id") == ref]
    assert message_el.get("name") == "offer_response"
    assert root.find("bpmn:message[@id='candidate_replied']", NS) is not None   # still there for the other event
    assert root.find(".//bpmn:lane[@id='lane_hiring_manager']", NS).get("name") == "招聘经理"

    # the template preview: the sample profile's figure, then the archive role's
    page.locator("#tab-templates").click()
    page.locator("#studio-template-file").select_option("templates/zh/day_90_commute.j2")
    page.locator("#studio-template-text").fill("涨薪 {{ role.salary.change_pct }}%,{{ role.policies.text }}")
    expect(page.locator("#studio-template-preview")).to_have_text("涨薪 9%,每周可远程办公 2 天,弹性上下班。")
    expect(page.locator("#studio-template-profile")).to_have_attribute("data-source", "sample")
    expect(page.locator("#studio-template-facts .facts-used li")).to_have_count(2)
    page.locator("#studio-template-role").select_option("backend_engineer")
    expect(page.locator("#studio-template-preview")).to_contain_text("涨薪 8%,【缺少岗位信息")
    expect(page.locator("#studio-template-profile")).to_contain_text("backend_engineer@v1")
    expect(page.locator("#studio-template-facts .facts-missing li[data-fact='policies.text']")).to_have_count(1)
