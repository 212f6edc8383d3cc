"""Issue 12, item 6 (templates and task data): sizes are bounded, with a clear error.

`{{ 'x' * 100000000 }}` in a message template stored a 100 MB suggestion twice and answered
200 MB; a form answer of any size entered the case. Now a template stops rendering past
`MAX_RENDERED_CHARS` (without building the big string first) and the task shows a readable
`suggestion_error` naming the template instead of a suggestion; one task answer, start variables
or message payload larger than `RECALL_MAX_TASK_DATA_BYTES` is a 422 naming the biggest field.
"""
from __future__ import annotations

import json
import shutil
import time
import tracemalloc

import pytest
from sqlalchemy import func, select

from engine.models import HumanTask
from engine.templates import MAX_RENDERED_CHARS, TemplateProblem, render
from tests.archive.archive_helpers import archive_decline, task, wait
from tests.support import ATS, HR, WORKFLOWS, app_with_workflows

HOSTILE = [
    "{{ 'x' * 100000000 }}",
    "{{ ('ab' * 1000) * 100000 }}",
    "{{ 'x' ~ ('y' * 100000000) }}",
    "{% for i in range(100000) %}{{ 'y' * 1000 }}{% endfor %}",
    "{{ 'x'.ljust(100000000) }}",
    "{{ 'x' | center(100000000) }}",
    "{{ '%100000000s' | format('x') }}",
    "{{ '{:100000000}'.format('x') }}",
    "{{ 'x' | indent(100000000, true) }}\nline",
    "{{ [1] * 100000000 }}",
    "{{ 10 ** 100000000 }}",
    "{{ lipsum(100000) }}",
    "{% set x %}{% for i in range(10000) %}{{ 'y' * 30000 }}{% endfor %}{% endset %}ok",
    "{% for a in range(10000) %}{% for b in range(10000) %}{% endfor %}{% endfor %}",
    "{{ ('x' * 30000) | replace('x', 'yyyyyyyyyy') }}",
]


@pytest.mark.parametrize("source", HOSTILE)
def test_a_template_stops_rendering_past_the_limit_without_building_the_big_value(source):
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(TemplateProblem) as caught:
            render({"zh/day_30_greeting": source}, "day_30_greeting", "zh", {})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "zh/day_30_greeting" in str(caught.value), caught.value
    assert "limit" in str(caught.value) or "undefined" in str(caught.value), caught.value
    assert time.monotonic() - started < 2.0
    assert peak < 20 * MAX_RENDERED_CHARS * 4, peak


def test_a_normal_template_still_renders():
    out = render({"zh/t": "{{ name }} " + "好" * 100 + "{% for n in needs %}{{ n }}{% endfor %}{{ '-' * 20 }}"},
                 "t", "zh", {"name": "hi", "needs": ["a", "b"]})
    assert out.startswith("hi ") and out.endswith("ab" + "-" * 20)


def test_a_hostile_template_leaves_a_readable_reason_in_the_task_not_200_mb(recall, tmp_path):
    bundle = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS, bundle)
    for template in (bundle / "templates").rglob("*.j2"):
        template.write_text("{{ 'x' * 100000000 }}", encoding="utf-8")
    recall.deploy([bundle], forms_dir=WORKFLOWS.parent / "forms", actor="process.owner")
    started = recall.start_instance("offer_recall", business_key="c-1", actor=ATS, variables={
        "candidate_id": "c-1", "decline_date": "2026-01-05T09:00:00+08:00"})
    archive_decline(recall, started.id, reason="salary")
    wait(recall, days=31)

    prefill = task(recall, started.id, "follow_up_day_30").data

    assert "suggested_message" not in prefill
    assert "day_30_greeting" in prefill["suggestion_error"] and "limit" in prefill["suggestion_error"]
    assert recall.get_instance(started.id).status in ("running", "waiting")   # HR writes the message themselves
    with recall.db.read_transaction() as s:
        biggest = max(len(json.dumps(d)) for d in s.scalars(select(HumanTask.data)))
    assert biggest < 64 * 1024


