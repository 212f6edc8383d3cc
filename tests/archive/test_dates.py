"""Issue 13, item 4: one consent expiry is one calendar day everywhere.

The convention (docs/privacy.md, "Dates"): a calendar date a person enters is a day in
`RECALL_TIMEZONE` (default Asia/Shanghai), stored as the end of that day in that zone, and shown
as that same date everywhere: the API gives the date (`expires_on`, `decline_day`) beside the
instant, the timeline and the task prefill say the same date. Before, one expiry showed as the
UTC date in the timeline, the next day on the card and 23:59 from the web form.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.archive.archive_helpers import complete, task
from tests.support import ATS, HR

BEIJING_END = "T23:59:59.999999+08:00"


def _candidate(hr, **extra):
    created = hr.post("/candidates", json={"name": "日期测试", **extra})
    assert created.status_code == 201, created.get_json()
    return created.get_json()["id"]


def _consent_entries(view):
    return [e["summary"] for e in view["timeline"] if e["kind"] == "consent_granted"]


def _instant(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("given", ["2027-01-05", "2027-01-05T09:00:00+08:00", "2027-01-05T23:59:00+08:00",
                                   "2027-01-05T00:00:00+08:00", "2027-01-04T16:30:00Z"])
def test_a_consent_expiry_is_the_same_calendar_day_everywhere(api, given):
    app, engine, as_ = api
    hr = as_(HR)
    candidate_id = _candidate(hr)
    declined = as_(ATS).post(f"/candidates/{candidate_id}/declines", json={
        "reason": "salary", "decline_date": "2026-01-05",
        "consent": {"granted": True, "scope": "similar_roles", "source": "电话", "expires_at": given}})
    assert declined.status_code == 201, declined.get_json()

    view = hr.get(f"/candidates/{candidate_id}").get_json()

    assert view["consent"]["expires_on"] == "2027-01-05"
    assert _instant(view["consent"]["expires_at"]) == _instant("2027-01-05" + BEIJING_END)
    assert _consent_entries(view) == ["talent-pool consent (similar_roles) until 2027-01-05"]
    assert view["declines"][0]["decline_day"] == "2026-01-05"
    prefill = task(engine, declined.get_json()["instance_id"], "archive_decline").data
    assert prefill.get("consent_expiry", "2027-01-05") == "2027-01-05"


def test_an_expiry_entered_in_a_task_is_that_day_on_the_card_and_the_timeline(api):
    app, engine, as_ = api
    hr = as_(HR)
    candidate_id = _candidate(hr)
    case = as_(ATS).post(f"/candidates/{candidate_id}/declines", json={"reason": "team"}).get_json()["instance_id"]
    complete(engine, case, "archive_decline", decline_reason="team", talent_pool_consent=True,
             consent_scope="any_role", consent_expiry="2027-03-01")

    view = hr.get(f"/candidates/{candidate_id}").get_json()

    assert view["consent"]["expires_on"] == "2027-03-01"
    assert _instant(view["consent"]["expires_at"]) == _instant("2027-03-01" + BEIJING_END)
    assert _consent_entries(view) == ["talent-pool consent (any_role) until 2027-03-01"]


def test_the_consent_lapses_after_its_last_day_in_beijing(api):
    app, engine, as_ = api
    hr = as_(HR)
    candidate_id = _candidate(hr)
    patched = hr.patch(f"/candidates/{candidate_id}", json={"consent": {"granted": True, "scope": "any_role",
                                                                        "expires_at": "2026-01-07"}})
    assert patched.status_code == 200, patched.get_json()
    from engine.archive import PrivacySettings, TalentArchive
    archive = TalentArchive(engine, settings=PrivacySettings())
    engine.clock.set(datetime(2026, 1, 7, 15, 59, tzinfo=timezone.utc))     # 23:59 on the 7th in Beijing
    assert archive.run_jobs().consents_lapsed == 0
    engine.clock.set(datetime(2026, 1, 7, 16, 0, 1, tzinfo=timezone.utc))  # 00:00:01 on the 8th in Beijing
    assert archive.run_jobs().consents_lapsed == 1


def test_a_date_that_is_not_a_date_names_the_field(api):
    app, engine, as_ = api
    hr = as_(HR)
    candidate_id = _candidate(hr)
    answer = hr.patch(f"/candidates/{candidate_id}", json={"consent": {"granted": True, "scope": "any_role",
                                                                       "expires_at": "2027-02-30"}})
    assert answer.status_code == 422
    assert "consent.expires_at" in str(answer.get_json()["errors"]), answer.get_json()
