"""Names, not ids (issue 15, "People who exist"): the API adds the human name beside every user id the
workspace shows — the signed-in person, a task's assignee and who completed it, the actor of each history
entry, a candidate's timeline and hiring manager — and a hiring manager's inbox names the candidate of
the hand-off they hold (audited once), nothing more. Both databases."""
from __future__ import annotations

import pytest
from sqlalchemy import select, update

from engine.models import AuditEvent, User
from tests.archive.archive_helpers import archive_decline, complete, reply
from tests.support import ADMIN, HR, MANAGER, OTHER_MANAGER, OWNER, ROOT, SECOND_MANAGER

DISPLAY = {HR: "李娜", MANAGER: "王立", OWNER: "欧阳"}


@pytest.fixture
def named(engine, tokens):
    """The directory's display names, set before anyone's first request (the token cache keeps the user)."""
    engine.deploy([ROOT / "workflows"], forms_dir=ROOT / "forms")
    with engine.db.write_transaction() as s:
        for name, display in DISPLAY.items():
            s.execute(update(User).where(User.name == name).values(display_name=display))


def _case_at_hand_off(as_user, engine, *, manager=MANAGER, name="张伟", phone="13800000000"):
    """A candidate of the archive whose case waits at `manager`'s hand-off: (candidate id, instance id)."""
    hr = as_user(HR)
    who = hr.post("/candidates", json={"name": name, "phone": phone, "role_applied": "门店主管"})
    assert who.status_code == 201, who.json
    started = hr.post(f"/candidates/{who.json['id']}/declines", json={
        "reason": "salary", "decline_date": "2026-01-05T09:00:00+08:00", "hiring_manager": MANAGER})
    assert started.status_code == 201, started.json
    instance_id = started.json["instance_id"]
    archive_decline(engine, instance_id)
    reply(engine, who.json["id"])
    complete(engine, instance_id, "assess_reply", outcome="interested", involve_manager=True)
    complete(engine, instance_id, "request_manager_contact", manager_username=manager, talking_points="新排班")
    return who.json["id"], instance_id


def test_me_has_the_display_name(as_user, named):
    assert as_user(HR).get("/workspace/me").json["display_name"] == "李娜"
    assert as_user(SECOND_MANAGER).get("/workspace/me").json["display_name"] is None     # none set: the page shows the user name


def test_tasks_name_their_assignee_and_who_completed_them(as_user, named, engine):
    hr = as_user(HR)
    candidate_id, instance_id = _case_at_hand_off(as_user, engine)
    done = hr.get(f"/tasks?instance_id={instance_id}&element_id=request_manager_contact&status=completed").json["items"]
    assert [(t["completed_by"], t["completed_by_name"], t["assignee_name"]) for t in done] == [(HR, "李娜", None)]
    assert hr.get(f"/tasks/{done[0]['id']}").json["completed_by_name"] == "李娜"

    [hand_off] = as_user(MANAGER).get(f"/tasks?instance_id={instance_id}").json["items"]
    assert (hand_off["assignee"], hand_off["assignee_name"], hand_off["completed_by_name"]) == (MANAGER, "王立", None)
    assert as_user(MANAGER).get(f"/tasks/{hand_off['id']}").json["assignee_name"] == "王立"
    ready = as_user(ADMIN).get(f"/process-instances/{instance_id}").json["ready_tasks"]
    assert [(t["assignee"], t["assignee_name"]) for t in ready] == [(MANAGER, "王立")]

    # the answers of a hand-over name the new holder; someone without a display name by their user name
    passed = as_user(MANAGER).post(f"/tasks/{hand_off['id']}/reassign", json={"to": SECOND_MANAGER})
    assert passed.status_code == 200, passed.json
    assert (passed.json["assignee"], passed.json["assignee_name"]) == (SECOND_MANAGER, SECOND_MANAGER)
    released = as_user(SECOND_MANAGER).post(f"/tasks/{hand_off['id']}/release")
    assert released.status_code == 200, released.json
    assert (released.json["assignee"], released.json["assignee_name"]) == (None, None)