@pytest.fixture
def small_api(database_url):
    """The API with a 4 KiB bound on one change's data."""
    app, engine, caller = app_with_workflows(database_url, RECALL_MAX_TASK_DATA_BYTES="4096")
    yield app, engine, caller
    engine.db.dispose()


def test_a_too_large_task_answer_is_a_422_naming_the_field_and_changes_nothing(small_api):
    app, engine, as_ = small_api
    started = as_(ATS).post("/process-instances", json={
        "process_key": "offer_recall", "business_key": "c-9",
        "variables": {"candidate_id": "c-9", "decline_date": "2026-01-05T09:00:00+08:00"}})
    assert started.status_code == 201, started.get_json()
    instance = started.get_json()
    ready = task(engine, instance["id"], "archive_decline")

    answer = as_(HR).post(f"/tasks/{ready.id}/complete", json={"data": {
        "decline_reason": "salary", "talent_pool_consent": False, "decline_detail": "很长" * 3000}})

    assert answer.status_code == 422, answer.get_json()
    problem = answer.get_json()
    assert [e["field"] for e in problem["errors"]] == ["decline_detail"], problem
    assert "4096" in problem["errors"][0]["message"]
    after = engine.get_instance(instance["id"])
    assert after.status == "running" and after.row_version == instance.get("row_version", after.row_version)
    assert [t.element_id for t in after.ready_tasks] == ["archive_decline"]
    fine = as_(HR).post(f"/tasks/{ready.id}/complete", json={"data": {
        "decline_reason": "salary", "talent_pool_consent": False, "decline_detail": "原公司加薪"}})
    assert fine.status_code == 200, fine.get_json()


def test_too_large_start_variables_and_message_payloads_are_422(small_api):
    app, engine, as_ = small_api
    started = as_(ATS).post("/process-instances", json={
        "process_key": "offer_recall", "business_key": "c-10",
        "variables": {"candidate_id": "c-10", "decline_date": "2026-01-05T09:00:00+08:00",
                      "needs": ["弹性工作" * 800]}})
    assert started.status_code == 422, started.get_json()
    assert "needs" in json.dumps(started.get_json()["errors"]), started.get_json()
    sent = as_(ATS).post("/messages", json={"name": "candidate_replied", "correlation": {"candidate_id": "c-10"},
                                            "payload": {"text": "好" * 5000}})
    assert sent.status_code == 422, sent.get_json()
    assert "text" in json.dumps(sent.get_json()["errors"]), sent.get_json()


def test_an_answer_that_would_grow_the_case_past_its_state_limit_is_refused(database_url):
    """Answers under the per-change limit still add up (task data is copied into later tasks)."""
    import secrets

    app, engine, as_ = app_with_workflows(database_url, RECALL_MAX_TASK_DATA_BYTES="200000",
                                          RECALL_MAX_INSTANCE_STATE_BYTES="65536")
    try:
        instance = as_(ATS).post("/process-instances", json={
            "process_key": "offer_recall", "business_key": "c-11",
            "variables": {"candidate_id": "c-11", "decline_date": "2026-01-05T09:00:00+08:00"}}).get_json()
        ready = task(engine, instance["id"], "archive_decline")
        answer = as_(HR).post(f"/tasks/{ready.id}/complete", json={"data": {
            "decline_reason": "salary", "talent_pool_consent": False, "decline_detail": secrets.token_hex(50_000)}})
        assert answer.status_code == 422, answer.get_json()
        assert "RECALL_MAX_INSTANCE_STATE_BYTES" in answer.get_json()["errors"][0]["message"]
        after = engine.get_instance(instance["id"])
        assert [t.element_id for t in after.ready_tasks] == ["archive_decline"]
        with engine.db.read_transaction() as s:
            assert s.scalar(select(func.count()).select_from(HumanTask)) == 1
    finally:
        engine.db.dispose()
