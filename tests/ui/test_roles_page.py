"""Issue 18, role profiles in the browser (pages/roles.js): HR imports an XLSX file with one bad row — the
dry run reports it by row and column, and nothing is half-imported; the fixed file imports and the list shows
the roles with their stale markers. Then HR edits one profile (a path stage added, a story with the consented
box), a bad figure is said beside its field, the saved version appears in the history with who and the note,
and the open positions are set. Chromium against a real `recall serve`; every change checked through the API;
no serious axe-core violation; screenshots for docs/role-profiles.md."""
from __future__ import annotations

from datetime import date

import pytest
from playwright.sync_api import expect

from tests.archive.test_roles_import import xlsx
from tests.support import HR
from tests.ui.test_accessibility import violations
from tests.ui.ui_harness import shot

pytestmark = pytest.mark.slow
HEADER = ["岗位", "岗位编码", "英文名称", "别名", "生效日期", "数据日期", "薪资下限", "薪资上限", "调薪幅度", "晋升路径",
          "晋升率", "统计人数", "每周远程天数", "空缺数"]
BACKEND = ["后端工程师", "backend_engineer", "Backend engineer", "Java后端", date(2026, 1, 1), date(2026, 1, 1), 18000,
           30000, 0.08, "初级工程师(12个月:独立完成模块开发) > 中级工程师(18个月) > 主管(24个月:带领3人团队)", 22.5, 40, 2, 3]
DATA = ["数据分析师", "data_analyst", "Data analyst", "", date(2026, 1, 1), date(2024, 6, 1), 15000, 25000, 0.05,
        "分析师 > 高级分析师", "", "", "", 1]


def _signed_in(browser, server, user):
    page = browser.page(server.base)
    page.goto("/app/signin")
    page.wait_for_selector("main[data-ready=signin]")
    page.evaluate("token => sessionStorage.setItem('recall.token', token)", server.tokens[user])
    return page


def _upload(page, tmp_path, rows, name="roles.xlsx"):
    path = tmp_path / name
    path.write_bytes(xlsx(rows, percent_column=9))
    page.get_by_label("文件", exact=True).set_input_files(str(path))
    page.get_by_role("button", name="检查文件").click()