def test_history_names_people_and_leaves_the_engine_unnamed(as_user, named, engine):
    _, instance_id = _case_at_hand_off(as_user, engine)
    items = as_user(HR).get(f"/process-instances/{instance_id}/history?limit=200").json["items"]
    by_actor = {e["actor"]: e["actor_name"] for e in items}
    assert by_actor[HR] == "李娜"
    assert "engine" in by_actor and by_actor["engine"] is None            # not a person: the page says what it is
    assert by_actor["wecom-bot"] is None                                    # not in this directory
    # paging keeps the names
    first = as_user(HR).get(f"/process-instances/{instance_id}/history?limit=2").json["items"]
    assert [e["actor_name"] for e in first] == [by_actor[e["actor"]] for e in first]


def test_a_candidate_names_the_people_of_its_timeline_and_its_hiring_manager(as_user, named, engine):
    candidate_id, _ = _case_at_hand_off(as_user, engine)
    c = as_user(HR).get(f"/candidates/{candidate_id}").json
    assert [(d["hiring_manager"], d["hiring_manager_name"]) for d in c["declines"]] == [(MANAGER, "王立")]
    actors = {(e["actor"], e["actor_name"]) for e in c["timeline"]}
    assert (HR, "李娜") in actors
    assert all(name is None for actor, name in actors if actor not in DISPLAY)


def _contact_views(engine, actor):
    with engine.db.read_transaction() as s:
        return s.execute(select(AuditEvent.task_id, AuditEvent.details).where(
            AuditEvent.kind == "contact_viewed", AuditEvent.actor == actor)).all()


def test_a_manager_s_inbox_names_only_the_candidate_of_the_hand_off_they_hold_audited_once(as_user, named, engine):
    candidate_id, instance_id = _case_at_hand_off(as_user, engine)
    _case_at_hand_off(as_user, engine, manager=SECOND_MANAGER, name="李四", phone="13900000000")    # someone else's hand-off

    [item] = as_user(MANAGER).get("/workspace/inbox").json["items"]
    assert (item["element_id"], item["candidate_id"], item["candidate_name"]) == (
        "manager_contact_candidate", candidate_id, "张伟")
    [(task_id, details)] = _contact_views(engine, MANAGER)                  # reading the name is audited ...
    assert task_id == item["id"] and details == {"candidate_id": candidate_id, "fields": ["name"], "via": "inbox"}
    as_user(MANAGER).get("/workspace/inbox")
    assert len(_contact_views(engine, MANAGER)) == 1                        # ... once per hand-off, not per page load
    assert as_user(OTHER_MANAGER).get("/workspace/inbox").json["items"] == []
    assert _contact_views(engine, OTHER_MANAGER) == []

    # roles that may not see names see none; HR sees every name (its own follow-ups too)
    owner_items = as_user(OWNER).get("/workspace/inbox").json["items"]
    assert owner_items and all(i["candidate_name"] is None for i in owner_items)

    # once the hand-off is no longer theirs, the name goes (it went to another manager)
    assert as_user(MANAGER).post(f"/tasks/{item['id']}/reassign", json={"to": SECOND_MANAGER}).status_code == 200
    assert as_user(MANAGER).get("/workspace/inbox").json["items"] == []
    theirs = as_user(SECOND_MANAGER).get("/workspace/inbox").json["items"]
    assert {i["candidate_id"]: i["candidate_name"] for i in theirs}[candidate_id] == "张伟"
    assert {t for t, _ in _contact_views(engine, SECOND_MANAGER)} == {i["id"] for i in theirs}


def test_the_workspace_never_shows_a_name_the_archive_has_erased(as_user, named, engine):
    candidate_id, _ = _case_at_hand_off(as_user, engine)
    assert as_user(HR).delete(f"/candidates/{candidate_id}").status_code in (200, 202)
    assert all(i["candidate_name"] is None for i in as_user(MANAGER).get("/workspace/inbox").json["items"])
