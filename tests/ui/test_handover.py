"""Releasing and reassigning a task in the browser (issue 15, "release a claimed task and reassign it"),
in Chromium against a real `recall serve`: HR claims and releases a task (audited as HR), a reassign to
someone outside the task's group is refused beside the field, and a hiring manager passes their hand-off
to another manager, in English at phone width; HR picks the manager from the directory; the manager
records what the candidate told them from the hand-off.
"""
from __future__ import annotations

import json
import sqlite3

import pytest
from playwright.sync_api import expect

from tests.support import MANAGER, SECOND_MANAGER
from tests.ui.test_workspace import seed_case, sign_in

pytestmark = pytest.mark.slow


def history(server, instance_id):
    return server.ok("GET", f"/process-instances/{instance_id}/history?limit=200", user="hr.li")["items"]


def at_the_hand_off(server, name: str, reply: str, talking_points: str):
    """A case whose candidate replied and whom HR handed to MANAGER: (candidate id, case id, hand-off task)."""
    candidate_id, instance_id = seed_case(server, name=name, reason="career_path", decline_date="2026-02-01")
    server.ok("POST", "/messages", {"name": "candidate_replied", "correlation": {"candidate_id": candidate_id},
                                    "payload": {"text": reply}}, user="hr.li")
    assess = server.ok("GET", f"/tasks?instance_id={instance_id}&element_id=assess_reply", user="hr.li")["items"][0]
    server.ok("POST", f"/tasks/{assess['id']}/complete", {"data": {"outcome": "interested", "involve_manager": True}},
              user="hr.li")
    request = server.ok("GET", f"/tasks?instance_id={instance_id}&element_id=request_manager_contact",
                        user="hr.li")["items"][0]
    server.ok("POST", f"/tasks/{request['id']}/complete", {"data": {
        "manager_username": MANAGER, "talking_points": talking_points}}, user="hr.li")
    hand_off = server.ok("GET", f"/tasks?instance_id={instance_id}&element_id=manager_contact_candidate",
                         user=MANAGER)["items"][0]
    return candidate_id, instance_id, hand_off


def test_hr_claims_releases_and_cannot_give_a_task_outside_its_group(server, browser):
    _, instance_id = seed_case(server, name="冯雪", reason="salary", decline_date="2026-02-01", archive_it=False)
    task = server.ok("GET", f"/tasks?instance_id={instance_id}&element_id=archive_decline", user="hr.li")["items"][0]
    page = browser.page(server.base)
    sign_in(page, server, "hr.li")
    page.goto(f"/app/tasks/{task['id']}")
    page.wait_for_selector("#task-form")
    assert page.locator("#release").count() == 0          # nothing to release while nobody holds it
    page.locator("#claim").click()
    page.wait_for_selector("#release")
    page.locator("#release").click()
    expect(page.locator("#toast")).to_have_text("任务已放回小组队列。")
    page.wait_for_selector("#claim")
    assert server.ok("GET", f"/tasks/{task['id']}", user="hr.li")["assignee"] is None
    released = [e for e in history(server, instance_id) if e["kind"] == "task_released"]
    assert [(e["actor"], e["details"].get("from")) for e in released] == [("hr.li", "hr.li")]

    page.locator("#handover summary").click()
    page.get_by_label("转交给").fill("hr.wang")               # HR, but in group hrbp only
    page.locator("#reassign").click()
    error = page.locator("#handover .field-error")
    expect(error).to_be_visible()
    assert page.get_by_label("转交给").get_attribute("aria-invalid") == "true"
    assert server.ok("GET", f"/tasks/{task['id']}", user="hr.li")["assignee"] is None
    page.context.close()


def test_a_hiring_manager_passes_the_hand_off_to_another_manager_in_english_on_a_phone(server, browser):
    candidate_id, instance_id, hand_off = at_the_hand_off(server, "Zhou Lan", "Open to talk", "Growth path")

    page = browser.page(server.base, width=390, height=844)
    sign_in(page, server, MANAGER)
    page.get_by_role("button", name="Switch to English").click()
    page.wait_for_selector("h1:text('My inbox')")
    page.goto(f"/app/tasks/{hand_off['id']}")
    page.wait_for_selector("#task-form")
    page.locator("#handover summary").click()
    page.get_by_label("Give it to").fill(SECOND_MANAGER)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.locator("#reassign").click()
    page.wait_for_selector("main[data-ready=inbox]")
    expect(page.locator("#toast")).to_have_text(f"The task now belongs to {SECOND_MANAGER}.")
    assert server.ok("GET", f"/tasks/{hand_off['id']}", user=SECOND_MANAGER)["assignee"] == SECOND_MANAGER
    moved = [e for e in history(server, instance_id) if e["kind"] == "task_reassigned"]
    assert [(e["actor"], e["details"].get("to")) for e in moved] == [(MANAGER, SECOND_MANAGER)]
    page.context.close()