def test_hr_imports_an_xlsx_with_a_bad_row_then_edits_a_profile(server, browser, tmp_path):
    page = _signed_in(browser, server, HR)
    page.goto("/app/")
    page.wait_for_selector("main[data-ready]")
    page.locator("#nav").get_by_role("link", name="岗位档案", exact=True).click()
    page.wait_for_selector("main[data-ready=roles]")
    expect(page.get_by_text("还没有岗位档案")).to_be_visible()

    bad = list(DATA)
    bad[7] = "两万五"                                          # 薪资上限 not a number
    _upload(page, tmp_path, [HEADER, BACKEND, bad])
    report = page.locator("#import-report")
    expect(report.locator("tr[data-row='3'] td").nth(1)).to_have_text("薪资上限")
    expect(report.locator("tr[data-row='3'] td").nth(2)).to_have_text("'两万五' is not a number")
    expect(page.get_by_role("button", name="只导入无误的 1 行")).to_be_visible()
    assert not [v for v in violations(page) if v["impact"] in ("serious", "critical")]
    shot(page, "roles-import-report.png")
    assert server.ok("GET", "/roles", user=HR)["items"] == []     # the dry run wrote nothing
    # the real import of the bad file over the API: refused whole, nothing half-imported
    status, _ = server.api("GET", "/roles/backend_engineer", user=HR)
    assert status == 404

    _upload(page, tmp_path, [HEADER, BACKEND, DATA], name="roles-fixed.xlsx")
    expect(page.locator("[role=status]").filter(has_text="检查通过")).to_contain_text("新建 2 个")
    page.get_by_role("button", name="导入全部 2 行").click()
    page.wait_for_selector("#roles-table")
    expect(page.locator("#toast")).to_contain_text("已导入")
    rows = page.locator("#roles-table tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("tr[data-role=data_analyst] [data-stale]")).to_contain_text("已过期")   # figures of 2024-06
    expect(page.locator("tr[data-role=backend_engineer]")).to_contain_text("数据有效")
    backend = server.ok("GET", "/roles/backend_engineer", user=HR)
    assert backend["facts"]["salary"]["change_pct"] == 8 and backend["open_positions"] == 3
    assert [s["name"]["zh"] for s in backend["facts"]["path"]["stages"]] == ["初级工程师", "中级工程师", "主管"]
    assert backend["aliases"] == ["Java后端", "后端工程师"]
    assert not [v for v in violations(page) if v["impact"] in ("serious", "critical")]
    shot(page, "roles-list.png")

    # edit the backend profile: a stage added, a consented story, a bad figure first
    page.get_by_role("link", name="后端工程师").click()
    page.wait_for_selector("main[data-ready='roles/backend_engineer']")
    form = page.locator("#role-form")
    form.get_by_role("button", name="添加阶段").focus()              # by keyboard: the new stage's first field
    page.keyboard.press("Enter")
    stage = form.locator("[data-items='path.stages'] > fieldset").nth(3)
    expect(stage.get_by_label("编码")).to_be_focused()
    stage.get_by_label("编码").fill("manager")
    stage.locator("[data-field='path.stages.3.name']").get_by_label("中文").fill("经理")
    stage.get_by_label("通常月数").fill("-1")
    form.get_by_role("button", name="添加故事").click()
    story = form.locator("[data-items='stories.items'] > fieldset").nth(0)
    story.get_by_label("本人已同意展示").check()
    story.locator("[data-field='stories.items.0.text']").get_by_label("中文").fill("入职20个月晋升主管,涨薪35%")
    story.get_by_label("用时(月)").fill("20")
    form.locator("[data-group=stories]").get_by_label("数据日期").fill("2026-01-02")
    form.get_by_label("修改说明").fill("加上经理阶段和一个成长故事")
    form.get_by_role("button", name="保存新版本").click()
    error = page.locator("[data-field='path.stages.3.typical_months'] .field-error")
    expect(error).to_have_text("must be a whole number >= 0 and <= 600")
    expect(page.locator("#role-errors")).to_contain_text("facts.path.stages[3].typical_months")
    assert server.ok("GET", "/roles/backend_engineer", user=HR)["latest_version"] == 1
    stage.get_by_label("通常月数").fill("36")
    form.get_by_role("button", name="保存新版本").click()
    expect(page.locator("#toast")).to_have_text("已保存 v2")
    history = page.locator("#role-history tr[data-version='2']")
    expect(history).to_contain_text("hr.li")
    expect(history).to_contain_text("加上经理阶段和一个成长故事")
    saved = server.ok("GET", "/roles/backend_engineer", user=HR)
    assert saved["facts"]["path"]["stages"][3] == {"key": "manager", "name": {"zh": "经理"}, "typical_months": 36}
    assert saved["facts"]["stories"]["items"] == [{"consented": True, "months": 20,
                                                   "text": {"zh": "入职20个月晋升主管,涨薪35%"}}]
    assert saved["facts"]["salary"]["change_pct"] == 8            # the other groups as they were

    # the openings, then a stage removed
    page.locator("#role-now").get_by_label("空缺数").fill("5")
    page.locator("#role-now").get_by_role("button", name="保存空缺与别名").click()
    expect(page.locator("#toast")).to_have_text("已保存")
    assert server.ok("GET", "/roles/backend_engineer", user=HR)["open_positions"] == 5
    page.wait_for_selector("main[data-ready='roles/backend_engineer']")
    assert not [v for v in violations(page) if v["impact"] in ("serious", "critical")]
    shot(page, "roles-edit.png")
    form = page.locator("#role-form")
    form.get_by_role("button", name="删除阶段 2").click()
    expect(form.locator("[data-items='path.stages'] > fieldset")).to_have_count(3)
    expect(form.get_by_role("button", name="添加阶段")).to_be_focused()   # focus is not lost with the stage
    expect(form.get_by_role("button", name="删除阶段 3")).to_be_visible()  # renumbered
    form.get_by_label("修改说明").fill("中级并入初级")
    form.get_by_role("button", name="保存新版本").click()
    expect(page.locator("#toast")).to_have_text("已保存 v3")
    stages = server.ok("GET", "/roles/backend_engineer", user=HR)["facts"]["path"]["stages"]
    assert [s["key"] for s in stages] == ["初级工程师", "主管", "manager"]
    page.context.close()


def test_the_roles_page_in_english_for_a_process_owner(server, browser):
    from tests.archive.test_roles import FACTS, TITLE
    from tests.support import OWNER
    server.ok("PUT", "/roles/qa_engineer", {"title": TITLE, "facts": FACTS, "effective_from": "2026-01-01",
                                            "note": "seeded"}, user=OWNER)
    page = browser.page(server.base, lang="en")
    page.goto("/app/signin")
    page.wait_for_selector("main[data-ready=signin]")
    page.evaluate("token => sessionStorage.setItem('recall.token', token)", server.tokens[OWNER])
    page.goto("/app/")
    page.wait_for_selector("main[data-ready]")
    page.locator("#nav").get_by_role("link", name="Roles", exact=True).click()
    page.wait_for_selector("main[data-ready=roles]")
    expect(page.get_by_role("heading", name="Role profiles", exact=True)).to_be_visible()
    expect(page.locator("tr[data-role=qa_engineer]")).to_contain_text("Up to date")
    page.locator("tr[data-role=qa_engineer]").get_by_role("link").click()
    page.wait_for_selector("main[data-ready='roles/qa_engineer']")
    expect(page.locator("[data-group=salary] legend").first).to_contain_text("Salary")
    expect(page.locator("#role-history tr[data-version='1']")).to_contain_text("seeded")
    assert not [v for v in violations(page) if v["impact"] in ("serious", "critical")]
    page.context.close()


def test_a_new_profile_is_made_on_the_page(server, browser):
    page = _signed_in(browser, server, HR)
    page.goto("/app/roles")
    page.wait_for_selector("main[data-ready=roles]")
    page.get_by_label("岗位编码").fill("Ops Engineer")
    page.get_by_role("button", name="新建", exact=True).click()
    expect(page.get_by_text("岗位编码格式不正确")).to_be_visible()
    expect(page.get_by_label("岗位编码")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("岗位编码").fill("ops_engineer")
    page.get_by_role("button", name="新建", exact=True).click()
    page.wait_for_selector("main[data-ready='roles/ops_engineer']")
    form = page.locator("#role-form")
    form.get_by_label("中文名称").fill("运维工程师")
    salary = form.locator("[data-group=salary]")
    salary.get_by_label("调薪幅度(%)").fill("6.5")
    form.get_by_role("button", name="保存新版本").click()               # the figures' date is missing
    expect(salary.locator("[data-field='salary.as_of'] .field-error")).to_have_text("is required")
    salary.get_by_label("数据日期").fill("2026-01-05")
    form.get_by_role("button", name="保存新版本").click()
    expect(page.locator("#toast")).to_have_text("已保存 v1")
    page.wait_for_selector("#role-history tr[data-version='1']")
    made = server.ok("GET", "/roles/ops_engineer", user=HR)
    assert made["title"] == {"zh": "运维工程师"} and made["version"] == 1
    assert made["facts"] == {"salary": {"as_of": "2026-01-05", "change_pct": 6.5}}
    assert not [v for v in violations(page) if v["impact"] in ("serious", "critical")]
    page.context.close()
