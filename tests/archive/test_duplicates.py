"""Issue 15: a candidate needs a name, and creating one the archive already has (same phone in any
format, same email, or same name and role) answers 409 duplicate-candidate with the existing ids."""
from __future__ import annotations

from tests.support import ADMIN, ATS, HR

ZHOU = {"name": "周思远", "phone": "+86 137-0000-1234", "email": "SiYuan@Example.com", "role_applied": "上海店长"}


def test_a_candidate_needs_a_name(api):
    _, _, as_user = api
    for body in ({}, {"name": ""}, {"name": "   "}, {"name": None}, {"phone": "13700001234"}):
        refused = as_user(HR).post("/candidates", json=body)
        assert refused.status_code == 422, (body, refused.json)
        assert "name" in {e["field"] for e in refused.json["errors"]}, refused.json
    assert as_user(HR).get("/candidates").json["total"] == 0          # nothing was created
    cid = as_user(HR).post("/candidates", json={"name": "林一"}).json["id"]
    blanked = as_user(HR).patch(f"/candidates/{cid}", json={"name": " "})
    assert blanked.status_code == 422 and [e["field"] for e in blanked.json["errors"]] == ["name"]
    assert as_user(HR).get(f"/candidates/{cid}").json["name"] == "林一"


def test_duplicates_are_refused_with_the_existing_record_unless_allowed(api):
    _, _, as_user = api
    first = as_user(ATS).post("/candidates", json=ZHOU).json["id"]
    attempts = {
        "phone": {"name": "周先生", "phone": "137 0000 1234"},
        "email": {"name": "Zhou", "email": "siyuan@example.COM"},
        "name_and_role": {"name": "周思远", "role_applied": "上海店长"},
    }
    for matched, body in attempts.items():
        answer = as_user(HR).post("/candidates", json=body)
        assert answer.status_code == 409, (matched, answer.json)
        assert answer.json["type"].endswith(":duplicate-candidate")
        [found] = answer.json["duplicates"]
        assert (found["id"], found["matched_on"]) == (first, [matched])
        assert found["phone"] == "+86 137-0000-1234" and found["name"] == "周思远"    # HR may see contact
    for_ats = as_user(ATS).post("/candidates", json=attempts["phone"])
    assert for_ats.status_code == 409
    assert for_ats.json["duplicates"] == [{"id": first, "matched_on": ["phone"], "role_applied": "上海店长"}]
    assert "137" not in for_ats.json["detail"] and "周" not in str(for_ats.json)
    assert as_user(HR).get("/candidates").json["total"] == 1
    # not the same person: another name at the same role, another phone
    assert as_user(HR).post("/candidates", json={"name": "周思远", "role_applied": "北京店长"}).status_code == 201
    allowed = as_user(ADMIN).post("/candidates?allow_duplicate=true", json=attempts["email"])
    assert allowed.status_code == 201, allowed.json
    assert as_user(HR).post("/candidates?allow_duplicate=maybe", json={"name": "x"}).status_code == 422
