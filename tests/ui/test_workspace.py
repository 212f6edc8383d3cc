"""The HR workspace in a real browser (issue 8, "Show it").

Headless Chromium (Debian's package, through Playwright's `executable_path`) against a real
`recall serve` on the simulated clock: HR signs in, records a decline, completes
`archive_decline` with one field wrong (the error shows beside the field) and then right,
the clock moves 31 days, HR opens the day-30 follow-up, copies the suggestion and completes
it; a hiring manager sees only the hand-off task assigned to them; the diagram marks the
current task. Screenshots go to docs/screenshots/ (shown in the README).
"""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.support import MANAGER, OTHER_MANAGER
from tests.ui.ui_harness import shot, sign_in

pytestmark = pytest.mark.slow


def seed_case(server, *, name, reason, decline_date, needs=(), questions=(), archive_it=True):
    """A case started over the API, as an ATS would: (candidate id, instance id)."""
    who = server.ok("POST", "/candidates", {"name": name, "role_applied": "门店主管"}, user="hr.li")
    started = server.ok("POST", f"/candidates/{who['id']}/declines", {
        "reason": reason, "decline_date": f"{decline_date}T09:00:00+08:00", "needs": list(needs),
        "open_questions": list(questions), "lang": "zh",
        "consent": {"granted": True, "scope": "similar_roles", "source": "电话", "expires_at": "2027-06-30T00:00:00+08:00"},
    }, user="hr.li")
    if archive_it:
        task = server.ok("GET", f"/tasks?instance_id={started['instance_id']}&element_id=archive_decline",
                         user="hr.li")["items"][0]
        server.ok("POST", f"/tasks/{task['id']}/complete", {"data": {
            "decline_reason": reason, "needs": list(needs), "open_questions": list(questions),
            "talent_pool_consent": True, "consent_scope": "similar_roles", "consent_expiry": "2027-06-30"}},
            user="hr.li")
    return who["id"], started["instance_id"]


