"""The inbox and safe completion: who sees what, ETag/If-Match, 409, one winner among 8."""
from __future__ import annotations

from tests.support import PREFIX, REVIEW_YES, bearer, race, start_approval


def _ids(response):
    assert response.status_code == 200, response.json
    return [t["id"] for t in response.json["items"]]


def _to_follow_up(as_user, candidate_id="c-1"):
    """Start, complete review (manager: mgr), move 31 days on: follow_up is ready and assigned to mgr."""
    hr = as_user("hr.li")
    instance = start_approval(hr, candidate_id)
    review = instance["ready_tasks"][0]["id"]
    assert hr.post(f"/tasks/{review}/complete", json={"data": REVIEW_YES}).status_code == 200
    assert as_user("root").post("/testing/clock", json={"advance": "P31D"}).json["fired"] >= 1
    follow_up = as_user("root").get(f"/tasks?instance_id={instance['id']}&element_id=follow_up").json["items"][0]
    return instance["id"], follow_up


def test_task_shape_and_detail(as_user):
    hr = as_user("hr.li")
    instance = start_approval(hr)
    task = instance["ready_tasks"][0]
    assert {"id", "element_id", "title", "instance_id", "status", "assignee", "candidate_groups",
            "created_at", "due_at"} <= set(task)
    assert (task["element_id"], task["status"], task["candidate_groups"]) == ("review", "ready", ["hr"])
    detail = hr.get(f"/tasks/{task['id']}")
    assert detail.headers["ETag"] == '"v1"'
    assert detail.json["form"]["schema"]["required"] == ["decision", "reason"]
    assert detail.json["form"]["ui_schema"] == {"ui:order": ["decision", "reason", "manager", "score"]}
    assert detail.json["data"]["candidate_id"] == "c-1"


def test_hr_sees_the_tasks_of_their_groups_only(as_user):
    task_id = start_approval(as_user("ats"))["ready_tasks"][0]["id"]
    assert _ids(as_user("hr.li").get("/tasks")) == [task_id]
    assert _ids(as_user("hr.wang").get("/tasks")) == []          # group hrbp only
    assert as_user("hr.wang").get(f"/tasks/{task_id}").status_code == 404     # not theirs: as if it did not exist
    assert _ids(as_user("mgr").get("/tasks")) == []
    assert _ids(as_user("root").get("/tasks")) == [task_id]
    assert _ids(as_user("owner").get("/tasks")) == [task_id]
    assert _ids(as_user("hr.li").get("/tasks?group=hr")) == [task_id]
    assert _ids(as_user("hr.li").get("/tasks?assignee=me")) == []
    assert as_user("hr.li").get("/tasks?group=hrbp").status_code == 403
    assert as_user("hr.li").get("/tasks?assignee=hr.wang").status_code == 403
    # claimed: it leaves the group queue and is the claimer's
    assert as_user("hr.li").post(f"/tasks/{task_id}/claim").json["assignee"] == "hr.li"
    assert _ids(as_user("hr.li").get("/tasks?assignee=me")) == [task_id]
    assert _ids(as_user("hr.li").get("/tasks?group=hr")) == []
    assert _ids(as_user("root").get("/tasks?assignee=hr.li")) == [task_id]


def test_a_manager_sees_and_completes_only_their_own_tasks(as_user):
    _, follow_up = _to_follow_up(as_user)
    assert follow_up["assignee"] == "mgr"
    assert _ids(as_user("mgr").get("/tasks")) == [follow_up["id"]]
    assert _ids(as_user("mgr2").get("/tasks")) == []
    assert as_user("mgr").get("/tasks?group=hiring_manager").status_code == 403
    # a task you may not see answers as a missing one (no existence oracle); a role refused outright: 403
    assert as_user("mgr2").get(f"/tasks/{follow_up['id']}").status_code == 404
    denied = as_user("mgr2").post(f"/tasks/{follow_up['id']}/complete", json={"data": {"message_sent": "hi"}})
    assert denied.status_code == 404
    assert as_user("hr.li").post(f"/tasks/{follow_up['id']}/complete",
                                 json={"data": {"message_sent": "hi"}}).status_code == 404
    assert as_user("ats").post(f"/tasks/{follow_up['id']}/complete",
                               json={"data": {"message_sent": "hi"}}).status_code == 403
    done = as_user("mgr").post(f"/tasks/{follow_up['id']}/complete", json={"data": {"message_sent": "hi"}})
    assert done.status_code == 200
    assert [m["name"] for m in done.json["waiting_messages"]] == ["candidate_replied"]
    assert _ids(as_user("mgr").get("/tasks?status=completed")) == [follow_up["id"]]


