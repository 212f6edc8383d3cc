"""The role profiles API (api/resources/roles.py): PUT by key writes a version (If-Match, 412), GET shows the
profile in force with its stale groups, versions history, PATCH open positions and aliases, the import over
multipart with a dry run; 422 naming the field, 403 for the roles that must not write (SQLite and PostgreSQL)."""
from __future__ import annotations

import copy
import io

import pytest
from sqlalchemy import func, select

from engine.role_models import RoleProfileVersion
from tests.archive.test_roles import FACTS, TITLE
from tests.archive.test_roles_import import CSV, xlsx
from tests.support import ATS, HR, MANAGER, OWNER

BODY = {"title": TITLE, "facts": FACTS, "effective_from": "2026-01-01", "note": "first figures",
        "aliases": ["后端工程师"], "open_positions": 2}


def versions(engine) -> int:
    with engine.db.read_transaction() as s:
        return s.scalar(select(func.count()).select_from(RoleProfileVersion))


def test_put_get_versions_and_if_match(api):
    _, engine, caller = api
    hr = caller(HR)
    made = hr.put("/roles/backend_engineer", json=BODY, headers={"If-Match": '"v0"'})
    assert made.status_code == 200, made.json
    assert made.headers["ETag"] == '"v1"' and made.json["version"] == 1 and made.json["aliases"] == ["后端工程师"]
    assert made.json["open_positions"] == 2 and made.json["max_age_days"] == 365
    again = hr.put("/roles/backend_engineer", json=BODY)              # a second click: no new version
    assert again.json["latest_version"] == 1 and versions(engine) == 1
    seen = caller(MANAGER).get("/roles/backend_engineer")
    assert seen.status_code == 200 and seen.headers["ETag"] == '"v1"'
    assert seen.json["facts"]["path"]["stages"][1]["name"]["zh"] == "主管" and seen.json["changed_by"] == HR
    # the clock is at 2026-01-05: every group's as_of is later, none stale; a year on, policies (2026-01-01) are
    later = hr.get("/roles/backend_engineer?at=2027-01-03").json
    assert later["stale_groups"] == ["policies"] and later["as_of"]["policies"] == "2026-01-01"
    changed = copy.deepcopy(BODY) | {"effective_from": "2026-03-01", "note": "March raise"}
    changed["facts"]["salary"]["change_pct"] = 11
    stale = hr.put("/roles/backend_engineer", json=changed, headers={"If-Match": '"v0"'})
    assert stale.status_code == 412 and stale.mimetype == "application/problem+json"
    ok = caller(OWNER).put("/roles/backend_engineer", json=changed, headers={"If-Match": '"v1"'})
    assert ok.status_code == 200 and ok.headers["ETag"] == '"v2"'
    assert ok.json["version"] == 1 and ok.json["pending"] == {"version": 2, "effective_from": "2026-03-01"}
    assert hr.get("/roles/backend_engineer?at=2026-03-01").json["facts"]["salary"]["change_pct"] == 11
    history = hr.get("/roles/backend_engineer/versions").json["items"]
    assert [(v["version"], v["note"], v["changed_by"], v["in_force"]) for v in history] == [
        (2, "March raise", OWNER, False), (1, "first figures", HR, True)]
    listed = caller(ATS).get("/roles").json["items"]
    assert [(r["role_key"], r["team"], r["version"]) for r in listed] == [("backend_engineer", None, 1)]


def test_team_and_location_profiles(api):
    _, _, caller = api
    hr = caller(HR)
    assert hr.put("/roles/backend_engineer", json=BODY).status_code == 200
    team = copy.deepcopy(BODY) | {"team": "平台组"}
    team["facts"]["salary"]["change_pct"] = 12
    assert hr.put("/roles/backend_engineer", json=team).status_code == 200
    one = hr.get("/roles/backend_engineer", query_string={"team": "平台组"}).json
    assert one["team"] == "平台组" and one["facts"]["salary"]["change_pct"] == 12
    assert one["scopes"] == [{"team": None, "location": None}]
    assert hr.get("/roles/backend_engineer", query_string={"team": "数据组"}).status_code == 404
    assert len(hr.get("/roles").json["items"]) == 2


def test_patch_open_positions_and_aliases(api):
    _, engine, caller = api
    hr = caller(HR)
    hr.put("/roles/backend_engineer", json=BODY)
    hr.put("/roles/frontend_engineer", json=BODY | {"aliases": ["前端"]})
    patched = caller(ATS).patch("/roles/backend_engineer", json={"open_positions": 5, "aliases": ["后端", "Java后端"]})
    assert patched.status_code == 200 and patched.json["open_positions"] == 5
    assert patched.json["aliases"] == ["Java后端", "后端"]
    taken = hr.patch("/roles/backend_engineer", json={"aliases": ["前端"]})
    assert taken.status_code == 422 and taken.json["errors"][0]["field"] == "aliases[0]"
    assert "frontend_engineer" in taken.json["errors"][0]["message"]
    assert hr.patch("/roles/backend_engineer", json={"open_positions": -1}).status_code == 422
    assert hr.patch("/roles/nobody", json={"open_positions": 1}).status_code == 404
    from engine.archive import roles
    with engine.db.read_transaction() as s:
        assert roles.open_roles(s) == [("backend_engineer", 5), ("frontend_engineer", 2)]