def test_hr_records_a_decline_fixes_a_field_and_sends_the_day_30_follow_up(server, browser):
    page = browser.page(server.base)

    # --- sign in: a wrong token is refused beside the field
    page.goto("/app/")
    page.wait_for_url(re.compile(r"/app/signin\?next="))
    page.get_by_label("API 令牌").fill("not-a-token")
    page.get_by_role("button", name="登录").click()
    expect(page.locator(".field-error")).to_have_text("令牌无效或已被替换")
    page.get_by_label("API 令牌").fill(server.tokens["hr.li"])
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("h1:text('我的待办')")
    assert page.locator("#session").inner_text().startswith("English")

    # another candidate, declined a day later, whose archive is still to be confirmed
    _, other_instance = seed_case(server, name="李娜", reason="salary", decline_date="2026-01-06",
                                         needs=["薪资透明"], archive_it=False)

    # --- record a decline from the web: candidate + reason + needs + consent
    page.locator("#nav").get_by_role("link", name="记录未到岗", exact=True).click()
    page.wait_for_selector("h1:text('记录未到岗,开始召回案件')")
    page.get_by_label("姓名").fill("张伟")
    page.get_by_label("电话").fill("13800000000")
    page.get_by_label("应聘岗位").fill("门店运营主管")
    page.get_by_label("未到岗原因").select_option(label="团队氛围")
    page.get_by_label("原因说明").fill("面试时觉得团队氛围紧张,担心加班文化。")
    page.get_by_label("核心需求 第 1 项").fill("弹性工作")
    page.get_by_role("button", name="添加一项: 核心需求").click()
    page.get_by_label("核心需求 第 2 项").fill("有人带教")
    page.get_by_label("未解答的疑问 第 1 项").fill("晋升路径是什么?")
    page.get_by_label("候选人同意进入人才库").check()
    page.get_by_label("同意范围").select_option(label="相似岗位")
    page.get_by_label("如何取得同意").fill("电话中口头同意")
    page.get_by_label("有效期至").fill("2027-01-05")
    page.get_by_role("button", name="记录并开始案件").click()

    # --- archive_decline: one field wrong, the server's error shows beside it
    page.wait_for_selector("h1:text('记录未到岗原因')")
    archive_url = page.url
    page.get_by_label("同意进入人才库").check()
    page.get_by_label("同意范围").select_option(label="相似岗位")
    page.get_by_label("同意有效期至").fill("")
    # prefilled from the decline just recorded
    reason = page.locator('[name="decline_reason"]')
    assert reason.locator("option:checked").inner_text() == "团队氛围"
    needs = page.locator('.field[data-path="needs"] input')
    assert [needs.nth(i).input_value() for i in range(needs.count())] == ["弹性工作", "有人带教"]
    page.get_by_role("button", name="完成任务").click()
    error = page.locator('.field[data-path="consent_expiry"] .field-error')
    expect(error).to_have_text("必填")
    expiry = page.get_by_label("同意有效期至")
    assert expiry.get_attribute("aria-invalid") == "true"
    assert error.get_attribute("id") in expiry.get_attribute("aria-describedby").split()
    assert page.locator(".error-summary").is_visible() and page.url == archive_url
    assert page.locator(".field-error:visible").count() == 1
    shot(page, "task-form-error.png")

    # --- right: completing moves to the next task of the inbox (the other archive)
    expiry.fill("2027-01-05")
    page.get_by_role("button", name="完成任务").click()
    page.wait_for_url(lambda url: url != archive_url)
    other_task = server.ok("GET", f"/tasks?instance_id={other_instance}", user="hr.li")["items"][0]
    assert page.url.endswith(f"/app/tasks/{other_task['id']}")
    expect(page.locator("#toast")).to_contain_text("已完成「记录未到岗原因」")
    mine = server.ok("GET", "/process-instances?process_key=offer_recall&status=waiting", user="hr.li")["items"]
    assert len(mine) == 1
    instance_id = mine[0]["id"]
    server.ok("POST", f"/tasks/{other_task['id']}/complete", {"data": {
        "decline_reason": "salary", "needs": ["薪资透明"], "talent_pool_consent": True,
        "consent_scope": "any_role", "consent_expiry": "2027-06-30"}}, user="hr.li")
    seed_case(server, name="王芳", reason="career_path", decline_date="2026-02-04",
              needs=["晋升机会"], archive_it=False)

    # --- 31 days later (simulated clock): the day-30 follow-ups are in the inbox
    report = server.ok("POST", "/testing/clock", {"advance": "P31D"}, user="root")
    assert report["errors"] == 0
    page.locator("#nav").get_by_role("link", name="待办", exact=True).click()
    page.wait_for_selector("table.inbox")
    rows = page.locator("table.inbox tbody tr")
    assert rows.count() == 3
    first = rows.nth(0)
    assert first.get_attribute("data-element-id") == "follow_up_day_30"
    assert "已逾期" in first.inner_text()
    assert "张伟" in first.inner_text()
    assert page.locator(".queues a[aria-current=page]").inner_text().startswith("全部")
    shot(page, "inbox.png")

    # --- the follow-up: suggestion with a copy button, the candidate's story beside it
    first.locator("th a").click()
    page.wait_for_selector("h1:text('第 30 天问候')")
    suggestion = page.locator("#suggested-message").inner_text()
    assert suggestion.startswith("张伟 你好") and suggestion == page.get_by_label("实际发送的消息").input_value()  # by name
    context = page.locator("aside.task-context")
    for text in ("张伟", "团队氛围", "面试时觉得团队氛围紧张", "弹性工作", "有人带教", "晋升路径是什么?"):
        expect(context).to_contain_text(text)
    page.get_by_role("button", name="复制").click()
    page.wait_for_selector("#copy-suggestion[data-copied=true]")
    assert page.evaluate("navigator.clipboard.readText()") == suggestion
    shot(page, "task-form.png")
    follow_up_url = page.url

    # --- the diagram marks the current task, the completed ones and the waiting message
    page.get_by_role("link", name="查看流程图").click()
    page.wait_for_selector("figure.diagram[data-drawn=true]")
    assert page.locator('g.djs-element.is-current[data-element-id="follow_up_day_30"]').count() == 1
    assert page.locator('g.djs-element.is-done[data-element-id="archive_decline"]').count() == 1
    assert page.locator('g.djs-element.is-message[data-element-id="cadence_reply_received"]').count() == 1
    assert page.locator(".overlay-current").count() == 1
    assert "第 30 天问候" in page.locator("#case-now").inner_text()
    shot(page, "diagram.png", full_page=False)

    # --- complete the follow-up with what was sent: on to the next task
    page.goto(follow_up_url)
    page.wait_for_selector("h1:text('第 30 天问候')")
    page.get_by_label("实际发送的消息").fill(suggestion + "\n(已通过企业微信发送)")
    page.get_by_label("跟进渠道").select_option(label="企业微信")
    page.get_by_label("已发送").check()
    page.get_by_role("button", name="完成任务").click()
    page.wait_for_url(lambda url: url != follow_up_url)
    assert re.search(r"/app/tasks/[0-9a-f-]+$", page.url)
    expect(page.locator("#toast")).to_contain_text("已完成「第 30 天问候」")
    case = server.ok("GET", f"/process-instances/{instance_id}", user="hr.li")
    assert [t["element_id"] for t in case["waiting_timers"]] == ["wait_day_90"]

    # --- the case's diagram now waits at the day-90 timer, with its due date
    page.goto(f"/app/cases/{instance_id}")
    page.wait_for_selector("figure.diagram[data-drawn=true]")
    assert page.locator('g.djs-element.is-timer[data-element-id="wait_day_90"]').count() == 1
    assert page.locator('g.djs-element.is-done[data-element-id="follow_up_day_30"]').count() == 1
    assert page.locator(".overlay-timer").count() == 1

    # --- the candidate's page: archive, the message sent, the case
    page.locator("#nav").get_by_role("link", name="候选人", exact=True).click()
    page.get_by_label("关键词").fill("弹性工作")              # full text over needs, questions, notes
    page.get_by_role("button", name="搜索").click()
    page.wait_for_url(re.compile(r"q=%E5%BC%B9"))
    expect(page.locator("table.candidates tbody tr")).to_have_count(1)
    page.get_by_role("link", name="张伟").click()
    page.wait_for_selector("h1:text('候选人:张伟')")
    body = page.locator("main").inner_text()
    assert "团队氛围" in body and "弹性工作" in body and "(已通过企业微信发送)" in body, body
    assert "13800000000" in body
    shot(page, "candidate.png")
    page.context.close()


