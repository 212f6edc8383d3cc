"""Importing role profiles from CSV (UTF-8 with or without BOM, GBK) and XLSX (engine/archive/roles_import.py):
a dry run writes nothing, a bad row is reported by row and column and nothing is half-imported, the good rows
alone when asked, a re-import of the same file writes no version (SQLite and PostgreSQL)."""
from __future__ import annotations

import io
from datetime import date

import pytest
from openpyxl import Workbook
from sqlalchemy import func, select

from engine.archive import roles
from engine.archive.role_book import RoleProfiles
from engine.archive.roles_import import ImportRefused, parse_path
from engine.role_models import RoleProfileVersion
from tests.support import ROOT

CSV = (ROOT / "tests" / "fixtures" / "roles" / "roles.csv").read_bytes()


def version_count(engine) -> int:
    with engine.db.read_transaction() as s:
        return s.scalar(select(func.count()).select_from(RoleProfileVersion))


def xlsx(rows: list[list], *, percent_column: int | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    if percent_column is not None:
        for cells in sheet.iter_rows(min_row=2, min_col=percent_column, max_col=percent_column):
            for cell in cells:
                cell.number_format = "0%"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_path_cell_reads_stages_months_and_requirements():
    assert parse_path("初级工程师(12个月:独立完成模块开发) ＞ 中级（18个月） → 主管(带领3人团队) -> 经理") == [
        {"name": "初级工程师", "typical_months": 12, "requirements": "独立完成模块开发"},
        {"name": "中级", "typical_months": 18}, {"name": "主管", "requirements": "带领3人团队"}, {"name": "经理"}]
    assert parse_path("Junior (12 months: ships a module) > Lead") == [
        {"name": "Junior", "typical_months": 12, "requirements": "ships a module"}, {"name": "Lead"}]
    with pytest.raises(ValueError):
        parse_path("初级 > > 主管")


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk"])
def test_a_csv_imports_every_row_and_again_writes_nothing(engine, encoding):
    book = RoleProfiles(engine)
    data = CSV.decode("utf-8").encode(encoding)
    dry = book.import_file(data, filename="roles.csv", actor="hr.li", dry_run=True)
    assert not dry.errors and dry.counts == {"new": 3, "changed": 0, "unchanged": 0, "error": 0, "skipped": 0}
    assert version_count(engine) == 0
    done = book.import_file(data, filename="roles.csv", actor="hr.li", dry_run=False)
    assert done.written and [r.version for r in done.rows] == [1, 1, 1]
    assert book.profile_for("后端工程师", at=date(2026, 8, 1)).version == 1     # the key: the name's slug
    with engine.db.read_transaction() as s:
        backend = roles.profile_for_role_text(s, "Backend Engineer", at=date(2026, 8, 1))
        team = roles.profile_for_role_text(s, "java后端", team="平台组", at=date(2026, 8, 1))
        front = roles.profile_for_role_text(s, "前端", at=date(2026, 8, 1))
        assert roles.open_roles(s) == [("后端工程师", 3)]
    assert backend.role_key == "后端工程师" and backend.title == {"zh": "后端工程师", "en": "Backend engineer"}
    facts = backend.facts
    assert facts["salary"] == {"as_of": "2026-07-01", "band_min": 18000, "band_max": 30000, "change_pct": 8,
                               "change_effective": "2026-07-01", "currency": "CNY", "period": "month"}
    assert [s["name"] for s in facts["path"]["stages"]] == [
        {"zh": "初级工程师", "en": "Junior engineer"}, {"zh": "中级工程师", "en": "Engineer"},
        {"zh": "主管", "en": "Team lead"}]
    assert facts["path"]["stages"][2]["requirements"] == {"zh": "带领3人团队", "en": "Leads a team of 3"}
    assert facts["promotion"] == {"as_of": "2026-07-01", "period_months": 12, "rate_pct": 22.5, "avg_raise_pct": 15,
                                  "headcount": 40}
    assert facts["policies"] == {"as_of": "2026-07-01", "remote_days_per_week": 2, "flexible_hours": True,
                                 "training_budget": 5000, "training_budget_currency": "CNY"}
    assert team.team == "平台组" and team.facts["salary"]["change_pct"] == 10
    assert front.facts["salary"]["as_of"] == "2026-07-01"   # no 数据日期: the effective day
    assert front.effective_from == date(2026, 7, 1) and front.facts["policies"] == {
        "as_of": "2026-07-01", "flexible_hours": False}
    again = book.import_file(data, filename="roles.csv", actor="hr.li", dry_run=False)
    assert not again.written and {r.status for r in again.rows} == {"unchanged"} and version_count(engine) == 3


def test_an_xlsx_with_a_bad_row_imports_nothing_then_the_fixed_file_imports(engine):
    book = RoleProfiles(engine)
    header = ["role", "title_en", "effective_from", "band_min", "band_max", "change_pct", "path"]
    good = ["数据分析师", "Data analyst", date(2026, 7, 1), 15000, 25000, 0.07, "分析师(12个月) > 高级分析师"]
    bad = ["测试工程师", "QA engineer", "2026-13-01", 20000, 12000, 0.05, "初级 > > 高级"]
    data = xlsx([header, good, bad], percent_column=6)
    dry = book.import_file(data, filename="roles.xlsx", actor="hr.li", dry_run=True)
    assert [(e.row, e.column) for e in dry.errors] == [(3, "effective_from"), (3, "path")]
    refused = book.import_file(data, filename="roles.xlsx", actor="hr.li", dry_run=False)
    assert not refused.written and [r.status for r in refused.rows] == ["skipped", "error"]
    assert version_count(engine) == 0                        # nothing half-imported
    bad[2], bad[6] = "2026-07-01", "初级 > 高级"
    still = book.import_file(xlsx([header, good, bad], percent_column=6), filename="roles.xlsx", actor="hr.li",
                             dry_run=True)
    assert [(e.row, e.column, e.message) for e in still.errors] == [
        (3, "band_max", "facts.salary.band_max: must be >= band_min")]
    bad[4] = 32000
    done = book.import_file(xlsx([header, good, bad], percent_column=6), filename="roles.xlsx", actor="hr.li",
                            dry_run=False)
    assert done.written and not done.errors and version_count(engine) == 2
    analyst = book.profile_for("数据分析师", at=date(2026, 7, 1))
    assert analyst.facts["salary"]["change_pct"] == 7 and analyst.facts["path"]["stages"][0] == {
        "key": "分析师", "name": {"zh": "分析师"}, "typical_months": 12}


def test_only_the_good_rows_when_the_person_chooses_so(engine):
    book = RoleProfiles(engine)
    data = "岗位,薪资下限,薪资上限\n运维工程师,10000,20000\n产品经理,abc,20000\n".encode()
    report = book.import_file(data, filename="x.csv", actor="hr.li", dry_run=False, only_valid=True)
    assert [r.status for r in report.rows] == ["new", "error"] and report.written
    assert [(e.row, e.column, e.message) for e in report.errors] == [(3, "薪资下限", "'abc' is not a number")]
    assert version_count(engine) == 1


def test_a_second_import_changes_only_its_groups_and_keeps_the_rest(engine):
    book = RoleProfiles(engine)
    book.save("ops_engineer", {"zh": "运维工程师"}, {
        "stories": {"as_of": "2026-01-01", "items": [{"text": {"zh": "两年升主管"}, "consented": True}]},
        "salary": {"as_of": "2026-01-01", "change_pct": 5}}, effective_from=date(2026, 1, 1), actor="hr.li")
    data = "岗位编码,中文名称,调薪幅度,生效日期\nops_engineer,运维工程师,9,2026-03-01\n".encode()
    report = book.import_file(data, filename="x.csv", actor="hr.li", dry_run=False)
    assert [r.status for r in report.rows] == ["changed"] and report.rows[0].version == 2
    profile = book.profile_for("ops_engineer", at=date(2026, 3, 1))
    assert profile.facts["salary"] == {"as_of": "2026-03-01", "change_pct": 9}
    assert profile.facts["stories"]["items"][0]["text"] == {"zh": "两年升主管"}


@pytest.mark.parametrize("data, column, message", [
    ("岗位,奖金\n运维,1\n", "奖金", "unknown column; see docs/role-profiles.md for the columns"),
    ("岗位,role\n运维,ops\n", "role", "the same column as '岗位'"),
    ("薪资下限\n1000\n", "岗位/role", "the file needs a 岗位 (role) or 岗位编码 (role_key) column"),
])
def test_bad_headers_are_reported_on_row_1(engine, data, column, message):
    report = RoleProfiles(engine).import_file(data.encode(), filename="x.csv", actor="hr.li", dry_run=True)
    assert [(e.row, e.column, e.message) for e in report.errors] == [(1, column, message)]


def test_strange_rows_are_reported_each(engine):
    data = ("岗位,团队,调薪幅度,弹性工作,晋升路径英文,晋升路径,别名\n"
            f"运维,,{'9' * 400},也许,,,\n"
            f"运维,,5,是,,,\n"
            f"{'长' * 6000},,,,,,\n"
            "测试,,,,A > B,初级,\n"
            "开发,,,,,,运维\n").encode()
    report = RoleProfiles(engine).import_file(data, filename="x.csv", actor="hr.li", dry_run=True)
    assert [(e.row, e.column) for e in report.errors] == [
        (2, "调薪幅度"), (2, "弹性工作"), (3, "岗位"), (4, "岗位"), (5, "晋升路径英文"), (6, "别名")]
    assert version_count(engine) == 0


@pytest.mark.parametrize("data, filename", [(b"\x00\x01\xff\xfe" * 10, "x.csv"), (b"PK\x03\x04garbage", "x.xlsx"),
                                            (b"", "x.csv"), (b"x" * (5 * 1024 * 1024 + 1), "x.csv")])
def test_a_file_that_is_no_table_is_refused(engine, data, filename):
    with pytest.raises(ImportRefused) as refused:
        RoleProfiles(engine).import_file(data, filename=filename, actor="hr.li", dry_run=True)
    assert refused.value.errors[0].field == "file"
