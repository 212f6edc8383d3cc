"""Every error is application/problem+json with type, title, status, detail and errors."""
from __future__ import annotations

import logging

from tests.support import FIXTURES, PREFIX, REVIEW_YES, bearer, make_app, start_approval

PROBLEM_KEYS = {"type", "title", "status", "detail", "errors"}


def assert_problem(response, status, slug=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert PROBLEM_KEYS <= set(body) and body["status"] == status
    assert isinstance(body["errors"], list) and body["detail"]
    if slug:
        assert body["type"] == f"urn:offer-recall:problem:{slug}", body["type"]
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "SELECT" not in text and "sqlalchemy" not in text.lower()
    return body


def test_unknown_ids_are_404(as_user):
    admin = as_user("root")
    for path in ("/process-instances/nope", "/process-instances/nope/history", "/tasks/nope",
                 "/process-definitions/nope"):
        body = assert_problem(admin.get(path), 404, "not-found")
        assert "nope" in body["detail"]
    assert_problem(admin.post("/process-instances/nope/cancel", json={}), 404, "not-found")
    assert_problem(admin.get("/no-such-thing"), 404, "not-found")


def test_start_of_an_undeployed_process_is_404(as_user):
    body = assert_problem(as_user("ats").post("/process-instances", json={"process_key": "ghost"}), 404)
    assert "ghost" in body["detail"]


def test_malformed_json_is_400_with_where_it_broke(as_user):
    response = as_user("ats").post("/process-instances", data='{"process_key": ', content_type="application/json")
    body = assert_problem(response, 400, "bad-request")
    assert "not valid JSON" in body["detail"] and "line 1" in body["detail"]


def test_wrong_types_and_unknown_fields_are_422_one_entry_per_field(as_user):
    response = as_user("ats").post("/process-instances",
                                   json={"process_key": 7, "variables": [], "colour": "red"})
    body = assert_problem(response, 422, "validation-error")
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert set(fields) == {"process_key", "variables", "colour"}
    assert fields["colour"] == "Unknown field."
    assert all(e["in"] == "body" for e in body["errors"])


def test_bad_query_parameters_are_422(as_user):
    body = assert_problem(as_user("root").get("/tasks?limit=0&colour=red&status=lost"), 422)
    assert {(e["field"], e["in"]) for e in body["errors"]} == {("limit", "query"), ("colour", "query"),
                                                               ("status", "query")}


def test_a_body_that_is_not_json_is_415(as_user):
    response = as_user("ats").post("/messages", data="name=x", content_type="application/x-www-form-urlencoded")
    assert_problem(response, 415, "unsupported-media-type")


def test_wrong_method_is_405_with_allow(as_user):
    response = as_user("root").delete("/tasks")
    assert_problem(response, 405, "method-not-allowed")
    assert "GET" in response.headers["Allow"]


def test_oversized_body_is_413(database_url):
    app = make_app(database_url, RECALL_MAX_BODY_BYTES=4096)
    from engine.users import add_user
    _, token = add_user(app.extensions["recall"].engine.db, "ats", "integrator")
    big = {"process_key": "approval", "variables": {"blob": "x" * 5000}}
    response = app.test_client().post(f"{PREFIX}/process-instances", json=big, headers=bearer(token))
    body = assert_problem(response, 413, "body-too-large")
    assert "4096" in body["detail"]
    app.extensions["recall"].engine.db.dispose()


def test_form_errors_are_422_per_field_and_nothing_is_applied(as_user, engine):
    hr = as_user("hr.li")
    instance = start_approval(hr)
    task_id = instance["ready_tasks"][0]["id"]
    before = hr.get(f"/process-instances/{instance['id']}")
    response = hr.post(f"/tasks/{task_id}/complete", json={"data": {"decision": "maybe", "score": 11}})
    body = assert_problem(response, 422, "form-invalid")
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"decision", "reason", "score"}
    after = hr.get(f"/process-instances/{instance['id']}")
    assert after.headers["ETag"] == before.headers["ETag"]
    assert after.json["ready_tasks"][0]["id"] == task_id
    kinds = [e["kind"] for e in hr.get(f"/process-instances/{instance['id']}/history").json["items"]]
    assert "task_completed" not in kinds


def test_completing_twice_is_409(as_user):
    hr = as_user("hr.li")
    task_id = start_approval(hr)["ready_tasks"][0]["id"]
    assert hr.post(f"/tasks/{task_id}/complete", json={"data": REVIEW_YES}).status_code == 200
    body = assert_problem(hr.post(f"/tasks/{task_id}/complete", json={"data": REVIEW_YES}), 409, "task-not-ready")
    assert "completed" in body["detail"]


