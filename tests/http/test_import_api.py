"""The import API (issue 20, api/resources/imports.py) on SQLite and PostgreSQL: preview, dry run, confirm
with its progress, a second click, the roles refused, the body limit's 413 and the 422s naming the field."""
from __future__ import annotations

import base64
import time

import pytest
from sqlalchemy import func, select

from tests.support import ADMIN, ATS, HR, MANAGER, OWNER

CSV = ("候选人ID,姓名,手机号,应聘岗位,拒绝原因,拒绝日期,同意\n"
       "H-1,接口甲,13800138041,店长,薪资不满意,2022/3/5,是\n"
       "H-2,接口乙,13800138042,店长,原公司挽留,2022/3/6,否\n"
       "H-3,接口丙,12,店长,薪资,2022/3/7,是\n").encode("gbk")


def _file(data: bytes = CSV, **extra) -> dict:
    return {"filename": "moka.csv", "content_base64": base64.b64encode(data).decode(), "source": "moka", **extra}


def _candidates(engine) -> int:
    from engine.archive_models import Candidate
    with engine.db.read_transaction() as s:
        return s.scalar(select(func.count()).select_from(Candidate))


def _until_done(hr, run_id: str) -> dict:
    for _ in range(200):
        run = hr.get(f"/imports/{run_id}").json
        if run["status"] == "done" and not run["writing"]:
            return run
        time.sleep(0.05)
    raise AssertionError(run)


def test_preview_dry_run_confirm_and_progress(api):
    _, engine, caller = api
    hr = caller(HR)
    preview = hr.post("/imports/preview", json=_file())
    assert preview.status_code == 200, preview.json
    assert preview.json["suggested"]["phone"] == "手机号" and preview.json["encoding"] == "gb18030"
    assert set(preview.json["reasons"]) == {"薪资不满意", "原公司挽留", "薪资"}
    checked = hr.post("/imports", json=_file())
    assert checked.status_code == 201, checked.json
    run = checked.json
    assert (run["status"], run["total_rows"], run["valid_rows"]) == ("checked", 3, 2)
    assert [(r["row"], r["errors"][0]["column"]) for r in run["rows"] if r["errors"]] == [(4, "手机号")]
    [phone] = [e for r in run["rows"] for e in r["errors"]]
    assert (phone["code"], phone["params"]) == ("phone", {"value": "12"})      # the values its message is made of
    assert phone["message"].startswith("'12' is not a mainland mobile")         # the English message kept
    assert hr.get(f"/imports/{run['id']}").json["rows"][0]["errors"] == [phone]
    assert _candidates(engine) == 0

    confirmed = hr.post(f"/imports/{run['id']}/confirm")
    assert confirmed.status_code == 202, confirmed.json
    hr.post(f"/imports/{run['id']}/confirm")            # a second click: the same writer, nothing twice
    done = _until_done(hr, run["id"])
    assert done["rows_done"] == 2 and done["counts"]["created"] == 2
    assert _candidates(engine) == 2
    assert hr.post(f"/imports/{run['id']}/confirm").status_code == 409
    assert [r["id"] for r in hr.get("/imports").json["items"]][0] == run["id"]
    found = hr.get("/candidates", query_string={"q": "接口甲"}).json["items"]
    assert [c["phone"] for c in found] == ["+8613800138041"]


def test_a_dry_run_discarded_writes_nothing(api):
    _, engine, caller = api
    admin = caller(ADMIN)
    run = admin.post("/imports", json=_file()).json
    assert admin.post(f"/imports/{run['id']}/discard").json["status"] == "discarded"
    assert admin.post(f"/imports/{run['id']}/confirm").status_code == 409
    assert _candidates(engine) == 0


@pytest.mark.parametrize("who", [MANAGER, OWNER, ATS])
def test_other_roles_are_refused(api, who):
    _, _, caller = api
    assert caller(who).post("/imports/preview", json=_file()).status_code == 403
    assert caller(who).post("/imports", json=_file()).status_code == 403
    assert caller(who).get("/imports").status_code == 403


def test_bad_input_names_the_field(api):
    _, engine, caller = api
    hr = caller(HR)
    bad = hr.post("/imports", json={**_file(), "content_base64": "%%%"})
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "content_base64"
    bad = hr.post("/imports", json=_file(mapping={"name": "没有这一列", "external_id": "候选人ID",
                                                  "reason": "拒绝原因", "decline_date": "拒绝日期"}))
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "mapping.name"
    bad = hr.post("/imports", json=_file(b""))
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "file"
    bad = hr.post("/imports", json=_file(source="no spaces please"))
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "source"
    assert hr.get("/imports/nope").status_code == 404
    assert _candidates(engine) == 0


def test_a_file_over_the_body_limit_is_413(api):
    """A file import is bounded by RECALL_MAX_UPLOAD_BYTES (32 MiB), not the 1 MiB of every other body: an
    ATS export of a few MB goes through the web; above the upload limit, 413 naming that setting."""
    app, _, caller = api
    settings = app.extensions["recall"].settings
    rows = "".join(f"P-{n},大文件{n},1380000{n % 10000:04d},店长,薪资,2022/3/5,是\n" for n in range(20_000))
    data = ("候选人ID,姓名,手机号,应聘岗位,拒绝原因,拒绝日期,同意\n" + rows).encode("gbk")
    assert len(base64.b64encode(data)) > settings.max_body_bytes        # over the ordinary limit
    preview = caller(HR).post("/imports/preview", json=_file(data))
    assert preview.status_code == 200, preview.json
    assert "姓名" in preview.json["headers"] and preview.json["rows"] == 20_000
    ordinary = caller(HR).post("/candidates", json={"name": "x", "notes": "x" * (settings.max_body_bytes + 10)})
    assert ordinary.status_code == 413 and "RECALL_MAX_BODY_BYTES" in ordinary.json["detail"]
    big = _file(b"x" * (settings.max_upload_bytes + 10))
    answer = caller(HR).post("/imports", json=big)
    assert answer.status_code == 413 and answer.mimetype == "application/problem+json"
    assert "RECALL_MAX_UPLOAD_BYTES" in answer.json["detail"]


def test_a_run_that_stopped_with_the_server_is_resumed(api):
    from engine.archive.facade import TalentArchive
    from engine.archive.imports import Importer
    from engine.faults import InjectedFault

    _, engine, caller = api
    hr = caller(HR)
    run = hr.post("/imports", json=_file()).json
    with engine.faults.injected("bulk_chunk", times=1), pytest.raises(InjectedFault):
        Importer(TalentArchive(engine)).confirm(run["id"], actor=HR)      # the writer died half-way
    stopped = hr.get(f"/imports/{run['id']}").json
    assert (stopped["status"], stopped["rows_done"], stopped["writing"]) == ("running", 0, False)
    assert hr.post(f"/imports/{run['id']}/resume").status_code == 202
    assert _until_done(hr, run["id"])["counts"]["created"] == 2
    assert _candidates(engine) == 2
