"""Instances, messages, simulated time and definitions over HTTP."""
from __future__ import annotations

import io

from tests.support import ENGINE_BUNDLE, PREFIX, REVIEW_YES, bearer, make_app, script_process, start_approval

INSTANCE_FIELDS = {"id", "process_key", "version", "business_key", "status", "end_event", "ready_tasks",
                   "waiting_timers", "waiting_messages", "error"}


def test_start_and_read_an_instance(as_user):
    ats = as_user("ats")
    response = ats.post("/process-instances", json={"process_key": "approval", "business_key": "cand-1",
                                                     "variables": {"candidate_id": "c-1"}})
    assert response.status_code == 201
    body = response.json
    assert INSTANCE_FIELDS <= set(body)
    assert (body["status"], body["version"], body["business_key"]) == ("running", 1, "cand-1")
    assert response.headers["Location"] == f"{PREFIX}/process-instances/{body['id']}"
    read = ats.get(f"/process-instances/{body['id']}")
    assert read.json == body and read.headers["ETag"] == response.headers["ETag"] == '"v1"'


def test_waiting_timers_and_messages_show_on_the_instance(as_user):
    hr = as_user("hr.li")
    instance = start_approval(hr, "c-3")
    done = hr.post(f"/tasks/{instance['ready_tasks'][0]['id']}/complete", json={"data": REVIEW_YES})
    assert done.json["status"] == "waiting" and done.json["ready_tasks"] == []
    [timer] = done.json["waiting_timers"]
    assert timer["element_id"] == "wait_day_30" and timer["due_at"] == "2026-02-04T09:00:00+00:00"


def test_list_filters_and_pages(as_user):
    hr = as_user("hr.li")
    ids = [start_approval(hr, f"c-{n}", business_key=f"b-{n % 2}")["id"] for n in range(5)]
    admin = as_user("root")
    assert {i["id"] for i in admin.get("/process-instances?business_key=b-0").json["items"]} == set(ids[0::2])
    assert len(admin.get("/process-instances?process_key=approval&status=running").json["items"]) == 5
    assert admin.get("/process-instances?status=completed").json["items"] == []
    summary = admin.get("/process-instances?limit=1").json["items"][0]
    assert "ready_tasks" not in summary and {"id", "status", "process_key", "version"} <= set(summary)
    seen, url = [], "/process-instances?limit=2&process_key=approval"
    while url:
        page = admin.get(url).json
        seen += [i["id"] for i in page["items"]]
        url = page["next"][len(PREFIX):] if page["next"] else None
        assert url is None or "process_key=approval" in url
    assert seen == [i["id"] for i in admin.get("/process-instances").json["items"]] and len(seen) == 5


def test_history_cancel_and_if_match(as_user):
    hr = as_user("hr.li")
    instance = start_approval(hr)
    stale = hr.post(f"/process-instances/{instance['id']}/cancel", json={"reason": "dup"},
                    headers={"If-Match": '"v7"'})
    assert stale.status_code == 412
    cancelled = hr.post(f"/process-instances/{instance['id']}/cancel", json={"reason": "duplicate"},
                        headers={"If-Match": '"v1"'})
    assert cancelled.status_code == 200 and cancelled.json["status"] == "cancelled"
    history = hr.get(f"/process-instances/{instance['id']}/history?limit=100").json
    kinds = [e["kind"] for e in history["items"]]
    assert kinds[0] == "instance_started" and "instance_cancelled" in kinds
    assert all(e["actor"] == "hr.li" for e in history["items"] if e["kind"] in kinds[:1] + ["instance_cancelled"])
    assert [e["id"] for e in hr.get(f"/process-instances/{instance['id']}/history?limit=1&offset=1").json["items"]] \
        == [history["items"][1]["id"]]


def test_retry_an_instance_in_error_with_corrected_data(as_user, tmp_path):
    owner = as_user("owner")
    xml = script_process("divide", "share = total / parts")
    files = {"workflows/divide.bpmn": xml,
             "forms/check.schema.json": '{"type": "object", "properties": {"note": {"type": "string"}}}'}
    assert owner.post("/process-definitions", json={"files": files}).status_code == 201
    broken = owner.post("/process-instances", json={"process_key": "divide", "variables": {"total": 10, "parts": 0}})
    assert broken.json["status"] == "error" and "division" in broken.json["error"]["message"]
    fixed = owner.post(f"/process-instances/{broken.json['id']}/retry", json={"data": {"parts": 2}})
    assert fixed.status_code == 200 and fixed.json["status"] == "running" and fixed.json["error"] is None


