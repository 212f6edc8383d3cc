"""Release and reassign a task (issue 15): who may, to whom, audited, and a second click is harmless."""
from __future__ import annotations

from engine import users
from tests.support import PREFIX, Caller, bearer, start_approval
from tests.http.test_tasks import _ids, _to_follow_up


def _kinds(as_user, instance_id, *kinds):
    history = as_user("root").get(f"/process-instances/{instance_id}/history?limit=100").json["items"]
    return [(e["kind"], e["actor"], e["details"]) for e in history if e["kind"] in kinds]


def test_the_holder_releases_a_task_back_to_the_group_once(as_user):
    instance = start_approval(as_user("ats"))
    task_id = instance["ready_tasks"][0]["id"]
    hr = as_user("hr.li")
    assert hr.post(f"/tasks/{task_id}/claim").json["assignee"] == "hr.li"
    released = hr.post(f"/tasks/{task_id}/release")
    assert released.status_code == 200, released.json
    assert released.json["assignee"] is None
    assert _ids(hr.get("/tasks?group=hr")) == [task_id]
    again = hr.post(f"/tasks/{task_id}/release")            # the second click: unchanged, not audited again
    assert (again.status_code, again.json["assignee"]) == (200, None)
    assert _kinds(as_user, instance["id"], "task_released") == [("task_released", "hr.li", {"from": "hr.li"})]


def test_who_may_release_or_reassign(as_user, engine, client):
    chen = Caller(client, users.add_user(engine.db, "hr.chen", "hr")[1])      # a second member of group hr
    instance = start_approval(as_user("ats"))
    task_id = instance["ready_tasks"][0]["id"]
    assert chen.post(f"/tasks/{task_id}/claim").status_code == 200
    # not of the task's group, or a manager who never held it: as if it did not exist; an integrator: refused
    for name, status in (("hr.wang", 404), ("mgr", 404), ("ats", 403), ("owner", 403)):
        assert as_user(name).post(f"/tasks/{task_id}/release").status_code == status, name
        assert as_user(name).post(f"/tasks/{task_id}/reassign", json={"to": "hr.li"}).status_code == status, name
    assert as_user("hr.li").get(f"/tasks/{task_id}").status_code == 404     # held by a colleague: not in sight
    moved = as_user("hr.li").post(f"/tasks/{task_id}/reassign", json={"to": "hr.li"})   # HR of the group may
    assert (moved.status_code, moved.json["assignee"]) == (200, "hr.li")
    assert as_user("root").post(f"/tasks/{task_id}/release").json["assignee"] is None    # an admin may
    assert chen.post(f"/tasks/{task_id}/release").json["assignee"] is None     # HR of the group: already free
    assert [k[:2] for k in _kinds(as_user, instance["id"], "task_reassigned", "task_released")] == [
        ("task_reassigned", "hr.li"), ("task_released", "root")]


def test_reassign_names_to_when_the_person_cannot_take_the_task(as_user):
    task_id = start_approval(as_user("ats"))["ready_tasks"][0]["id"]
    hr = as_user("hr.li")
    for to in ("nobody", "mgr", "hr.wang", "root"):          # unknown, a manager, HR of another group, no group
        refused = hr.post(f"/tasks/{task_id}/reassign", json={"to": to})
        assert refused.status_code == 422, (to, refused.json)
        assert [e["field"] for e in refused.json["errors"]] == ["to"], refused.json
    missing = hr.post(f"/tasks/{task_id}/reassign", json={})
    assert missing.status_code == 422 and "to" in str(missing.json)
    assert hr.get(f"/tasks/{task_id}").json["assignee"] is None     # nothing applied


def test_hr_passes_a_managers_task_to_another_manager(as_user):
    instance_id, follow_up = _to_follow_up(as_user)
    task_id = follow_up["id"]
    assert follow_up["assignee"] == "mgr"
    hr = as_user("hr.li")
    assert hr.post(f"/tasks/{task_id}/reassign", json={"to": "hr.li"}).status_code == 422   # not a manager
    moved = hr.post(f"/tasks/{task_id}/reassign", json={"to": "mgr2"})
    assert (moved.status_code, moved.json["assignee"]) == (200, "mgr2"), moved.json
    assert hr.post(f"/tasks/{task_id}/reassign", json={"to": "mgr2"}).status_code == 200   # second click
    assert _kinds(as_user, instance_id, "task_reassigned") == [
        ("task_reassigned", "hr.li", {"from": "mgr", "to": "mgr2"})]
    assert _ids(as_user("mgr").get("/tasks")) == []
    assert _ids(as_user("mgr2").get("/tasks")) == [task_id]
    done = as_user("mgr2").post(f"/tasks/{task_id}/complete", json={"data": {"message_sent": "hi"}})
    assert done.status_code == 200
    assert as_user("mgr2").post(f"/tasks/{task_id}/release").status_code == 409     # completed: not ready


def test_release_and_reassign_of_a_missing_task_is_404(client, tokens):
    for action, body in (("release", {}), ("reassign", {"to": "hr.li"})):
        answer = client.post(f"{PREFIX}/tasks/nope/{action}", json=body, headers=bearer(tokens["hr.li"]))
        assert answer.status_code == 404


def test_a_deactivated_member_cannot_be_given_a_task(as_user, engine):
    task_id = start_approval(as_user("ats"))["ready_tasks"][0]["id"]
    users.add_user(engine.db, "hr.left", "hr")
    users.set_active(engine.db, "hr.left", False)
    refused = as_user("hr.li").post(f"/tasks/{task_id}/reassign", json={"to": "hr.left"})
    assert refused.status_code == 422 and [e["field"] for e in refused.json["errors"]] == ["to"]
