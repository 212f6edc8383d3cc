"""Conditional reads (issue 16): an ETag on every read, 304 for If-None-Match while it holds, and every
change of a case (claim, release, reassign, completion, a timer, a message) a new ETag and updated_at."""
from __future__ import annotations

from tests.support import ADMIN, APPROVAL_MANAGER, ATS, HR, REVIEW_YES, start_approval


def _unchanged(caller, path: str, tag: str, sent: str | None = None) -> None:
    again = caller.get(path, headers={"If-None-Match": sent or tag})
    assert again.status_code == 304, (path, again.status_code)
    assert again.get_data() == b"" and again.headers["ETag"] == tag
    assert again.headers["Cache-Control"] == "private, no-cache"
    assert {"Authorization", "Cookie"} <= {v.strip() for v in again.headers["Vary"].split(",")}


def _changed(caller, path: str, old: str):
    response = caller.get(path, headers={"If-None-Match": old})
    assert response.status_code == 200, (path, response.status_code)
    assert response.headers["ETag"] != old
    return response


def test_every_change_of_a_case_changes_its_etag_and_updated_at(as_user):
    hr, admin = as_user(HR), as_user(ADMIN)
    started = start_approval(hr, "c-cond")
    path = f"/process-instances/{started['id']}"
    task_id = started["ready_tasks"][0]["id"]
    read = hr.get(path)
    tag, stamp = read.headers["ETag"], read.json["updated_at"]
    _unchanged(hr, path, tag)
    _unchanged(hr, path, f"W/{tag}", f'W/"x", W/{tag}')     # a list, weak comparison: says the weak one
    _unchanged(hr, path, tag, "*")
    task_tag = hr.get(f"/tasks/{task_id}").headers["ETag"]
    assert task_tag == tag
    _unchanged(hr, f"/tasks/{task_id}", task_tag)

    def step(change) -> None:
        nonlocal tag, stamp
        admin.post("/testing/clock", json={"advance": "PT1M"})
        answer = change()
        assert answer.status_code in (200, 202), answer.json
        now = _changed(hr, path, tag)
        assert now.json["updated_at"] > stamp
        if "ETag" in answer.headers:
            assert answer.headers["ETag"] == now.headers["ETag"]
        tag, stamp = now.headers["ETag"], now.json["updated_at"]

    step(lambda: hr.post(f"/tasks/{task_id}/claim"))
    assert hr.get(f"/tasks/{task_id}", headers={"If-None-Match": task_tag}).status_code == 200
    step(lambda: hr.post(f"/tasks/{task_id}/release"))
    step(lambda: admin.post(f"/tasks/{task_id}/reassign", json={"to": HR}))
    stale = hr.post(f"/tasks/{task_id}/complete", json={"data": REVIEW_YES}, headers={"If-Match": task_tag})
    assert stale.status_code == 412          # the claim made the tag read before it stale
    step(lambda: hr.post(f"/tasks/{task_id}/complete", json={"data": REVIEW_YES}, headers={"If-Match": tag}))
    step(lambda: admin.post("/testing/clock", json={"advance": "P31D"}))           # the day-30 timer fires
    follow_up = as_user(APPROVAL_MANAGER).get("/tasks").json["items"][0]
    step(lambda: as_user(APPROVAL_MANAGER).post(f"/tasks/{follow_up['id']}/complete",
                                                json={"data": {"message_sent": "hi"}}))
    step(lambda: as_user(ATS).post("/messages", json={"name": "candidate_replied",
                                                      "correlation": {"candidate_id": "c-cond"}}))


def test_lists_answer_304_until_what_they_show_changes(as_user):
    hr, admin = as_user(HR), as_user(ADMIN)
    started = start_approval(hr, "c-list")
    for path in ("/tasks", "/process-instances?status=running", "/process-instances?expand=ready_tasks"):
        caller = admin if path.startswith("/process") else hr
        first = caller.get(path)
        tag = first.headers["ETag"]
        assert tag.startswith('W/"')
        _unchanged(caller, path, tag)
    tags = {path: (admin if path.startswith("/process") else hr).get(path).headers["ETag"]
            for path in ("/tasks", "/process-instances?expand=ready_tasks")}
    hr.post(f"/tasks/{started['ready_tasks'][0]['id']}/claim")
    _changed(hr, "/tasks", tags["/tasks"])
    _changed(admin, "/process-instances?expand=ready_tasks", tags["/process-instances?expand=ready_tasks"])
    # another caller's answer differs: another ETag (a manager sees no tasks here)
    assert as_user(APPROVAL_MANAGER).get("/tasks", headers={"If-None-Match": tags["/tasks"]}).status_code == 200


def test_a_candidate_and_the_candidate_list(as_user):
    hr = as_user(HR)
    created = hr.post("/candidates", json={"name": "Chen Etag", "role_applied": "engineer"})
    assert created.status_code == 201
    path = f"/candidates/{created.json['id']}"
    tag = hr.get(path).headers["ETag"]
    list_tag = hr.get("/candidates?role=engineer").headers["ETag"]
    _unchanged(hr, path, tag)
    _unchanged(hr, "/candidates?role=engineer", list_tag)
    assert hr.patch(path, json={"notes": "prefers Shanghai"}).status_code == 200
    assert _changed(hr, path, tag).json["notes"] == "prefers Shanghai"
    _unchanged(hr, "/candidates?role=engineer", list_tag)     # notes are not in the list: the same answer
    assert hr.patch(path, json={"tags": ["relocating"]}).status_code == 200
    assert _changed(hr, "/candidates?role=engineer", list_tag).json["items"][0]["tags"] == ["relocating"]
    # a 404 stays a 404, whatever If-None-Match says
    assert hr.get("/candidates/nobody", headers={"If-None-Match": "*"}).status_code == 404
