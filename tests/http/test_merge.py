"""Issue 15, "Duplicates": POST /candidates/{id}/merge over HTTP (the real workflows, SQLite and
PostgreSQL): who may merge, the refusals, a second click, the absorbed id's pointer, and a running
case that goes on with a reply recorded for the survivor."""
from __future__ import annotations

from tests.support import ADMIN, ATS, HR, MANAGER, OWNER

OLD = {"name": "合并HTTP甲", "phone": "13966661111", "role_applied": "上海店长", "tags": ["门店"]}
NEW = {"name": "合并HTTP甲", "email": "merge.http@example.com", "tags": ["复联"]}
CONSENT = {"talent_pool_consent": True, "consent_scope": "similar_roles", "consent_expiry": "2027-01-05"}


def _complete(as_user, instance_id, element_id, **data):
    [task] = as_user(ADMIN).get(f"/tasks?instance_id={instance_id}&element_id={element_id}").json["items"]
    done = as_user(HR).post(f"/tasks/{task['id']}/complete", json={"data": data})
    assert done.status_code == 200, done.json
    return done.json


def _two_records(as_user):
    absorbed = as_user(HR).post("/candidates", json=OLD).json["id"]
    survivor = as_user(HR).post("/candidates?allow_duplicate=true", json=NEW).json["id"]
    return survivor, absorbed


def test_hr_merges_and_the_running_case_goes_on_with_the_survivor(api):
    _, _, as_user = api
    survivor, absorbed = _two_records(as_user)
    case = as_user(ATS).post(f"/candidates/{absorbed}/declines", json={"reason": "salary"}).json["instance_id"]
    _complete(as_user, case, "archive_decline", decline_reason="salary", **CONSENT)
    assert as_user(ADMIN).post("/testing/clock", json={"advance": "P31D"}).status_code == 200
    _complete(as_user, case, "follow_up_day_30", outcome="sent", channel="wecom", message_sent="最近好吗")

    merged = as_user(HR).post(f"/candidates/{survivor}/merge", json={"from": absorbed},
                              headers={"Idempotency-Key": "merge-1"})

    assert merged.status_code == 200, merged.json
    body = merged.json
    assert body["id"] == survivor and body["phone"] == OLD["phone"] and body["email"] == NEW["email"]
    assert body["tags"] == ["复联", "门店"] and [c["instance_id"] for c in body["cases"]] == [case]
    assert [m["direction"] for m in body["messages"]] == ["sent"] and body["consent"]["granted"]
    # a second click answers the first merge; without the key it is a clear 409
    again = as_user(HR).post(f"/candidates/{survivor}/merge", json={"from": absorbed},
                             headers={"Idempotency-Key": "merge-1"})
    assert again.status_code == 200 and again.json["id"] == survivor
    twice = as_user(HR).post(f"/candidates/{survivor}/merge", json={"from": absorbed})
    assert twice.status_code == 409 and f"already merged into {survivor}" in twice.json["detail"]
    # the absorbed id: 404 with where it went, for who may see the archive's people
    gone = as_user(HR).get(f"/candidates/{absorbed}")
    assert gone.status_code == 404 and gone.json["merged_into"] == survivor
    assert gone.json["type"].endswith(":candidate-merged")
    hidden = as_user(MANAGER).get(f"/candidates/{absorbed}")
    assert hidden.status_code == 404 and "merged_into" not in hidden.json and survivor not in str(hidden.json)
    # the candidate replies; recorded for the survivor, it reaches the case from the absorbed record
    replied = as_user(ATS).post("/messages", json={"name": "candidate_replied", "correlation": {"candidate_id": survivor},
                                                   "payload": {"text": "我现在有空聊聊"}})
    assert replied.status_code == 200 and replied.json["delivered_to"] == [case], replied.json
    _complete(as_user, case, "assess_reply", outcome="not_interested")
    assert as_user(ADMIN).get(f"/process-instances/{case}").json["end_event"] == "end_not_interested"
    history = as_user(ADMIN).get(f"/process-instances/{case}/history").json["items"]
    merged_events = [e for e in history if e["kind"] == "candidate_merged"]
    assert len(merged_events) == 1 and merged_events[0]["actor"] == HR
    # the integrator's feed says where the absorbed record went, once (the per-case rewrite is not news)
    feed = as_user(ATS).get("/events?kinds=candidate.merged").json["events"]
    assert [(e["candidate_id"], e["data"], e["actor"]) for e in feed] == [(absorbed, {"merged_into": survivor}, HR)]


def test_only_hr_and_admin_merge_and_refusals_name_the_problem(api):
    _, _, as_user = api
    survivor, absorbed = _two_records(as_user)
    for who in (MANAGER, ATS, OWNER):
        refused = as_user(who).post(f"/candidates/{survivor}/merge", json={"from": absorbed})
        assert refused.status_code == 403, (who, refused.json)
    same = as_user(HR).post(f"/candidates/{survivor}/merge", json={"from": survivor})
    assert same.status_code == 422 and [e["field"] for e in same.json["errors"]] == ["from"]
    for body in ({}, {"from": ""}, {"from": 7}, {"from": absorbed, "into": survivor}):
        bad = as_user(HR).post(f"/candidates/{survivor}/merge", json=body)
        assert bad.status_code == 422, (body, bad.json)
    assert as_user(HR).post(f"/candidates/{survivor}/merge", json={"from": "nobody"}).status_code == 404
    assert as_user(HR).post("/candidates/nobody/merge", json={"from": absorbed}).status_code == 404
    assert as_user(HR).delete(f"/candidates/{absorbed}").status_code == 200
    erased = as_user(HR).post(f"/candidates/{survivor}/merge", json={"from": absorbed})
    assert erased.status_code == 404 and "erased" in erased.json["detail"]
    # nothing was merged by any of these
    assert as_user(HR).get(f"/candidates/{survivor}").json["tags"] == ["复联"]
    other = as_user(HR).post("/candidates?allow_duplicate=true", json=OLD).json["id"]
    done = as_user(ADMIN).post(f"/candidates/{survivor}/merge", json={"from": other})
    assert done.status_code == 200 and done.json["tags"] == ["复联", "门店"]