def test_a_hiring_manager_sees_only_the_hand_off_task_assigned_to_them(server, browser):
    candidate_id, instance_id = seed_case(server, name="陈静", reason="career_path",
                                          decline_date="2026-02-01", needs=["清晰的晋升路径"],
                                          questions=["多久可以晋升?"])
    delivered = server.ok("POST", "/messages", {"name": "candidate_replied", "correlation": {"candidate_id": candidate_id},
                                                "payload": {"text": "最近在考虑机会,可以聊聊"}}, user="hr.li")
    assert delivered["delivered_to"] == [instance_id]
    assess = server.ok("GET", f"/tasks?instance_id={instance_id}&element_id=assess_reply", user="hr.li")["items"][0]
    server.ok("POST", f"/tasks/{assess['id']}/complete",
              {"data": {"outcome": "interested", "involve_manager": True}}, user="hr.li")
    request = server.ok("GET", f"/tasks?instance_id={instance_id}&element_id=request_manager_contact", user="hr.li")["items"][0]
    server.ok("POST", f"/tasks/{request['id']}/complete", {"data": {
        "manager_username": MANAGER, "talking_points": "介绍团队的晋升通道和带教安排"}}, user="hr.li")

    page = browser.page(server.base)
    sign_in(page, server, MANAGER)
    rows = page.locator("table.inbox tbody tr")
    assert rows.count() == 1, (page.locator("main").inner_text(), server.api("GET", "/workspace/inbox", user=MANAGER))
    assert rows.first.get_attribute("data-element-id") == "manager_contact_candidate"
    nav = page.locator("#nav").inner_text()
    assert "记录未到岗" not in nav and "候选人" not in nav
    assert [" ".join(a.inner_text().split()) for a in page.locator(".queues a").all()] == ["全部 1", "分配给我 1", "已逾期 0"]
    rows.first.locator("th a").click()
    page.wait_for_selector("h1:text('经理联系候选人')")
    context = page.locator("aside.task-context")
    for text in ("陈静", "发展路径", "清晰的晋升路径", "多久可以晋升?", "介绍团队的晋升通道", "最近在考虑机会,可以聊聊"):
        expect(context).to_contain_text(text)
    assert page.locator("text=查看流程图").count() == 0        # managers do not read whole cases
    page.context.close()

    other = browser.page(server.base)
    sign_in(other, server, OTHER_MANAGER)
    expect(other.locator("p.empty")).to_have_text("没有待办任务。")
    other.context.close()
    hr_inbox = server.ok("GET", "/workspace/inbox", user="hr.li")["items"]
    assert "manager_contact_candidate" not in {t["element_id"] for t in hr_inbox}


def test_the_process_owner_sees_how_many_cases_wait_at_each_element(server, browser):
    page = browser.page(server.base)
    sign_in(page, server, "owner")
    page.locator("#nav").get_by_role("link", name="流程", exact=True).click()
    page.locator("main").get_by_role("link", name="入职召回", exact=True).click()     # the process by its name
    page.wait_for_selector("figure.diagram[data-drawn=true]")
    waiting = server.ok("GET", "/workspace/diagrams/offer_recall/waiting", user="owner")
    expected = {e["element_id"]: e["tasks"] + e["timers"] + e["messages"] for e in waiting["elements"]}
    badges = {}
    for element in page.locator("g.djs-element.has-count").all():
        element_id = element.get_attribute("data-element-id")
        badges[element_id] = int(page.locator(f'.djs-overlays[data-container-id="{element_id}"] .overlay-count').first.inner_text())
    drawn = {k: v for k, v in expected.items() if k in badges}
    assert drawn == badges and expected.get("wait_day_90") == badges.get("wait_day_90")
    rows = page.locator("table.counts tbody tr")
    assert rows.count() == len(waiting["elements"])
    shot(page, "process-owner.png", full_page=False)
    page.context.close()


