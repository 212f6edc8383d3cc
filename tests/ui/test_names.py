"""Names, not ids, on every page (issue 15, "People who exist"), in Chromium against a real `recall serve`:
HR, a hiring manager, the process owner and an administrator walk the inbox, tasks (open and completed),
the case, the candidate and the process pages in Chinese and in English, and no page's main text shows a
UUID, a process key, a group code, a history kind or a user id where a name belongs; the header names the
signed-in person by their display name.
"""
from __future__ import annotations

import re
import sqlite3

import pytest

from tests.support import ADMIN, HR, MANAGER, OWNER
from tests.ui.test_workspace import seed_case, sign_in
from tests.ui.ui_harness import Server, chromium_or_skip

pytestmark = pytest.mark.slow

DISPLAY = {HR: "李娜", MANAGER: "王立", OWNER: "欧阳", ADMIN: "管理员"}
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
# codes that have a name: process keys, groups, history kinds, message names, user ids, the engine's actors
RAW = re.compile("|".join([
    UUID, r"\b(offer_recall|department_handoff|onboarding_goals|reoffer)\b", r"\b(hiring_manager|hrbp|hr)\b",
    r"\b(instance|task|element|decline|candidate|contact|message|timer|consent)_[a-z_]+\b",
    r"\b(hr\.li|wang\.li|owner|root|engine|worker:\S+)\b",
]))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The module's `recall serve`, its people given display names before anyone signs in."""
    chromium_or_skip()
    srv = Server(tmp_path_factory.mktemp("ui-names"))
    with sqlite3.connect(srv.url_db.removeprefix("sqlite:///")) as db:
        for name, display in DISPLAY.items():
            db.execute("UPDATE users SET display_name = ? WHERE name = ?", (display, name))
    yield srv
    output = srv.stop()
    assert "Traceback" not in output, output


@pytest.fixture(scope="module")
def cases(server):
    """A follow-up due for HR (李四), and a case at the hand-off HR gave the manager (张伟)."""
    _, follow_up_case = seed_case(server, name="李四", reason="team", decline_date="2026-01-01")
    server.ok("POST", "/testing/clock", {"advance": "P31D"}, user=ADMIN)
    candidate_id, instance_id = seed_case(server, name="张伟", reason="salary", decline_date="2026-02-01")
    server.ok("POST", "/messages", {"name": "candidate_replied", "correlation": {"candidate_id": candidate_id},
                                    "payload": {"text": "可以聊聊"}}, user=HR)

    def task(element_id, user=HR):
        return server.ok("GET", f"/tasks?instance_id={instance_id}&element_id={element_id}", user=user)["items"][0]
    server.ok("POST", f"/tasks/{task('assess_reply')['id']}/complete",
              {"data": {"outcome": "interested", "involve_manager": True}}, user=HR)
    request = task("request_manager_contact")
    server.ok("POST", f"/tasks/{request['id']}/claim", user=HR)
    server.ok("POST", f"/tasks/{request['id']}/complete",
              {"data": {"manager_username": MANAGER, "talking_points": "成长路径"}}, user=HR)
    return {"candidate": candidate_id, "case": instance_id, "follow_up_case": follow_up_case,
            "done": request["id"], "hand_off": task("manager_contact_candidate", user=MANAGER)["id"]}


def pages(cases):
    return {
        HR: ["", f"tasks/{cases['done']}", f"cases/{cases['case']}", f"candidates/{cases['candidate']}",
             "candidates", "processes", "processes/department_handoff"],
        MANAGER: ["", f"tasks/{cases['hand_off']}", "processes"],
        OWNER: ["", f"tasks/{cases['hand_off']}", f"cases/{cases['case']}", "processes", "processes/offer_recall"],
        ADMIN: ["", f"cases/{cases['follow_up_case']}"],
    }


def walk(browser, server, user, lang, paths):
    """{path: the main text} of each page as `user` in `lang`, and the header's text."""
    page = browser.page(server.base)
    sign_in(page, server, user)
    page.evaluate("lang => localStorage.setItem('recall.lang', lang)", lang)
    texts = {}
    for path in paths:
        page.goto(f"/app/{path}")
        page.wait_for_selector("main[data-ready]:not([aria-busy])")
        page.wait_for_load_state("networkidle")       # the candidate's name arrives after the page
        texts[path] = page.inner_text("main")
        header = page.inner_text("#session .who")
    page.context.close()
    return texts, header


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_no_page_shows_an_id_or_a_code_where_a_name_belongs(server, browser, cases, lang):
    seen = {}
    for user, paths in pages(cases).items():
        texts, header = walk(browser, server, user, lang, paths)
        assert header.split(":")[-1].strip().startswith(f"{DISPLAY[user]} · "), header
        for path, text in texts.items():
            raw = sorted({m.group(0) for m in RAW.finditer(text)})
            assert not raw, f"{user} /app/{path} ({lang}) shows {raw}:\n{text}"
            seen[(user, path)] = text
    zh = lang == "zh"
    # ... and the names are there instead
    hr_inbox = seen[(HR, "")]
    assert "李四" in hr_inbox and ("人力资源" if zh else "HR") in hr_inbox
    done = seen[(HR, f"tasks/{cases['done']}")]
    assert "张伟" in done and "李娜" in done                                      # the candidate, who completed it
    history = seen[(HR, f"cases/{cases['case']}")]
    assert "李娜" in history and "王立" in history and ("系统" if zh else "System") in history
    assert ("记录未到岗" if zh else "Decline recorded") in history                 # a kind the server labels
    assert "李娜" in seen[(HR, f"candidates/{cases['candidate']}")]                 # the timeline's actors
    assert ("入职召回" if zh else "Offer recall") in seen[(HR, "processes")]
    manager_inbox = seen[(MANAGER, "")]
    assert "张伟" in manager_inbox                                                # the hand-off they hold
    assert "张伟" in seen[(MANAGER, f"tasks/{cases['hand_off']}")]
    owner_inbox = seen[(OWNER, "")]
    assert "王立" in owner_inbox and "张伟" not in owner_inbox and "李四" not in owner_inbox   # no names for the owner


def test_a_reassigned_task_is_said_to_belong_to_the_person_by_name(server, browser, cases):
    follow_up = server.ok("GET", f"/tasks?instance_id={cases['follow_up_case']}", user=ADMIN)["items"][0]
    page = browser.page(server.base)
    sign_in(page, server, ADMIN)
    page.goto(f"/app/tasks/{follow_up['id']}")
    page.wait_for_selector("#task-form")
    page.locator("#handover summary").click()
    page.get_by_label("转交给").fill(HR)
    page.locator("#reassign").click()
    page.wait_for_selector("main[data-ready=inbox]")
    assert page.inner_text("#toast") == "任务已转交给 李娜。"
    assert server.ok("GET", f"/tasks/{follow_up['id']}", user=HR)["assignee_name"] == "李娜"
    page.context.close()