@pytest.mark.parametrize("change, field", [
    (lambda b: b["facts"]["path"]["stages"][1].update(typical_months=-3), "facts.path.stages[1].typical_months"),
    (lambda b: b["facts"].update(bonus={"as_of": "2026-01-01"}), "facts.bonus"),
    (lambda b: b["facts"]["salary"].update(extra={"deep": [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}), "facts.salary.extra"),
    (lambda b: b.update(title={"zh": "名" * 201}), "title.zh"),
    (lambda b: b.update(effective_from="2026-02-30"), "effective_from"),
    (lambda b: b.update(surprise=1), "surprise"),
    (lambda b: b.update(open_positions="many"), "open_positions"),
])
def test_bad_bodies_are_422_naming_the_field_and_nothing_is_written(api, change, field):
    _, engine, caller = api
    body = copy.deepcopy(BODY)
    change(body)
    answer = caller(HR).put("/roles/backend_engineer", json=body)
    assert answer.status_code == 422 and answer.mimetype == "application/problem+json", answer.json
    assert field in [e["field"] for e in answer.json["errors"]], answer.json
    assert versions(engine) == 0


def test_a_bad_key_and_a_huge_text_are_refused(api):
    _, engine, caller = api
    assert caller(HR).put("/roles/Backend%20Engineer", json=BODY).status_code == 422
    huge = copy.deepcopy(BODY)
    huge["facts"]["mentors"]["text"] = {"zh": "长" * 100_000}
    answer = caller(HR).put("/roles/backend_engineer", json=huge)
    assert answer.status_code in (413, 422) and versions(engine) == 0


@pytest.mark.parametrize("who", [MANAGER])
def test_roles_that_must_not_write_are_refused(api, who):
    _, engine, caller = api
    caller(HR).put("/roles/backend_engineer", json=BODY)
    them = caller(who)
    assert them.put("/roles/backend_engineer", json=BODY | {"note": "mine"}).status_code == 403
    assert them.patch("/roles/backend_engineer", json={"open_positions": 9}).status_code == 403
    upload = {"file": (io.BytesIO(CSV), "roles.csv")}
    assert them.post("/roles/import?dry_run=true", data=upload, content_type="multipart/form-data").status_code == 403
    assert them.get("/roles/backend_engineer").json["open_positions"] == 2 and versions(engine) == 1


def test_import_dry_run_then_a_bad_row_refused_then_fixed(api):
    _, engine, caller = api
    hr = caller(HR)
    header = ["岗位", "英文名称", "生效日期", "薪资下限", "薪资上限", "晋升路径"]
    good = ["数据分析师", "Data analyst", "2026-01-01", 15000, 25000, "分析师(12个月) > 高级分析师"]
    bad = ["测试工程师", "QA engineer", "2026-01-01", "两万", 30000, "初级 > 高级"]

    def send(rows, *, dry_run):
        return hr.post(f"/roles/import?dry_run={'true' if dry_run else 'false'}", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(xlsx(rows)), "roles.xlsx")})
    dry = send([header, good, bad], dry_run=True)
    assert dry.status_code == 200, dry.json
    assert dry.json["errors"] == [{"row": 3, "column": "薪资下限", "message": "'两万' is not a number"}]
    assert dry.json["counts"]["new"] == 1 and dry.json["counts"]["error"] == 1 and not dry.json["written"]
    refused = send([header, good, bad], dry_run=False)
    assert refused.status_code == 422 and refused.json["errors"][0]["field"] == "row 3: 薪资下限"
    assert refused.json["report"]["rows"][0]["status"] == "skipped" and versions(engine) == 0
    bad[3] = 20000
    done = send([header, good, bad], dry_run=False)
    assert done.status_code == 200 and done.json["written"] and done.json["counts"]["new"] == 2
    assert hr.get("/roles/数据分析师").json["facts"]["salary"]["band_max"] == 25000
    again = send([header, good, bad], dry_run=False)
    assert again.json["counts"]["unchanged"] == 2 and not again.json["written"] and versions(engine) == 2


def test_import_needs_a_file(api):
    _, _, caller = api
    answer = caller(HR).post("/roles/import?dry_run=true", json={"rows": []})
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "file"
    answer = caller(HR).post("/roles/import?dry_run=true", content_type="multipart/form-data",
                             data={"file": (io.BytesIO(b"\x00\x00garbage"), "roles.xlsx")})
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "file"
