"""Who to call first over HTTP (issue 20): the candidate list sorted by likelihood with its reasons and keyset
paging, pins, the recall list of a role, the scorecard (process owner), the model report, and the roles that
are refused. SQLite and PostgreSQL."""
from __future__ import annotations

import pytest

from tests.support import ATS, HR, MANAGER, OWNER

CONSENT = {"granted": True, "scope": "any_role", "source": "电话", "expires_at": "2027-06-30T00:00:00+08:00"}


def _candidate(as_user, name, *, role="Backend Engineer", signal=None):
    made = as_user(HR).post("/candidates", json={"name": name, "role_applied": role, "consent": CONSENT})
    assert made.status_code == 201, made.json
    declined = as_user(ATS).post(f"/candidates/{made.json['id']}/declines",
                                 json={"reason": "salary", "role": role, "consent": CONSENT})
    assert declined.status_code == 201, declined.json
    if signal:
        assert as_user(ATS).post(f"/candidates/{made.json['id']}/signals",
                                 json={"kind": signal, "text": "…", "source": "wecom"}).status_code in (200, 201)
    return made.json["id"]


@pytest.fixture
def pool(api):
    _, _, as_user = api
    ids = {"open": _candidate(as_user, "林一", signal="open_to_work"),
           "viewed": _candidate(as_user, "王二", signal="growth_page_viewed"),
           "plain": _candidate(as_user, "赵三"),
           "designer": _candidate(as_user, "钱四", role="Designer")}
    refreshed = as_user(HR).post("/ranking/refresh")
    assert refreshed.status_code == 200 and refreshed.json["scored"] == 4 and refreshed.json["full"]
    return as_user, ids


def test_the_list_sorts_by_likelihood_with_reasons_and_pages_by_keyset(pool):
    as_user, ids = pool
    listed = as_user(HR).get("/candidates?sort=-likelihood&limit=50").json["items"]
    assert [c["id"] for c in listed][:1] == [ids["open"]] and len(listed) == 4
    assert [c["likelihood"] for c in listed] == sorted((c["likelihood"] for c in listed), reverse=True)
    top = listed[0]
    assert 0 < top["likelihood"] < 1 and top["likelihood_source"] == "scorecard:0" and top["pinned"] is False
    assert top["likelihood_reasons"][0]["feature"] == "signal_open_to_work"
    assert top["likelihood_reasons"][0]["zh"] == "正在看机会" and top["likelihood_reasons"][0]["contribution"] > 0
    # keyset: pages of one, in the same order, each once
    seen, url = [], "/candidates?sort=-likelihood&limit=1"
    while url:
        page = as_user(HR).get(url.replace("/api/v1", "")).json
        seen += [c["id"] for c in page["items"]]
        url = page["next"]
    assert seen == [c["id"] for c in listed]
    # other sorts carry the score too
    assert all("likelihood" in c for c in as_user(HR).get("/candidates").json["items"])
    # a cursor of another sort, or garbage: 422 naming `after`
    other = as_user(HR).get("/candidates?limit=1").json["next_cursor"]
    for bad in (other, "garbage", "W10"):
        refused = as_user(HR).get(f"/candidates?sort=-likelihood&after={bad}")
        assert refused.status_code == 422 and refused.json["errors"][0]["field"] == "after"


def test_a_pin_puts_a_candidate_first_and_a_second_click_changes_nothing(pool):
    as_user, ids = pool
    for _ in range(2):
        pinned = as_user(HR).put(f"/candidates/{ids['plain']}/pin", json={"pinned": True})
        assert pinned.status_code == 200 and pinned.json["pinned"] is True
    listed = as_user(HR).get("/candidates?sort=-likelihood").json["items"]
    assert listed[0]["id"] == ids["plain"] and listed[0]["pinned"]
    assert as_user(HR).put(f"/candidates/{ids['plain']}/pin", json={"pinned": False}).json["pinned"] is False
    assert as_user(HR).get("/candidates?sort=-likelihood").json["items"][0]["id"] == ids["open"]
    assert as_user(HR).put("/candidates/nobody/pin", json={"pinned": True}).status_code == 404
    for body in ({}, {"pinned": "maybe"}, {"pinned": True, "extra": 1}):
        assert as_user(HR).put(f"/candidates/{ids['plain']}/pin", json=body).status_code == 422


