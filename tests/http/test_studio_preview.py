"""POST /studio/preview-template (api/resources/studio_preview.py): a template being edited, rendered
server-side with the engine's sandboxed renderer against a sample candidate or the given case data and a
role profile (the archive's of `role`, else the built-in sample); a template that does not render is a 422
naming `source`, an unknown role one naming `role`; bounded; owners and admins only."""
from __future__ import annotations

import copy

from engine.archive.role_document import validate_facts
from engine.studio.sample_role import SAMPLE_FACTS
from engine.templates import MAX_TEMPLATE_BYTES
from tests.archive.test_roles import FACTS, TITLE
from tests.support import ADMIN, HR, OWNER, ROOT

DAY_90 = (ROOT / "workflows" / "templates" / "zh" / "day_90_commute.j2")


def test_a_shipped_template_renders_for_the_sample_candidate(api):
    _, _, caller = api
    source = DAY_90.read_text(encoding="utf-8")
    answer = caller(OWNER).post("/studio/preview-template", json={"source": source, "lang": "zh"})
    assert answer.status_code == 200, answer.json
    assert "张伟" in answer.json["text"] and answer.json["context"]["candidate_name"] == "张伟"
    english = caller(ADMIN).post("/studio/preview-template", json={
        "source": "Hello {{ candidate_name }}, {{ needs | join(', ') }}", "lang": "en"})
    assert english.json["text"] == "Hello Wei Zhang, pay, commute"


def test_the_given_context_is_used_and_nothing_else(api):
    _, _, caller = api
    answer = caller(OWNER).post("/studio/preview-template", json={
        "source": "{{ candidate_name }}/{{ stage }}", "lang": "zh", "context": {"candidate_name": "李", "stage": "x"}})
    assert answer.json["text"] == "李/x"
    missing = caller(OWNER).post("/studio/preview-template", json={
        "source": "{{ candidate_name }}", "context": {}})
    assert missing.status_code == 422 and missing.json["errors"][0]["field"] == "source", missing.json
    assert "candidate_name" in missing.json["detail"]


def test_broken_strange_and_huge_input_is_refused_naming_the_field(api):
    _, _, caller = api
    owner = caller(OWNER)
    broken = owner.post("/studio/preview-template", json={"source": "{% if %}"})
    assert broken.status_code == 422 and broken.json["errors"][0]["field"] == "source"
    escape = owner.post("/studio/preview-template", json={"source": "{{ ''.__class__.__mro__ }}"})
    assert escape.status_code == 422, escape.json                      # the sandbox holds
    for body, field in (({"source": "x", "extra": 1}, "extra"), ({"source": 3}, "source"),
                        ({"source": "x", "lang": "fr"}, "lang"), ({}, "source"),
                        ({"source": "x" * (MAX_TEMPLATE_BYTES + 1)}, "source"),
                        ({"source": "x", "context": "no"}, "context")):
        answer = owner.post("/studio/preview-template", json=body)
        assert answer.status_code == 422, (body, answer.json)
        assert field in {e["field"] for e in answer.json["errors"]}, answer.json
    huge = owner.post("/studio/preview-template", json={"source": "{% for i in range(10**6) %}xxxxxxxxxx{% endfor %}"})
    assert huge.status_code == 422, huge.json


def test_hr_may_not_preview(api):
    _, _, caller = api
    assert caller(HR).post("/studio/preview-template", json={"source": "x"}).status_code == 403


SALARY = "{{ role.salary.change_pct }}%/{{ role.title }}/{{ role.policies.text }}"


def test_the_sample_role_profile_fills_every_fact_and_says_so(api):
    _, _, caller = api
    assert validate_facts(copy.deepcopy(SAMPLE_FACTS)) == SAMPLE_FACTS      # a full, valid facts document
    answer = caller(OWNER).post("/studio/preview-template", json={"source": SALARY, "lang": "en"})
    assert answer.status_code == 200, answer.json
    assert answer.json["text"] == "9%/Sample role (backend engineer)/Two remote days a week and flexible hours."
    assert answer.json["profile"] == {"source": "sample", "role_key": None, "version": None, "label": "sample"}
    assert [f["fact"] for f in answer.json["facts_used"]] == ["salary.change_pct", "title", "policies.text"]
    assert answer.json["facts_missing"] == []
    for name in ("day_180_salary", "day_180_career_path", "day_180_counter_offer", "day_180_team"):
        shipped = (ROOT / "workflows" / "templates" / "zh" / f"{name}.j2").read_text(encoding="utf-8")
        text = caller(OWNER).post("/studio/preview-template", json={"source": shipped}).json
        assert "缺少岗位信息" not in text["text"] and text["facts_used"] and not text["facts_missing"], (name, text)


def test_an_archive_role_by_name_alias_or_key_renders_with_its_profile(api):
    _, _, caller = api
    made = caller(HR).put("/roles/backend_engineer", json={
        "title": TITLE, "facts": {k: v for k, v in FACTS.items() if k != "policies"}, "effective_from": "2026-01-01",
        "aliases": ["后端开发"]})
    assert made.status_code == 200, made.json
    for role in ("backend_engineer", "Backend Engineer", " 后端开发 "):
        answer = caller(OWNER).post("/studio/preview-template", json={"source": SALARY, "lang": "en", "role": role})
        assert answer.status_code == 200, (role, answer.json)
        assert answer.json["text"].startswith("8%/Backend engineer/[Missing role fact: policies description")
        assert answer.json["profile"] == {"source": "archive", "role_key": "backend_engineer", "version": 1,
                                          "label": "backend_engineer@v1"}
        assert answer.json["facts_used"][0]["profile"] == "backend_engineer@v1"
        assert [f["fact"] for f in answer.json["facts_missing"]] == ["policies.text"]
        assert answer.json["facts_missing"][0]["add_url"] == "/app/roles/backend_engineer"
    # a role whose only version starts later has no profile in force today: the sample, naming the role
    caller(HR).put("/roles/data_analyst", json={"title": TITLE, "facts": FACTS, "effective_from": "2099-01-01"})
    later = caller(OWNER).post("/studio/preview-template", json={"source": SALARY, "role": "data_analyst"})
    assert later.json["profile"] == {"source": "sample", "role_key": "data_analyst", "version": None, "label": "sample"}
    assert later.json["text"].startswith("9%/示例岗位")
    for blank in ("", "   ", None):                                     # no role: the sample
        assert caller(OWNER).post("/studio/preview-template", json={"source": SALARY, "role": blank}).json[
            "profile"]["source"] == "sample"


def test_an_unknown_huge_or_odd_role_is_refused_naming_role(api):
    _, _, caller = api
    owner = caller(OWNER)
    for role in ("nobody_here", "%%%", "../../etc/passwd", "x" * 256, "岗位" * 200, 7, ["a"], {"a": 1}):
        answer = owner.post("/studio/preview-template", json={"source": SALARY, "role": role})
        assert answer.status_code == 422, (role, answer.json)
        assert [e["field"] for e in answer.json["errors"]] == ["role"], answer.json
