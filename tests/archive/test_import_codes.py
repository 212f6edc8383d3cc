"""The import report's codes and params (engine/archive/imports.py ROW_CODES, docs/import.md): files full
of bad rows (a CSV, the XLSX of test_import, a merge, an unmapped reason as other, a re-import) produce
every code the importer knows, each error and note with exactly the params ROW_CODES names and its
English message unchanged; and the page's zh/en table (pages/import.js ROW_TEXTS) words every code from
those params only. SQLite and PostgreSQL."""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from engine.archive.imports import DATE_FORMATS, ROW_CODES, Importer
from tests.archive.test_import import HEADER, _day, _xlsx
from tests.support import HR

IMPORT_JS = Path(__file__).resolve().parents[2] / "api" / "web" / "static" / "pages" / "import.js"
HEADER_MORE = HEADER + ",同意范围,同意有效期"


def _csv(lines: list[str]) -> bytes:
    return ("\n".join([HEADER_MORE, *lines]) + "\n").encode("utf-8")


def _items(run) -> list[tuple[int, dict]]:
    return [(r.row, e) for r in run.rows for e in [*r.errors, *r.notes]]


def test_every_code_carries_exactly_its_params(archive, recall):
    one = archive.create_candidate({"name": "老档案", "phone": "13800138021", "role_applied": "店长"}, actor=HR)
    archive.create_candidate({"name": "另一人", "email": "two@example.com", "role_applied": "店员"}, actor=HR)
    archive.create_candidate({"name": "第三人", "phone": "13800138029", "role_applied": "店员"}, actor=HR)
    ok = f"R-1,甲,13800138031,,店员,薪资,{_day(recall, 10)},是,,同岗位,"
    bad = [ok,
           f"R-1,乙,13800138032,,店员,薪资,{_day(recall, 10)},是,,,",                    # 3 repeated
           f"R-3,丙,13800138031,,店员,薪资,{_day(recall, 10)},是,,,",                    # 4 same_person
           "R-4,,abc,not-mail,店员,看心情,2022-13-01,也许,,某范围,不久",                   # 5 many
           f"R-5,丁,13800138033,,店员,薪资,2999-01-01,是,,,{_day(recall, 5)}",           # 6 future, expired
           f"R-6,戊,138-0013-8021,,店长,薪资,{_day(recall, 10)},是,,,",                  # 7 duplicate
           f"R-7,己,13800138029,two@example.com,店员,薪资,{_day(recall, 10)},是,,,",     # 8 two candidates
           "R-8,庚,13800138034,,店员,薪资,12.5,是,,,"]                                  # 9 a number, no date
    importer = Importer(archive)
    runs = [importer.check(_csv(bad), "bad.csv", source="ats", actor=HR)]
    runs.append(importer.check(_xlsx(recall), "gh.xlsx", source="gh", actor=HR))        # formula, too_long
    runs.append(importer.check(_csv([bad[5], "R-9,辛,13800138035,,店员,看心情,2022/3/5,否,,,"]), "m.csv",
                               source="m", actor=HR,
                               options={"duplicates": "merge", "unmapped_reason": "other"}))
    importer.confirm(runs[0].id, actor=HR)
    runs.append(importer.check(_csv([ok]), "again.csv", source="ats", actor=HR))       # update
    runs = [importer.report(r.id) for r in runs]         # as stored: the params went through the JSON column

    seen: dict[str, list[tuple[int, dict]]] = defaultdict(list)
    for run in runs:
        for row, item in _items(run):
            assert item["code"] in ROW_CODES, item
            assert sorted(item["params"]) == sorted(ROW_CODES[item["code"]]), item
            seen[item["code"]].append((row, item))
    assert set(seen) == set(ROW_CODES)

    first = {code: items[0] for code, items in seen.items()}
    row, date = next((r, e) for r, e in seen["date"] if e["field"] == "decline_date" and r == 5)
    assert date["params"] == {"value": "2022-13-01", "formats": list(DATE_FORMATS)}
    assert date["message"] == "'2022-13-01' is not a date: month must be in 1..12"     # the English unchanged
    assert {e["params"]["value"] for r, e in seen["date"]} >= {"2022-13-01", "不久", "12.5"}
    assert first["repeated"] == (3, first["repeated"][1]) and first["repeated"][1]["params"] == {"row": 2}
    assert first["same_person"][1]["params"] == {"kind": "phone", "row": 2}
    assert first["phone"][1]["params"] == {"value": "abc"} and first["email"][1]["params"] == {"value": "not-mail"}
    assert first["consent"][1]["params"] == {"value": "也许"}
    assert first["consent_scope"][1]["params"] == {"value": "某范围",
                                                   "scopes": ["same_role", "similar_roles", "any_role"]}
    assert first["reason"][1]["params"]["value"] == "看心情" and "salary" in first["reason"][1]["params"]["reasons"]
    assert first["future"][1]["params"] == {"date": "2999-01-01"}
    assert first["expired"][1]["message"] == f"the consent ran out on {first['expired'][1]['params']['date']}"
    dup = {r: e for r, e in seen["duplicate"]}
    assert dup[7]["params"] == {"on": ["phone"], "candidates": [one.id], "count": 1}
    assert dup[8]["params"]["count"] == 2 and dup[8]["params"]["on"] == ["email", "phone"]
    assert first["merge"][1]["params"] == {"on": ["phone"], "candidate": one.id}
    assert first["reason_other"][1]["params"] == {"value": "看心情"}
    assert first["too_long"][1]["params"] == {"length": 5000, "max": 4000}
    assert first["formula"][1]["params"] == {} and first["required"][1]["params"] == {}
    for code, items in seen.items():            # the message holds the values its params name
        for _, item in items:
            for name, value in item["params"].items():
                if name in ("formats", "count"):   # the accepted forms (not in every date message); a count
                    continue
                for part in value if isinstance(value, list) else [value]:
                    part = f"{part:,}" if isinstance(part, int) else str(part)
                    assert part in item["message"], (code, part, item)


def _page_table() -> dict[str, tuple[str, str]]:
    text = IMPORT_JS.read_text()
    body = text[text.index("const ROW_TEXTS = {"):]
    body = body[:body.index("\n};")]
    return {code: (zh, en) for code, zh, en in re.findall(r'^  (\w+): \["([^"]*)",\s*"([^"]*)"\]', body, re.M | re.S)}


def test_the_page_words_every_code_from_its_params_in_chinese_and_english():
    table = _page_table()
    assert set(table) == set(ROW_CODES) | {"duplicate_many"}
    for code, (zh, en) in table.items():
        names = ROW_CODES["duplicate" if code == "duplicate_many" else code]
        for text in (zh, en):
            used = set(re.findall(r"\{(\w+)\}", text))
            assert used <= set(names), (code, text)
            assert used >= set(names) - {"count"}, (code, text)      # every value shown (count: the choice)
        assert re.search(r"[\u4e00-\u9fff]", zh), code