def test_hr_picks_the_hiring_manager_from_the_directory(server, browser):
    """request_manager_contact's manager (x-recall-user) and the decline's hiring manager are pick-lists
    of the active managers (GET /users), not a user name to type."""
    candidate_id, instance_id = seed_case(server, name="韦青", reason="career_path", decline_date="2026-02-01")
    server.ok("POST", "/messages", {"name": "candidate_replied", "correlation": {"candidate_id": candidate_id},
                                    "payload": {"text": "可以聊聊"}}, user="hr.li")
    assess = server.ok("GET", f"/tasks?instance_id={instance_id}&element_id=assess_reply", user="hr.li")["items"][0]
    server.ok("POST", f"/tasks/{assess['id']}/complete", {"data": {"outcome": "interested", "involve_manager": True}},
              user="hr.li")
    request = server.ok("GET", f"/tasks?instance_id={instance_id}&element_id=request_manager_contact",
                        user="hr.li")["items"][0]
    managers = sorted(u["name"] for u in server.ok("GET", "/users?role=manager&active=true", user="hr.li")["items"])
    assert MANAGER in managers and SECOND_MANAGER in managers

    page = browser.page(server.base)
    sign_in(page, server, "hr.li")
    page.goto(f"/app/tasks/{request['id']}")
    page.wait_for_selector("#task-form")
    picker = page.locator("select[name=manager_username]")
    options = [o.strip() for o in picker.locator("option").all_inner_texts()]
    assert sorted(o for o in options if o in managers) == managers
    picker.select_option(label=SECOND_MANAGER)
    page.get_by_label("沟通要点", exact=False).fill("介绍新的带教计划")
    page.locator("#complete").click()
    page.wait_for_selector("main[data-ready]:not([data-ready^='tasks/" + request["id"] + "'])")
    hand_off = server.ok("GET", f"/tasks?instance_id={instance_id}&element_id=manager_contact_candidate",
                         user=SECOND_MANAGER)["items"]
    assert [t["assignee"] for t in hand_off] == [SECOND_MANAGER]

    page.goto("/app/declines/new")
    page.wait_for_selector("#record-decline")
    decline_picker = page.locator("select[name=hiring_manager]")
    assert MANAGER in [o.strip() for o in decline_picker.locator("option").all_inner_texts()]
    page.context.close()


def test_the_manager_records_what_the_candidate_told_them_from_the_hand_off(server, browser):
    candidate_id, instance_id, hand_off = at_the_hand_off(server, "顾城", "想了解晋升", "带教")

    page = browser.page(server.base)
    sign_in(page, server, MANAGER)
    page.goto(f"/app/tasks/{hand_off['id']}")
    page.wait_for_selector("#record")
    assert page.locator("#record select[name=what] option").all_inner_texts()[1:] == ["候选人回复了"]
    page.locator("#record select[name=what]").select_option(label="候选人回复了")
    page.get_by_label("候选人的回复").fill("周末再打给我")
    page.locator("#record-submit").dblclick()
    # the hand-off does not wait for replies: kept until the case does (once, despite the double click)
    expect(page.locator("#toast")).to_have_text("已记录;目前没有案件在等待,案件开始等待时会收到。")
    page.wait_for_selector("#task-form")
    with sqlite3.connect(server.url_db.removeprefix("sqlite:///")) as db:
        kept = db.execute("SELECT payload FROM buffered_messages WHERE name = 'candidate_replied' AND status = 'buffered'"
                          " AND correlation LIKE ?", (f"%{candidate_id}%",)).fetchall()
    kept = [json.loads(payload) for (payload,) in kept]
    assert [k.pop("replied_at")[:10] for k in kept] == ["2026-01-05"]      # "when": now, the service's
    assert kept == [{"text": "周末再打给我"}]
    page.context.close()
