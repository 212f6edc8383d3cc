"""A granted talent-pool consent needs a scope and a future expiry: the archive's rule, the same for
every caller (the API, a task's answer, a host application calling TalentArchive), answered over HTTP
as a 422 naming the field that is missing."""
from __future__ import annotations

import pytest

from engine.archive.records import InvalidCandidateData
from tests.support import ATS, HR

DAY = "2027-01-05"


@pytest.mark.parametrize("consent, field", [
    ({"granted": True}, "consent.scope"),
    ({"granted": True, "scope": "similar_roles"}, "consent.expires_at"),
    ({"granted": True, "scope": "similar_roles", "expires_at": "2020-01-01"}, "consent.expires_at"),
])
def test_the_archive_refuses_a_granted_consent_without_scope_or_future_expiry(archive, consent, field):
    with pytest.raises(InvalidCandidateData) as refused:
        archive.create_candidate({"name": "林一", "consent": consent}, actor=HR)
    assert refused.value.field == field


def test_over_http_the_422_names_the_missing_field(api):
    _, _, as_user = api
    no_scope = as_user(HR).post("/candidates", json={"name": "林一", "consent": {"granted": True}})
    assert no_scope.status_code == 422 and [e["field"] for e in no_scope.json["errors"]] == ["consent.scope"]
    no_expiry = as_user(HR).post("/candidates", json={"name": "林一", "consent": {"granted": True, "scope": "similar_roles"}})
    assert no_expiry.status_code == 422 and [e["field"] for e in no_expiry.json["errors"]] == ["consent.expires_at"]
    granted = {"granted": True, "scope": "similar_roles", "expires_at": DAY}
    created = as_user(ATS).post("/candidates", json={"name": "林一", "consent": granted})
    assert created.status_code == 201 and created.json["consent"]["expires_on"] == DAY
    cid = created.json["id"]
    refused = as_user(HR).patch(f"/candidates/{cid}", json={"consent": {"granted": True, "scope": "any_role"}})
    assert refused.status_code == 422 and [e["field"] for e in refused.json["errors"]] == ["consent.expires_at"]
    assert as_user(HR).get(f"/candidates/{cid}").json["consent"]["scope"] == "similar_roles"   # nothing applied
    decline = as_user(ATS).post(f"/candidates/{cid}/declines", json={"reason": "commute", "consent": {"granted": True}})
    assert decline.status_code == 422 and [e["field"] for e in decline.json["errors"]] == ["consent.scope"]
    assert as_user(HR).get(f"/candidates/{cid}").json["declines"] == []                       # no case started


def test_an_unknown_candidate_is_a_404_whatever_the_consent(api):
    _, _, as_user = api
    answer = as_user(HR).patch("/candidates/nobody", json={"consent": {"granted": True}})
    assert answer.status_code == 404
