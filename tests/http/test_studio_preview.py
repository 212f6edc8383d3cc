"""POST /studio/preview-template (api/resources/studio_preview.py): a template being edited, rendered
server-side with the engine's sandboxed renderer against a sample candidate or the given case data;
a template that does not render is a 422 naming `source`; bounded; owners and admins only."""
from __future__ import annotations

from engine.templates import MAX_TEMPLATE_BYTES
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