def test_invalid_state_is_409(as_user):
    admin = as_user("root")
    instance = start_approval(admin)
    assert_problem(admin.post(f"/process-instances/{instance['id']}/retry", json={}), 409, "invalid-state")
    assert admin.post(f"/process-instances/{instance['id']}/cancel", json={"reason": "test"}).status_code == 200
    assert_problem(admin.post(f"/process-instances/{instance['id']}/cancel", json={}), 409, "invalid-state")


def test_stale_if_match_is_412_and_a_malformed_one_too(as_user):
    hr = as_user("hr.li")
    task_id = start_approval(hr)["ready_tasks"][0]["id"]
    body = assert_problem(hr.post(f"/tasks/{task_id}/complete", json={"data": REVIEW_YES},
                                  headers={"If-Match": '"v0"'}), 412, "precondition-failed")
    assert "v0" in body["detail"]
    assert_problem(hr.post(f"/tasks/{task_id}/complete", json={"data": REVIEW_YES},
                           headers={"If-Match": "yesterday"}), 412)
    assert hr.get(f"/tasks/{task_id}").json["status"] == "ready"


def test_message_without_correlation_is_422(as_user):
    body = assert_problem(as_user("ats").post("/messages", json={"name": "candidate_replied"}), 422,
                          "message-not-routable")
    assert "candidate_id" in body["detail"]


def test_invalid_bundle_is_422_with_file_line_element_diagnostics(as_user):
    bad = FIXTURES / "bundles" / "unquoted_timer" / "workflows"
    files = {f"workflows/{p.name}": p.read_text() for p in bad.glob("*.bpmn")}
    body = assert_problem(as_user("owner").post("/process-definitions", json={"files": files}), 422,
                          "bundle-invalid")
    assert body["diagnostics"] and body["errors"]
    first = body["diagnostics"][0]
    assert first["file"].startswith("workflows/") and first["line"] and first["element_id"]
    assert body["errors"][0]["field"] == f"{first['file']}:{first['line']}:{first['element_id']}"


def test_unsafe_bundle_paths_are_422_per_file(as_user):
    files = {"../evil.bpmn": "<x/>", "/etc/passwd.bpmn": "<x/>", "notes.txt": "hi", "approval.bpmn": "<x/>"}
    body = assert_problem(as_user("owner").post("/process-definitions", json={"files": files}), 422)
    assert {e["field"] for e in body["errors"]} == {"files.../evil.bpmn", "files./etc/passwd.bpmn",
                                                    "files.notes.txt"}


def test_someone_elses_task_is_404_like_a_missing_one(as_user, client, tokens):
    """A task you may not see answers as one that does not exist (issue 12.12: no existence oracle)."""
    hr = as_user("hr.li")
    task_id = start_approval(hr)["ready_tasks"][0]["id"]
    assert hr.post(f"/tasks/{task_id}/claim").json["assignee"] == "hr.li"
    other = client.post(f"{PREFIX}/tasks/{task_id}/complete", json={"data": REVIEW_YES},
                        headers=bearer(tokens["hr.wang"]))
    assert assert_problem(other, 404, "not-found")["detail"] == f"no task {task_id}"
    refused = client.post(f"{PREFIX}/tasks/{task_id}/complete", json={"data": REVIEW_YES},
                          headers=bearer(tokens["ats"]))
    assert_problem(refused, 403, "forbidden")       # a role refused outright, whatever the id


def test_engine_not_assignee_maps_to_403(app):
    from api.problems import from_engine_error
    from engine.errors import NotAssignee
    with app.test_request_context():
        response = from_engine_error(NotAssignee("task t is assigned to mgr"))
    assert response.status_code == 403 and response.json["type"].endswith(":not-assignee")


def test_unexpected_errors_are_a_generic_500_with_a_logged_id(as_user, engine, monkeypatch, caplog):
    def broken(*_args, **_kwargs):
        raise RuntimeError("SELECT * FROM secrets WHERE password = 'hunter2'")
    monkeypatch.setattr(engine, "get_instance", broken)
    with caplog.at_level(logging.ERROR, logger="recall.api"):
        response = as_user("root").get("/process-instances/any")
    body = assert_problem(response, 500, "internal-error")
    assert "hunter2" not in response.get_data(as_text=True)
    assert body["error_id"] in body["detail"]
    assert any(body["error_id"] in r.getMessage() and r.exc_info for r in caplog.records)


def test_health_is_503_when_the_database_is_down(client, engine, monkeypatch):
    from sqlalchemy.exc import OperationalError

    def down():
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))
    monkeypatch.setattr(engine.db, "ping", down)
    response = client.get(f"{PREFIX}/health")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unreachable", "clock": "simulated"}
    assert "SELECT" not in response.get_data(as_text=True)