def test_if_match_guards_completion_against_a_change_in_between(as_user):
    instance_id, follow_up = _to_follow_up(as_user)
    mgr = as_user("mgr")
    read = mgr.get(f"/tasks/{follow_up['id']}")
    etag = read.headers["ETag"]
    assert as_user("root").get(f"/process-instances/{instance_id}").headers["ETag"] == etag
    # the 2-day reminder (non-interrupting) fires: the instance changes, the task stays ready
    assert as_user("root").post("/testing/clock", json={"advance": "P2DT1H"}).json["fired"] == 1
    stale = mgr.post(f"/tasks/{follow_up['id']}/complete", json={"data": {"message_sent": "hi"}},
                     headers={"If-Match": etag})
    assert stale.status_code == 412 and stale.mimetype == "application/problem+json"
    fresh = mgr.get(f"/tasks/{follow_up['id']}")
    assert fresh.json["status"] == "ready" and fresh.headers["ETag"] != etag
    done = mgr.post(f"/tasks/{follow_up['id']}/complete", json={"data": {"message_sent": "hi"}},
                    headers={"If-Match": fresh.headers["ETag"]})
    assert done.status_code == 200 and done.headers["ETag"] != fresh.headers["ETag"]


def test_eight_concurrent_completions_one_wins(app, as_user, tokens):
    task_id = start_approval(as_user("hr.li"))["ready_tasks"][0]["id"]

    def complete():
        return app.test_client().post(f"{PREFIX}/tasks/{task_id}/complete", json={"data": REVIEW_YES},
                                      headers=bearer(tokens["hr.li"])).status_code
    statuses = race(8, complete)
    assert sorted(statuses) == [200] + [409] * 7, statuses
    history = as_user("root").get(f"/tasks/{task_id}")
    assert history.json["status"] == "completed"


def test_task_pages_are_stable_and_linked(as_user):
    hr = as_user("hr.li")
    started = [start_approval(hr, f"c-{n}")["ready_tasks"][0]["id"] for n in range(7)]
    seen, url, pages = [], "/tasks?limit=3", 0
    while url:
        response = hr.get(url)
        seen += _ids(response)
        nxt = response.json["next"]
        url = nxt[len(PREFIX):] if nxt else None
        pages += 1
    everything = _ids(hr.get("/tasks?limit=50"))
    assert seen == everything and sorted(seen) == sorted(started) and pages == 3
    # a new task sorts after the ones already paged (created later): earlier pages stay as they were
    as_user("root").post("/testing/clock", json={"advance": "PT1M"})
    newest = start_approval(hr, "c-new")["ready_tasks"][0]["id"]
    assert _ids(hr.get("/tasks?limit=3&offset=3")) == everything[3:6]
    last = hr.get("/tasks?limit=3&offset=6")
    assert _ids(last) == [everything[6], newest] and last.json["next"] is None


def test_claim_rules(as_user):
    task_id = start_approval(as_user("hr.li"))["ready_tasks"][0]["id"]
    assert as_user("hr.wang").post(f"/tasks/{task_id}/claim").status_code == 404     # not in their groups
    assert as_user("hr.li").post(f"/tasks/{task_id}/claim").status_code == 200
    assert as_user("hr.li").post(f"/tasks/{task_id}/claim").status_code == 200      # again: still mine
    assert as_user("mgr").post(f"/tasks/{task_id}/claim").status_code == 404
