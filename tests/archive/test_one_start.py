"""Issue 14, point 1: a case started by a recorded decline is started by the engine's own `start`.

`POST /candidates/{id}/declines` (the main production entry) used a copy of `start_instance` that
skipped the rules added to it since: a decline's start variables were never bounded by
`RECALL_MAX_TASK_DATA_BYTES`. Both entries now call `engine.ops.start`; these tests hold both to the
same rule and the same audit record.
"""
from __future__ import annotations

import pytest

from tests.support import ATS, HR, app_with_workflows

BIG_NEEDS = ["弹性工作" * 100] * 10     # ~12 KB of start variables (each need within the API's 500): over 4 KiB


@pytest.fixture
def small_api(database_url):
    """The API with a 4 KiB bound on one change's data (start variables included)."""
    app, engine, caller = app_with_workflows(database_url, RECALL_MAX_TASK_DATA_BYTES="4096")
    yield app, engine, caller
    engine.db.dispose()


def _candidate(as_, name="吴一凡") -> str:
    created = as_(ATS).post("/candidates", json={"name": name, "consent": {"granted": False}})
    assert created.status_code == 201, created.get_json()
    return created.get_json()["id"]


def test_a_decline_obeys_the_start_rules_of_start_instance(small_api):
    _, engine, as_ = small_api
    cid = _candidate(as_)
    direct = as_(ATS).post("/process-instances", json={
        "process_key": "offer_recall", "business_key": cid,
        "variables": {"candidate_id": cid, "decline_date": "2026-01-05T09:00:00+08:00", "needs": BIG_NEEDS}})
    declined = as_(ATS).post(f"/candidates/{cid}/declines", json={"reason": "commute", "needs": BIG_NEEDS})

    assert direct.status_code == declined.status_code == 422, (direct.get_json(), declined.get_json())
    for refused in (direct, declined):       # the same rule, naming the same field (the totals differ)
        [error] = refused.get_json()["errors"]
        assert error["field"] == "variables.needs" and "RECALL_MAX_TASK_DATA_BYTES" in error["message"], error
    assert engine.list_instances(process_key="offer_recall") == []          # nothing started
    assert as_(HR).get(f"/candidates/{cid}").get_json()["declines"] == []    # nor recorded


def test_a_decline_s_case_is_audited_as_any_started_case(small_api):
    _, engine, as_ = small_api
    cid = _candidate(as_, "郑二")
    declined = as_(ATS).post(f"/candidates/{cid}/declines", json={"reason": "commute"})
    assert declined.status_code == 201, declined.get_json()
    by_decline = engine.get_instance(declined.get_json()["instance_id"])
    variables = {"candidate_id": cid, "decline_date": "2026-01-05T09:00:00+08:00"}
    direct = as_(ATS).post("/process-instances", json={"process_key": "offer_recall", "business_key": cid,
                                                        "variables": variables})
    assert direct.status_code == 201, direct.get_json()

    def started(instance_id):
        event = next(h for h in engine.history(instance_id) if h.kind == "instance_started")
        return event.actor, {k: v for k, v in event.details.items() if k != "variables"}

    assert started(by_decline.id) == started(direct.get_json()["id"]) == (ATS, {
        "process_key": "offer_recall", "version": by_decline.version, "business_key": cid, "candidate_id": cid})
