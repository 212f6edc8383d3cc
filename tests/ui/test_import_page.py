"""Issue 20, the import page in the browser (hr, pages/import.js): upload a GBK CSV, see the mapping
suggested from its headers, map a reason text by hand, run the dry run (the bad row named by row and
column, nothing written), confirm, watch the progress bar to the end and find the candidates. Chromium
against a real `recall serve`; every step is checked through the API. With RECALL_TEST_SCREENSHOTS=1
it takes docs/import.md's screenshots."""
from __future__ import annotations

from urllib.parse import quote

import pytest
from playwright.sync_api import expect

from tests.support import HR
from tests.ui.test_accessibility import violations
from tests.ui.ui_harness import shot

pytestmark = pytest.mark.slow

CSV = ("候选人ID,姓名,手机号,邮箱,应聘岗位,拒绝原因,拒绝日期,是否同意进入人才库\n"
       "P-1,页面甲,13800138051,jia@example.com,店长,薪资不满意,2022/3/5,是\n"
       "P-2,页面乙,13800138052,,区域经理,钱给少了,2022/4/8,是\n"
       "P-3,页面丙,138001,,店员,通勤太远,2022-13-01,否\n").encode("gbk")      # a bad phone and date


def test_upload_map_dry_run_confirm_and_see_the_candidates(server, browser, tmp_path):
    path = tmp_path / "moka-导出.csv"
    path.write_bytes(CSV)
    page = browser.page(server.base)
    page.goto("/app/signin")
    page.wait_for_selector("main[data-ready=signin]")
    page.evaluate("token => sessionStorage.setItem('recall.token', token)", server.tokens[HR])
    page.goto("/app/")
    page.wait_for_selector("main[data-ready]")
    page.locator("#nav").get_by_role("link", name="导入", exact=True).click()
    page.wait_for_selector("main[data-ready=import]")

    page.get_by_label("来源").fill("moka")
    page.get_by_label("文件").set_input_files(str(path))
    page.get_by_role("button", name="读取文件").click()
    expect(page.locator("#map-phone")).to_have_value("手机号")               # suggested from the header
    expect(page.locator("#map-decline_date")).to_have_value("拒绝日期")
    page.get_by_label("钱给少了").select_option("salary")                    # a reason text mapped by hand
    shot(page, "import-mapping.png")
    assert not [v for v in violations(page) if v["impact"] in ("serious", "critical")]

    page.get_by_role("button", name="检查(不写入)").click()
    expect(page.locator("#import-summary")).to_have_text("共 3 行:2 行可以导入,1 行有错误。")
    expect(page.locator("#import-errors tr[data-row='4']")).to_contain_text(["手机号", "拒绝日期"])
    bad_date = page.locator("#import-errors tr[data-row='4']", has_text="拒绝日期")   # worded from code and params
    expect(bad_date).to_contain_text("“2022-13-01”不是有效日期(可用 2022-03-05、2022/3/5、2022年3月5日、3/5/2022 或 Excel 日期)")
    expect(page.locator("#import-errors tr[data-row='4']", has_text="手机号")).to_contain_text("“138001”不是大陆手机号")
    assert "is not a" not in page.locator("#import-errors").inner_text()            # no English left
    shot(page, "import-dry-run.png")
    assert server.ok("GET", f"/candidates?q={quote('页面')}", user=HR)["items"] == []     # nothing written yet

    page.get_by_role("button", name="确认导入 2 行").click()
    expect(page.locator("#import-status")).to_contain_text("导入完成:新建 2", timeout=30_000)
    expect(page.locator("#import-progress")).to_have_attribute("value", "2")
    shot(page, "import-done.png")
    page.locator("#import-see").click()
    page.wait_for_selector("main[data-ready=candidates]")
    found = server.ok("GET", f"/candidates?q={quote('页面')}", user=HR)["items"]
    assert sorted(c["name"] for c in found) == ["页面乙", "页面甲"]
    [run] = server.ok("GET", "/imports", user=HR)["items"]
    assert run["mapping"]["phone"] == "手机号" and run["options"]["reason_map"] == {"钱给少了": "salary"}
    page.context.close()
