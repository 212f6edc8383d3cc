"""The studio over HTTP (issue 19): drafts with ETag/If-Match and privacy, the diff, deploy with a note
(422 naming `note` without one), per-version counts and case lists, and the migration of running cases —
a dry run with one case refused, the move, a second click, and the moved case's follow-up on the new date.
Real app, real workflows/, SQLite and PostgreSQL."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from engine import users
from tests.archive.archive_helpers import archive_decline, send_follow_up, task, wait
from tests.support import ADMIN, ATS, HR, OWNER, Caller, app_with_workflows

DAY_90 = 'add_duration(decline_date, "P90D")'
DAY_60 = 'add_duration(decline_date, "P60D")'


@pytest.fixture
def studio_api(database_url):
    app, engine, caller = app_with_workflows(database_url)
    _, token = users.add_user(engine.db, "owner.two", "process_owner")
    yield app, engine, caller, Caller(app.test_client(), token)
    engine.db.dispose()


def _with_required_field(text: str) -> str:
    form = json.loads(text)
    form["required"] = [*form["required"], "manager_note"]
    form["properties"]["manager_note"] = {"type": "string", "title": "经理备注 / Manager note"}
    return json.dumps(form, ensure_ascii=False, indent=2)


def _fields(response) -> set[str]:
    return {e["field"] for e in response.json["errors"]}


def test_drafts_are_private_and_saved_with_if_match(studio_api):
    _, _, caller, other = studio_api
    owner, admin, hr = caller(OWNER), caller(ADMIN), caller(HR)
    made = owner.post("/studio/drafts", json={"title": "新节奏 / new cadence"})
    assert made.status_code == 201 and made.headers["ETag"] == '"v1"'
    draft = made.json
    assert draft["owner"] == OWNER and "offer_recall.bpmn" in draft["files"]
    path = f"/studio/drafts/{draft['id']}"
    assert owner.get(path).headers["ETag"] == '"v1"'
    assert other.get(path).status_code == 404                 # another process owner: not there at all
    assert other.get("/studio/drafts").json["items"] == []
    assert admin.get(path).status_code == 200
    assert hr.get(path).status_code == 403 and hr.post("/studio/drafts", json={"title": "x"}).status_code == 403
    assert other.put(path, json={"title": "mine"}, headers={"If-Match": '"v1"'}).status_code == 404

    assert owner.put(path, json={"title": "x"}).status_code == 428                 # never a blind overwrite
    saved = owner.put(path, json={"title": "renamed"}, headers={"If-Match": '"v1"'})
    assert saved.status_code == 200 and saved.headers["ETag"] == '"v2"' and saved.json["title"] == "renamed"
    stale = owner.put(path, json={"title": "again"}, headers={"If-Match": '"v1"'})   # the second click
    assert stale.status_code == 412
    bad = owner.put(path, json={"files": {"../x.bpmn": "a", "big.bpmn": "x" * 10}, "colour": "red"},
                    headers={"If-Match": '"v2"'})
    assert bad.status_code == 422 and "colour" in _fields(bad)
    bad = owner.put(path, json={"files": {"../x.bpmn": "a", "notes.txt": "b"}}, headers={"If-Match": '"v2"'})
    assert bad.status_code == 422 and _fields(bad) == {"files.../x.bpmn", "files.notes.txt"}
    assert owner.put(path, json={"files": {"a.bpmn": 3}}, headers={"If-Match": '"v2"'}).status_code == 422
    assert owner.put(path, json={"title": "x" * 201}, headers={"If-Match": '"v2"'}).status_code == 422
    assert owner.post("/studio/drafts", json={"title": "t", "source": "files",
                                              "files": {"a.bpmn": "<x/>"}}).status_code == 201
    assert sorted(d["title"] for d in owner.get("/studio/drafts").json["items"]) == ["renamed", "t"]
    assert len(admin.get("/studio/drafts?everyone=true").json["items"]) == 2
    assert owner.delete(path, headers={"If-Match": '"v1"'}).status_code == 412
    assert owner.delete(path).status_code == 204
    assert owner.get(path).status_code == 404


def test_diff_deploy_with_a_note_and_move_the_running_cases(studio_api):
    from engine.archive import PrivacySettings, TalentArchive
    _, engine, caller, _ = studio_api
    owner = caller(OWNER)
    archive = TalentArchive(engine, settings=PrivacySettings(retention_days=180, renewal_days=30))
    cases = []
    for name in ("林一", "王二"):
        candidate = archive.create_candidate({"name": name}, actor=HR)
        cases.append(archive.record_decline(candidate.id, {"reason": "family"}, actor=ATS).instance_id)
        archive_decline(engine, cases[-1], reason="family")
    waiting, filling = cases
    wait(engine, days=31)
    send_follow_up(engine, waiting, "follow_up_day_30")          # waits at wait_day_90 (due 2026-04-05)

    draft = owner.post("/studio/drafts", json={"title": "day 60"}).json
    files = {**draft["files"], "offer_recall.bpmn": draft["files"]["offer_recall.bpmn"].replace(DAY_90, DAY_60)}
    forms = {**draft["forms"], "follow_up_day_30.schema.json": _with_required_field(
        draft["forms"]["follow_up_day_30.schema.json"])}
    path = f"/studio/drafts/{draft['id']}"
    assert owner.put(path, json={"files": files, "forms": forms}, headers={"If-Match": '"v1"'}).status_code == 200
    diff = owner.get(f"{path}/diff").json
    assert [c["id"] for c in diff["processes"]["offer_recall"]["changed"]] == ["wait_day_90"]
    assert diff["forms"]["changed"][0]["name"] == "follow_up_day_30.schema.json"

    missing = owner.post(f"{path}/deploy", json={})
    assert missing.status_code == 422 and _fields(missing) == {"note"}
    blank = owner.post(f"{path}/deploy", json={"note": "   "})
    assert blank.status_code == 422 and _fields(blank) == {"note"}
    deployed = owner.post(f"{path}/deploy", json={"note": "第 90 天提前到第 60 天 / day 60"})
    assert deployed.status_code == 201
    assert [v["version"] for v in deployed.json["versions"] if v["created"]] == [2]
    versions = owner.get("/process-definitions/offer_recall").json["versions"]
    assert [(v["version"], v["deployed_by"], v["note"]) for v in versions] == [
        (2, OWNER, "第 90 天提前到第 60 天 / day 60"), (1, "process.owner", None)]

    counts = owner.get("/workspace/diagrams/offer_recall/waiting?version=1").json
    assert counts["active_instances"] == 2 and counts["version"] == 1
    assert owner.get("/workspace/diagrams/offer_recall/waiting?version=2").json["active_instances"] == 0
    assert owner.get("/workspace/diagrams/offer_recall/waiting?version=9").status_code == 404

    plan = {"from_version": 1, "to_version": 2, "timers": "recompute"}
    assert caller(HR).post("/process-definitions/offer_recall/migrations", json=plan).status_code == 403
    assert owner.post("/process-definitions/offer_recall/migrations",
                      json={**plan, "timers": "later"}).status_code == 422
    migrations = "/process-definitions/offer_recall/migrations"
    for bad, field in (({**plan, "colour": "red"}, "colour"), ({**plan, "from_version": "one"}, "from_version"),
                       ({**plan, "instance_ids": ["x"] * 1001}, "instance_ids"),
                       ({**plan, "mapping": {"a": 5}}, "mapping.a.value"), ({"to_version": 2}, "from_version")):
        refused = owner.post(migrations, json=bad)
        assert refused.status_code == 422 and field in _fields(refused), (bad.keys(), refused.json)
    assert owner.post(migrations, json={**plan, "to_version": 1}).status_code == 409       # the same version
    assert owner.post(migrations, json={**plan, "to_version": 7}).status_code == 404
    assert owner.post("/process-definitions/nope/migrations", json=plan).status_code == 404
    dry = owner.post(migrations, json=plan)
    assert dry.status_code == 200 and dry.json["dry_run"] is True
    by_id = {c["instance_id"]: c for c in dry.json["cases"]}
    assert by_id[waiting]["movable"] and by_id[waiting]["timers"][0]["new_due_at"] == "2026-03-06T09:00:00+00:00"
    assert by_id[filling]["reasons"] == [
        "its open task follow_up_day_30 uses a form that changed incompatibly: the new required field 'manager_note'"]

    moved = owner.post("/process-definitions/offer_recall/migrations", json={**plan, "dry_run": False})
    assert {c["instance_id"]: c["outcome"] for c in moved.json["cases"]} == {waiting: "moved", filling: "refused"}
    listed = owner.get("/process-instances?process_key=offer_recall&version=2").json["items"]
    assert [i["id"] for i in listed] == [waiting]
    assert [i["id"] for i in owner.get("/process-instances?process_key=offer_recall&version=1").json["items"]] \
        == [filling]
    per_version = owner.get("/workspace/diagrams/offer_recall/waiting?version=2").json
    assert per_version["active_instances"] == 1
    assert {e["element_id"]: e["timers"] for e in per_version["elements"]}.get("wait_day_90") == 1
    again = owner.post("/process-definitions/offer_recall/migrations",
                       json={**plan, "dry_run": False, "instance_ids": [waiting]})
    assert again.json["cases"][0]["outcome"] == "already_moved"
    history = caller(ADMIN).get(f"/process-instances/{waiting}/history").json
    entries = history["items"] if isinstance(history, dict) else history
    assert [e["kind"] for e in entries].count("instance_migrated") == 1

    wait(engine, days=29, hours=1)                                  # 2026-03-06 10:00
    assert task(engine, waiting, "follow_up_day_90").created_at >= datetime(2026, 3, 6, 9, tzinfo=timezone.utc)