def test_the_recall_list_of_an_opened_role(pool):
    as_user, ids = pool
    found = as_user(HR).get("/recall-list?role_key=backend_engineer&limit=2")
    assert found.status_code == 200
    assert [i["candidate_id"] for i in found.json["items"]] == [ids["open"], ids["viewed"]]
    assert found.json["items"][0]["name"] == "林一" and found.json["items"][0]["likelihood_reasons"]
    assert as_user(HR).get("/recall-list?role_key=designer").json["items"][0]["candidate_id"] == ids["designer"]
    assert as_user(HR).get("/recall-list?role_key=nothing_like_it").json["items"] == []
    assert as_user(HR).get("/recall-list").status_code == 422
    assert as_user(HR).get("/recall-list?role_key=x&limit=100000").status_code == 422


def test_the_scorecard_is_the_process_owners_to_change(pool):
    as_user, ids = pool
    card = as_user(OWNER).get("/ranking/scorecard").json
    assert card["version"] == 0 and card["in_use"] == "scorecard:0"
    assert {"feature": "signal_open_to_work", "zh": "正在看机会", "en": "Open to work"} in card["features"]
    assert not any("family" in f["feature"] for f in card["features"])
    saved = as_user(OWNER).put("/ranking/scorecard", json={"intercept": -1, "weights": {"signal_growth_page_viewed": 3},
                                                           "note": "成长页更重要"})
    assert saved.status_code == 200 and saved.json["version"] == 1 and saved.json["in_use"] == "scorecard:1"
    as_user(OWNER).post("/ranking/refresh")
    assert as_user(HR).get("/candidates?sort=-likelihood").json["items"][0]["id"] == ids["viewed"]
    for body, field in (({"intercept": 0, "weights": {"reason:family": 1}}, "reason:family"),
                        ({"intercept": 0, "weights": {"gender": 1}}, "gender"),
                        ({"intercept": 0, "weights": {"replied": 1e6}}, "weights"),
                        ({"intercept": 0}, "weights")):
        refused = as_user(OWNER).put("/ranking/scorecard", json=body)
        assert refused.status_code == 422 and field in str(refused.json["errors"]), refused.json
    assert as_user(OWNER).get("/ranking/scorecard").json["version"] == 1        # nothing half-written


def test_the_model_report_and_training_below_the_threshold(pool):
    as_user, _ids = pool
    report = as_user(OWNER).get("/ranking/model").json
    assert report == {"in_use": "scorecard:0", "models": []}
    trained = as_user(OWNER).post("/ranking/model/train").json
    assert trained["trained"] is False and "needs 200" in trained["reason"]


@pytest.mark.parametrize("who, method, path, body", [
    (MANAGER, "get", "/recall-list?role_key=backend_engineer", None),
    (MANAGER, "get", "/candidates?sort=-likelihood", None),
    (MANAGER, "put", "/candidates/x/pin", {"pinned": True}),
    (MANAGER, "get", "/ranking/scorecard", None),
    (OWNER, "get", "/recall-list?role_key=backend_engineer", None),
    (OWNER, "put", "/candidates/x/pin", {"pinned": True}),
    (HR, "put", "/ranking/scorecard", {"intercept": 0, "weights": {}}),
    (HR, "post", "/ranking/model/train", None),
    (ATS, "get", "/ranking/model", None),
])
def test_roles_that_may_not_are_refused(api, who, method, path, body):
    _, _, as_user = api
    kwargs = {"json": body} if body is not None else {}
    assert getattr(as_user(who), method)(path, **kwargs).status_code == 403
