"""POST /studio/check (api/resources/studio_check.py): the modeler's live check of a bundle held in memory —
the same diagnostics as `recall validate`, errors and warnings with their place and stable code; bounded;
process owners and admins only (SQLite and PostgreSQL)."""
from __future__ import annotations

import time

from engine.bundle import MAX_FILE_BYTES
from tests.support import ADMIN, HR, MANAGER, OWNER, ROOT

WORKFLOWS, FORMS = ROOT / "workflows", ROOT / "forms"


def bundle_of_workflows() -> dict:
    files = {p.relative_to(WORKFLOWS).as_posix(): p.read_text(encoding="utf-8")
             for p in sorted(WORKFLOWS.rglob("*")) if p.is_file()}
    forms = {p.name: p.read_text(encoding="utf-8") for p in sorted(FORMS.glob("*.json"))}
    return {"files": files, "forms": forms}


def test_our_workflows_check_clean_and_fast(api):
    _, _, caller = api
    body = bundle_of_workflows()
    owner = caller(OWNER)
    owner.post("/studio/check", json=body)                       # warm
    started = time.perf_counter()
    answer = owner.post("/studio/check", json=body)
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200, answer.json
    assert answer.json["ok"] is True and answer.json["diagnostics"] == []
    assert answer.json["processes"] == ["department_handoff", "offer_recall", "onboarding_goals", "reoffer"]
    assert elapsed < 2.0, elapsed            # the goal is well under a second (bench/studio_check.py)


def test_an_unquoted_timer_and_a_camunda_attribute_are_pinned_to_their_elements(api):
    _, _, caller = api
    body = bundle_of_workflows()
    text = body["files"]["offer_recall.bpmn"]
    assert '"P90D"' in text or "P90D" in text
    body["files"]["offer_recall.bpmn"] = text.replace('"P90D"', "P60D", 1).replace(
        "<bpmn:definitions ", '<bpmn:definitions xmlns:camunda="http://camunda.org/schema/1.0/bpmn" ', 1).replace(
        '<bpmn:userTask id="follow_up_day_30"', '<bpmn:userTask camunda:candidateGroups="hr" id="follow_up_day_30"', 1)
    answer = caller(ADMIN).post("/studio/check", json=body)
    assert answer.status_code == 200, answer.json
    found = {(d["code"], d["severity"]) for d in answer.json["diagnostics"]}
    assert answer.json["ok"] is False
    timer = [d for d in answer.json["diagnostics"] if "P60D" in d["message"]]
    assert timer and timer[0]["file"] == "offer_recall.bpmn" and timer[0]["severity"] == "error"
    assert timer[0]["code"] == "timer-unquoted"
    assert timer[0]["line"] and timer[0]["element_id"]
    assert ("camunda-attribute-ignored", "warning") in found, found
    camunda = next(d for d in answer.json["diagnostics"] if d["code"] == "camunda-attribute-ignored")
    assert camunda["element_id"] == "follow_up_day_30" and "lane" in camunda["message"]
    assert set(camunda) == {"file", "line", "element_id", "severity", "code", "message"}


def test_strange_bodies_are_refused_naming_the_field(api):
    _, _, caller = api
    owner = caller(OWNER)
    assert owner.post("/studio/check", json={}).status_code == 422
    wrong = owner.post("/studio/check", json={"files": {"a.bpmn": 12}})
    assert wrong.status_code == 422 and "files" in str(wrong.json["errors"])
    extra = owner.post("/studio/check", json={"files": {}, "forms": {}, "extra": 1})
    assert extra.status_code == 422 and "extra" in str(extra.json["errors"])
    big = owner.post("/studio/check", json={"files": {"a.bpmn": "x" * (MAX_FILE_BYTES + 1)}})
    assert big.status_code in (413, 422)
    outside = owner.post("/studio/check", json={"files": {"../../etc/x.bpmn": "<x/>"}})
    assert outside.status_code == 200 and outside.json["ok"] is False
    assert [d["code"] for d in outside.json["diagnostics"]][:1] == ["file-path"]
    empty = owner.post("/studio/check", json={"files": {}})
    assert empty.status_code == 200 and empty.json["ok"] is False and empty.json["diagnostics"]


def test_only_process_owners_and_admins(api):
    _, _, caller = api
    body = {"files": {}}
    for name in (HR, MANAGER):
        assert caller(name).post("/studio/check", json=body).status_code == 403