def test_phone_width_english_and_keyboard(server, browser):
    page = browser.page(server.base, width=390, height=844)
    sign_in(page, server, "hr.li")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "inbox-phone.png")
    page.get_by_role("button", name="Switch to English").click()
    page.wait_for_selector("h1:text('My inbox')")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.locator("table.inbox thead th").first.text_content() == "Step"
    # keyboard: the skip link leads to the main content, the first task opens with Enter
    page.reload()
    page.wait_for_selector("h1:text('My inbox')")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    link = page.locator("table.inbox tbody tr th a").first
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_selector("#task-form")
    assert page.evaluate("document.activeElement.tagName") == "H1"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.context.close()


def test_the_shell_is_plain_files_with_a_strict_content_security_policy(server):
    import urllib.request
    with urllib.request.urlopen(f"{server.base}/app/tasks/anything") as response:
        html = response.read().decode()
        csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert 'data-api="/api/v1"' in html
    assert not re.search(r'(src|href)="(https?:)?//', html)        # nothing from a CDN
    for asset in ("app.js", "app.css", "vendor/bpmn-js/bpmn-viewer.production.min.js", "vendor/bpmn-js/LICENSE"):
        with urllib.request.urlopen(f"{server.base}/app/static/{asset}") as response:
            assert response.status == 200


def test_every_process_form_renders_and_round_trips_its_values(server, browser):
    """All forms of forms/ (text, long text, enums, booleans, dates, numbers, arrays of objects)."""
    import json as _json
    from tests.ui.ui_harness import ROOT

    forms = {}
    for schema_file in sorted((ROOT / "forms").glob("*.schema.json")):
        ui_file = schema_file.with_name(schema_file.name.replace(".schema.json", ".uischema.json"))
        forms[schema_file.name] = [_json.loads(schema_file.read_text(encoding="utf-8")),
                                   _json.loads(ui_file.read_text(encoding="utf-8")) if ui_file.exists() else {}]
    page = browser.page(server.base)
    page.goto("/app/signin")
    page.wait_for_selector("main[data-ready]")
    report = page.evaluate("""async (forms) => {
      const { SchemaForm } = await import("/app/static/form.js");
      const out = {};
      for (const [name, [schema, ui]] of Object.entries(forms)) {
        const form = new SchemaForm(schema, ui, {});
        document.querySelector("main").append(form.element);
        out[name] = { fields: form.element.querySelectorAll("[data-path]").length,
                      properties: Object.keys(schema.properties).length };
        form.element.remove();
      }
      // an array of objects: add a goal, fill it, read it back, put an error on one of its fields
      const [schema, ui] = forms["agree_goals.schema.json"];
      const form = new SchemaForm(schema, ui, { goals: [{ title: "熟悉门店", measure: "流程考核", target: "通过", due_day: 30 }] });
      document.querySelector("main").append(form.element);
      form.element.querySelector(".add-item").click();
      const second = form.element.querySelectorAll(".array-items > li")[1];
      const inputs = second.querySelectorAll("input");
      inputs[0].value = "独立排班"; inputs[1].value = "排班表"; inputs[3].value = "60";
      out.value = form.value();
      out.shown = form.showErrors([{ field: "goals.1.target", message: "'target' is a required property" }]);
      const target = second.querySelectorAll("input")[2];
      out.error = { invalid: target.getAttribute("aria-invalid"),
                    text: second.querySelector(".field-error:not([hidden])").textContent };
      // booleans and enums as radios (approve_reoffer), numbers (prepare_reoffer)
      const [s2, u2] = forms["prepare_reoffer.schema.json"];
      const offer = new SchemaForm(s2, u2, { salary: 21000, days_valid: 7, start_date: "2026-03-02" });
      out.offer = offer.value();
      return out;
    }""", forms)
    for name in forms:
        assert report[name]["fields"] >= report[name]["properties"], (name, report[name])
    assert report["value"] == {"goals": [
        {"title": "熟悉门店", "measure": "流程考核", "target": "通过", "due_day": 30},
        {"title": "独立排班", "measure": "排班表", "due_day": 60}]}
    assert report["shown"] == 1 and report["error"] == {"invalid": "true", "text": "必填"}
    assert report["offer"] == {"salary": 21000, "start_date": "2026-03-02", "days_valid": 7}
    page.context.close()
