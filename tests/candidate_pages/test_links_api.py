"""HR's API for candidate links (api/resources/links.py): issue (the full URL once, on RECALL_PUBLIC_URL),
list with status and views, revoke; bad fields named (422); 403 for the roles that must not. The page is
fetched over the real HTTP server of test_public_page. SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from tests.candidate_pages.test_public_page import _candidate, _get
from tests.support import ADMIN, ATS, HR, MANAGER, OWNER


def test_hr_issues_lists_and_revokes_over_the_api(site):
    engine, caller, base = site
    _archive, candidate = _candidate(engine)
    hr = caller(HR)
    answer = hr.post(f"/candidates/{candidate.id}/links", json={"kind": "growth", "lang": "en", "ttl_days": 7})
    assert answer.status_code == 201, answer.json
    issued = answer.json
    assert issued["url"].startswith("https://recall.example.com/p/") and issued["url"].endswith(issued["url_path"])
    assert issued["status"] == "active" and issued["lang"] == "en" and issued["view_count"] == 0
    assert _get(base + issued["url_path"])[0] == 200
    listed = hr.get(f"/candidates/{candidate.id}/links").json["items"]
    assert [(x["id"], x["status"], x["view_count"]) for x in listed] == [(issued["id"], "active", 1)]
    assert "url" not in listed[0] and "token" not in str(listed[0])
    revoked = hr.post(f"/links/{issued['id']}/revoke")
    assert revoked.status_code == 200 and revoked.json["status"] == "revoked" and revoked.json["revoked_by"] == HR
    assert _get(base + issued["url_path"])[0] == 410
    assert hr.post("/links/nope/revoke").status_code == 404
    assert hr.get("/candidates/nobody/links").status_code == 404
    for body, field in (({"kind": "salary"}, "kind"), ({"kind": "growth", "ttl_days": 0}, "ttl_days"),
                        ({"kind": "growth", "ttl_days": "7"}, "ttl_days"), ({"kind": "growth", "lang": "fr"}, "lang"),
                        ({"kind": "growth", "extra": 1}, "extra"), ({}, "kind")):
        refused = hr.post(f"/candidates/{candidate.id}/links", json=body)
        assert refused.status_code == 422 and field in str(refused.json), (body, refused.json)


@pytest.mark.parametrize("who", [MANAGER, OWNER, ATS])
def test_only_hr_and_admins_issue_or_see_links(site, who):
    engine, caller, _base = site
    _archive, candidate = _candidate(engine)
    issued = caller(ADMIN).post(f"/candidates/{candidate.id}/links", json={"kind": "growth"})
    assert issued.status_code == 201
    other = caller(who)
    assert other.post(f"/candidates/{candidate.id}/links", json={"kind": "growth"}).status_code == 403
    assert other.get(f"/candidates/{candidate.id}/links").status_code == 403
    assert other.post(f"/links/{issued.json['id']}/revoke").status_code == 403
