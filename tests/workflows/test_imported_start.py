"""An `imported` start (issue 20, docs/import.md) without a consent answer: the ATS record stands for the
archive form, so nobody will answer the consent question — the case must end at `end_no_consent` (no
follow-ups for someone who never agreed), not stop in error at the consent gateway. Started the way an
integrator could start it, over the API (SQLite and PostgreSQL)."""
from __future__ import annotations

from tests.support import ATS, HR


def _start(as_user, candidate_id, **variables):
    answer = as_user(ATS).post("/process-instances", json={
        "process_key": "offer_recall", "business_key": candidate_id,
        "variables": {"candidate_id": candidate_id, "decline_date": "2022-03-05T09:00:00+08:00", **variables}})
    assert answer.status_code == 201, answer.get_json()
    return answer.get_json()


def test_an_imported_start_without_consent_ends_without_a_follow_up(api):
    _, engine, as_user = api
    candidate = as_user(HR).post("/candidates", json={"name": "导入无同意"}).get_json()["id"]
    case = _start(as_user, candidate, imported=True)
    detail = as_user(HR).get(f"/process-instances/{case['id']}").get_json()
    assert detail["status"] == "completed", detail
    assert detail["end_event"] == "end_no_consent" and detail["error"] is None
    assert engine.list_tasks(instance_id=case["id"]) == []


def test_an_imported_start_with_consent_goes_straight_to_the_cadence(api):
    _, engine, as_user = api
    candidate = as_user(HR).post("/candidates", json={"name": "导入有同意"}).get_json()["id"]
    case = _start(as_user, candidate, imported=True, talent_pool_consent=True, cadence_entry="day_180",
                  cadence_due="2026-01-10T09:00:00+00:00")
    detail = as_user(HR).get(f"/process-instances/{case['id']}").get_json()
    assert detail["status"] == "waiting", detail
    assert [t.element_id for t in engine.list_tasks(instance_id=case["id"])] == []   # no archive form
    assert [w["element_id"] for w in detail["waiting_timers"]] == ["wait_day_180"], detail