def test_messages_are_delivered_by_correlation_or_buffered(as_user):
    hr = as_user("hr.li")
    instance = start_approval(hr, "c-9")
    hr.post(f"/tasks/{instance['ready_tasks'][0]['id']}/complete", json={"data": REVIEW_YES})
    as_user("root").post("/testing/clock", json={"advance": "P31D"})
    follow_up = as_user("mgr").get("/tasks").json["items"][0]
    waiting = as_user("mgr").post(f"/tasks/{follow_up['id']}/complete", json={"data": {"message_sent": "hi"}}).json
    assert waiting["waiting_messages"] == [{"name": "candidate_replied", "correlation": {"candidate_id": "c-9"},
                                            "element_id": "wait_reply"}]
    ats = as_user("ats")
    # A candidate nobody knows is refused (issue 13.8); one whose case does not wait yet is kept for later.
    nobody = ats.post("/messages", json={"name": "candidate_replied", "correlation": {"candidate_id": "c-nobody"}})
    assert nobody.status_code == 422 and nobody.json["errors"][0]["field"] == "correlation.candidate_id"
    start_approval(hr, "c-10")
    early = ats.post("/messages", json={"name": "candidate_replied", "correlation": {"candidate_id": "c-10"}})
    assert early.status_code == 202 and early.json["status"] == "buffered" and early.json["buffered_id"]
    assert early.json["delivered_to"] == [] and early.json["expires_at"]
    delivered = ats.post("/messages", json={"name": "candidate_replied", "correlation": {"candidate_id": "c-9"},
                                            "payload": {"text": "yes, call me"}})
    assert delivered.status_code == 200 and delivered.json["delivered_to"] == [instance["id"]]
    final = ats.get(f"/process-instances/{instance['id']}").json
    assert (final["status"], final["end_event"]) == ("completed", "end_done")


def test_testing_clock_adds_months_as_the_timers_do(as_user):
    """One month from 31 January is 3 March for the timers (engine/scripting.add_iso_duration): the
    simulated clock agrees, so advancing it "P1M" reaches what a timer "P1M" after now is due."""
    admin = as_user("root")
    admin.post("/testing/clock", json={"set": "2026-01-31T09:00:00+00:00"})
    assert admin.post("/testing/clock", json={"advance": "P1M"}).json["now"] == "2026-03-03T09:00:00+00:00"
    refused = admin.post("/testing/clock", json={"advance": "P1X"})
    assert refused.status_code == 422 and "P1X" in refused.text


def test_testing_clock_reads_advances_and_sets(as_user):
    admin = as_user("root")
    assert admin.get("/testing/clock").json == {"now": "2026-01-05T09:00:00+00:00", "simulated": True}
    moved = admin.post("/testing/clock", json={"advance": "P1M2DT3H"}).json
    assert moved["now"] == "2026-02-07T12:00:00+00:00" and moved["fired"] == 0
    assert admin.post("/testing/clock", json={"set": "2026-03-01T08:00:00+08:00"}).json["now"] == \
        "2026-03-01T00:00:00+00:00"
    for bad in ({"advance": "31 days"}, {"set": "2026-01-01T00:00:00+00:00"}, {"set": "2026-05-01T00:00:00"},
                {}, {"advance": "P1D", "set": "2027-01-01T00:00:00Z"}):
        response = admin.post("/testing/clock", json=bad)
        assert response.status_code == 422, (bad, response.json)
        assert response.mimetype == "application/problem+json" and response.json["errors"]


def test_testing_clock_does_not_exist_on_the_system_clock(database_url):
    app = make_app(database_url, RECALL_CLOCK="system")
    from engine.users import add_user
    _, token = add_user(app.extensions["recall"].engine.db, "root", "admin")
    client = app.test_client()
    for method in ("get", "post"):
        response = getattr(client, method)(f"{PREFIX}/testing/clock", headers=bearer(token))
        assert response.status_code == 404 and response.mimetype == "application/problem+json"
    assert "/api/v1/testing/clock" not in client.get(f"{PREFIX}/openapi.json").json["paths"]
    app.extensions["recall"].engine.db.dispose()


def test_definitions_list_detail_and_deploy(as_user):
    owner = as_user("owner")
    listing = owner.get("/process-definitions").json
    assert [d["process_key"] for d in listing["items"]] == ["approval"] and listing["next"] is None
    detail = owner.get("/process-definitions/approval").json
    assert detail["latest_version"] == 1 and detail["files"] == ["workflows/approval.bpmn"]
    assert set(detail["forms"]) == {"review.schema.json", "review.uischema.json", "follow_up.schema.json"}
    # the same bundle again, as multipart: no new version (200); changed: version 2 (201)
    forms = ENGINE_BUNDLE.parent / "forms"
    parts = {"files": [(io.BytesIO((ENGINE_BUNDLE / "approval.bpmn").read_bytes()), "workflows/approval.bpmn")]
             + [(io.BytesIO(p.read_bytes()), f"forms/{p.name}") for p in sorted(forms.glob("*.json"))]}
    same = owner.post("/process-definitions", data=parts, content_type="multipart/form-data")
    assert same.status_code == 200, same.json
    assert same.json["versions"][0] | {"content_hash": None} == {"process_key": "approval", "version": 1,
                                                                 "created": False, "content_hash": None}
    changed = (ENGINE_BUNDLE / "approval.bpmn").read_text().replace('"P30D"', '"P45D"')
    files = {"approval.bpmn": changed, **{p.name: p.read_text() for p in forms.glob("*.json")}}
    deployed = owner.post("/process-definitions", json={"files": files})
    assert deployed.status_code == 201 and deployed.json["versions"][0]["version"] == 2
    assert [v["version"] for v in owner.get("/process-definitions/approval").json["versions"]] == [2, 1]
    assert as_user("hr.li").post("/process-definitions", json={"files": files}).status_code == 403
