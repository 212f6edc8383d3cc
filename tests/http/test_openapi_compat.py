"""The OpenAPI document as a contract (issue 16): no breaking change against the released document
(docs/openapi-released.json), the checker itself on small hand-made documents, what the finished
document promises (operationIds, roles, problem+json errors, headers, examples, open response
schemas, internal operations left out), and a typed client generated from it that talks to a real
`recall serve` (SQLite and PostgreSQL)."""
from __future__ import annotations

import copy
import json
import time

import pytest

from api.contract import EXAMPLES, OPERATION_IDS, operation_id
from api.permissions import PERMISSIONS, _Public
from tests.http.openapi_compat import RELEASED, breaking_changes, current_document, operations
from tests.servers import Server, add_user, migrated_database
from tests.support import PREFIX

METHODS = ("get", "put", "post", "patch", "delete")


@pytest.fixture(scope="module")
def document():
    return current_document()


def test_no_breaking_change_against_the_released_document(document):
    released = json.loads(RELEASED.read_text())
    found = breaking_changes(released, document)
    assert not found, ("breaking change(s) against docs/openapi-released.json — keep the old shape, or see "
                       "docs/api.md 'Compatibility and deprecation':\n  " + "\n  ".join(found))


def test_the_released_document_is_valid_and_public():
    from openapi_spec_validator import validate
    released = json.loads(RELEASED.read_text())
    validate(released)
    assert not [path for path in released["paths"] if path.startswith((f"{PREFIX}/workspace", f"{PREFIX}/testing"))]


# ---- the checker on hand-made documents ------------------------------------------------------
BASE = {
    "openapi": "3.0.3", "info": {"title": "t", "version": "1"},
    "paths": {
        "/things": {
            "get": {"operationId": "listThings",
                    "parameters": [{"in": "query", "name": "q", "required": False, "schema": {"type": "string"}}],
                    "responses": {"200": {"description": "ok", "content": {"application/json": {
                        "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Thing"}}}}}}},
            "post": {"operationId": "createThing",
                     "requestBody": {"required": True, "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/ThingIn"}}}},
                     "responses": {"201": {"description": "created", "content": {"application/json": {
                         "schema": {"$ref": "#/components/schemas/Thing"}}}}}},
        },
    },
    "components": {"schemas": {
        "Thing": {"type": "object", "required": ["id", "status"], "properties": {
            "id": {"type": "string"}, "status": {"type": "string", "enum": ["open", "closed"]},
            "size": {"type": "integer"}, "seen_at": {"type": "string", "format": "date-time"},
            "tags": {"type": "array", "items": {"type": "string"}}}},
        "ThingIn": {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
            "name": {"type": "string"}, "colour": {"type": "string", "enum": ["red", "blue"]},
            "note": {"type": "string", "nullable": True}}},
    }},
}


def _changed(edit) -> list[str]:
    new = copy.deepcopy(BASE)
    edit(new)
    return breaking_changes(BASE, new)


def _thing(doc):
    return doc["components"]["schemas"]["Thing"]


def _thing_in(doc):
    return doc["components"]["schemas"]["ThingIn"]


BREAKING = {
    "operation removed": lambda d: d["paths"]["/things"].pop("post"),
    "operationId changed": lambda d: d["paths"]["/things"]["get"].update(operationId="getThings"),
    "parameter made required": lambda d: d["paths"]["/things"]["get"]["parameters"][0].update(required=True),
    "parameter added as required": lambda d: d["paths"]["/things"]["get"]["parameters"].append(
        {"in": "query", "name": "page", "required": True, "schema": {"type": "integer"}}),
    "parameter removed": lambda d: d["paths"]["/things"]["get"].update(parameters=[]),
    "parameter type changed": lambda d: d["paths"]["/things"]["get"]["parameters"][0].update(
        schema={"type": "integer"}),
    "required request field added": lambda d: (_thing_in(d)["properties"].update(size={"type": "integer"}),
                                               _thing_in(d)["required"].append("size")),
    "request field made required": lambda d: _thing_in(d)["required"].append("colour"),
    "request field removed": lambda d: _thing_in(d)["properties"].pop("colour"),
    "request enum value removed": lambda d: _thing_in(d)["properties"]["colour"].update(enum=["red"]),
    "request null refused": lambda d: _thing_in(d)["properties"]["note"].pop("nullable"),
    "response field removed": lambda d: _thing(d)["properties"].pop("size"),
    "response field no longer required": lambda d: _thing(d)["required"].remove("status"),
    "response type changed": lambda d: _thing(d)["properties"]["size"].update(type="string"),
    "response format changed": lambda d: _thing(d)["properties"]["seen_at"].update(format="date"),
    "response items type changed": lambda d: _thing(d)["properties"]["tags"]["items"].update(type="integer"),
    "response enum value removed": lambda d: _thing(d)["properties"]["status"].update(enum=["open"]),
    "response field may be null": lambda d: _thing(d)["properties"]["id"].update(nullable=True),
    "success status removed": lambda d: d["paths"]["/things"]["post"]["responses"].update(
        {"200": d["paths"]["/things"]["post"]["responses"].pop("201")}),
    "response media type removed": lambda d: d["paths"]["/things"]["get"]["responses"]["200"].update(
        content={"text/csv": {"schema": {"type": "string"}}}),
}


@pytest.mark.parametrize("rule", sorted(BREAKING))
def test_the_checker_finds_each_kind_of_breaking_change(rule):
    found = _changed(BREAKING[rule])
    assert found, f"{rule}: not reported"
    assert all(line.startswith(("GET /things", "POST /things")) for line in found), found


def test_the_checker_names_where_and_what():
    assert _changed(BREAKING["response field removed"]) == ["GET /things: response 200[]: field size removed",
                                                            "POST /things: response 201: field size removed"]
    assert _changed(BREAKING["request field made required"]) == ["POST /things: request: field colour made required"]
    assert _changed(BREAKING["response items type changed"]) == [
        "GET /things: response 200[].tags[]: type changed from string to integer",
        "POST /things: response 201.tags[]: type changed from string to integer"]


ADDITIONS = {
    "operation added": lambda d: d["paths"].update({"/other": copy.deepcopy(d["paths"]["/things"])}),
    "optional parameter added": lambda d: d["paths"]["/things"]["get"]["parameters"].append(
        {"in": "query", "name": "sort", "required": False, "schema": {"type": "string"}}),
    "optional request field added": lambda d: _thing_in(d)["properties"].update(size={"type": "integer"}),
    "request enum value added": lambda d: _thing_in(d)["properties"]["colour"]["enum"].append("green"),
    "response field added": lambda d: (_thing(d)["properties"].update(owner={"type": "string"}),
                                       _thing(d)["required"].append("owner")),
    "response enum value added": lambda d: _thing(d)["properties"]["status"]["enum"].append("archived"),
    "response status added": lambda d: d["paths"]["/things"]["get"]["responses"].update(
        {"304": {"description": "not modified"}}),
    "request field made optional": lambda d: _thing_in(d)["required"].remove("name"),
    "schema renamed (same shape)": lambda d: (d["components"]["schemas"].update(Item=_thing(d)),
                                              d["paths"]["/things"]["post"]["responses"]["201"]["content"][
                                                  "application/json"]["schema"].update(
                                                  {"$ref": "#/components/schemas/Item"})),
    "response schema opened": lambda d: _thing(d).update(additionalProperties=True),
}


@pytest.mark.parametrize("change", sorted(ADDITIONS))
def test_additions_pass(change):
    assert _changed(ADDITIONS[change]) == []


def test_a_recursive_schema_does_not_loop():
    doc = copy.deepcopy(BASE)
    _thing(doc)["properties"]["parent"] = {"$ref": "#/components/schemas/Thing"}
    new = copy.deepcopy(doc)
    _thing(new)["properties"].pop("size")
    assert breaking_changes(doc, new) == ["GET /things: response 200[]: field size removed",
                                          "POST /things: response 201: field size removed"]     # once, not for ever


# ---- what the finished document promises ----------------------------------------------------
def test_every_operation_has_a_stable_unique_operation_id_and_its_roles(document):
    ops = operations(document)
    ids = [op["operationId"] for op in ops.values()]
    assert len(ids) == len(set(ids)) and all(ids)
    for key, op in ops.items():
        method, path = key.split(" ", 1)
        table_key = f"{method} {path[len(PREFIX):]}"
        roles = PERMISSIONS[table_key]
        assert op["operationId"] == operation_id(table_key), key
        if isinstance(roles, _Public):
            assert op["x-roles"] == [] and op["security"] == [] and "Public" in op["description"], key
        else:
            assert op["x-roles"] == sorted(roles), key
            assert ("Roles: " in op["description"]) and all(r in op["description"] for r in roles), key
    assert ops[f"GET {PREFIX}/events"]["x-roles"] == ["admin", "integrator"]
    assert ops[f"POST {PREFIX}/tasks/{{task_id}}/complete"]["operationId"] == "completeTask"
    assert set(OPERATION_IDS) <= set(PERMISSIONS)      # no row for a route that is gone


def test_a_route_without_a_row_gets_an_id_from_its_method_and_path():
    assert operation_id("GET /tasks") == "listTasks"
    assert operation_id("POST /candidates/{candidate_id}/notes") == "postCandidatesByCandidateIdNotes"
    assert operation_id("GET /process-instances/{instance_id}/timeline") == "getProcessInstancesByInstanceIdTimeline"


def test_errors_are_documented_as_problem_json_where_they_can_happen(document):
    ops = operations(document)
    answers = document["components"]["responses"]
    for status, name in (("401", "Unauthorized"), ("403", "Forbidden"), ("404", "NotFound"), ("409", "Conflict"),
                         ("412", "PreconditionFailed"), ("413", "ContentTooLarge"), ("422", "UnprocessableContent"),
                         ("429", "TooManyRequests")):
        assert list(answers[name]["content"]) == ["application/problem+json"], name
    assert "urn:offer-recall:problem:stale-version" in answers["Conflict"]["description"]
    assert "Retry-After" in answers["TooManyRequests"]["headers"]
    complete = ops[f"POST {PREFIX}/tasks/{{task_id}}/complete"]["responses"]
    assert {"401", "403", "404", "409", "412", "413", "422", "429"} <= set(complete)
    assert complete["412"] == {"$ref": "#/components/responses/PreconditionFailed"}
    health = ops[f"GET {PREFIX}/health"]["responses"]
    assert not {"401", "403", "404", "429"} & set(health)
    assert "401" in ops[f"GET {PREFIX}/events"]["responses"] and "404" not in ops[f"GET {PREFIX}/events"]["responses"]
    for key, op in ops.items():
        if op["x-roles"]:
            assert {"401", "429"} <= set(op["responses"]), key


def test_request_id_and_idempotency_headers_are_documented(document):
    ops = operations(document)
    assert "X-Request-Id" in document["components"]["headers"]
    start = ops[f"POST {PREFIX}/process-instances"]
    assert "Idempotency-Key" in {p["name"] for p in start["parameters"]}
    assert start["responses"]["201"]["headers"]["Idempotent-Replayed"] == {
        "$ref": "#/components/headers/Idempotent-Replayed"}
    for key, op in ops.items():
        for status, answer in op["responses"].items():
            target = answer
            if "$ref" in answer:
                target = document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
            assert "X-Request-Id" in target.get("headers", {}), (key, status)


def _schemas_under(document, node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in found:
                found.add(name)
                _schemas_under(document, document["components"]["schemas"][name], found)
        for value in node.values():
            _schemas_under(document, value, found)
    elif isinstance(node, list):
        for value in node:
            _schemas_under(document, value, found)
    return found


def test_response_schemas_do_not_forbid_added_fields_request_bodies_stay_strict(document):
    responses, requests = set(), set()
    for op in operations(document).values():
        _schemas_under(document, op["responses"], responses)
        _schemas_under(document, op.get("requestBody", {}), requests)
    _schemas_under(document, document["components"]["responses"], responses)
    assert {"Task", "Instance", "Candidate", "FeedPage", "Problem"} <= responses
    text = json.dumps([document["components"]["schemas"][name] for name in responses])
    assert '"additionalProperties": false' not in text
    assert document["components"]["schemas"]["StartInstance"]["additionalProperties"] is False
    assert document["components"]["schemas"]["CandidateIn"]["additionalProperties"] is False


def test_the_examples_match_their_schemas(document):
    from openapi_schema_validator import OAS30Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    registry = Registry().with_resource("urn:doc", Resource.from_contents(document, default_specification=DRAFT4))
    seen = set()
    for key, op in operations(document).items():
        media = op.get("requestBody", {}).get("content", {}).get("application/json", {})
        if "example" not in media:
            continue
        seen.add(key.split(" ", 1)[0] + " " + key.split(" ", 1)[1][len(PREFIX):])
        schema = media["schema"]
        validator = OAS30Validator({"$ref": "urn:doc" + schema["$ref"]} if "$ref" in schema else schema,
                                   registry=registry)
        assert [e.message for e in validator.iter_errors(media["example"])] == [], key
    assert seen == set(EXAMPLES)


def test_the_examples_work(api):
    """The candidate and decline examples, sent as they are, record a decline that starts a case."""
    _, _, caller = api
    hr = caller("hr.li")
    created = hr.post("/candidates", json=EXAMPLES["POST /candidates"])
    assert created.status_code == 201, created.json
    decline = hr.post(f"/candidates/{created.json['id']}/declines",
                      json=EXAMPLES["POST /candidates/{candidate_id}/declines"])
    assert decline.status_code == 201 and decline.json["instance_id"], decline.json


def test_the_public_document_leaves_out_the_workspace_and_the_clock(api):
    app, _, _ = api
    client = app.test_client()
    public = client.get(f"{PREFIX}/openapi.json").json
    internal = client.get(f"{PREFIX}/openapi.json?internal=true").json
    assert not [p for p in public["paths"] if p.startswith((f"{PREFIX}/workspace/", f"{PREFIX}/testing/"))]
    assert f"{PREFIX}/workspace/inbox" in internal["paths"] and f"{PREFIX}/testing/clock" in internal["paths"]
    assert internal["paths"][f"{PREFIX}/workspace/inbox"]["get"]["operationId"] == "getWorkspaceInbox"
    assert "Inbox" in internal["components"]["schemas"] and "Inbox" not in public["components"]["schemas"]
    assert set(public["paths"]) < set(internal["paths"])


# ---- a typed client generated from the document --------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_generated_client_calls_a_real_server(kind, tmp_path, generated_client):
    """openapi-python-client (the test extras) generates a typed client from the public document;
    it reads /health and the event feed of a real `recall serve`, a case started by the same client."""
    opened = []
    try:
        client_module = generated_client.package
        health = generated_client.op("health.get_health")
        list_events = generated_client.op("events.list_events")
        start = generated_client.op("process_instances.start_process_instance")
        models = generated_client.models
        with migrated_database(kind, tmp_path) as url:
            from engine.db import Database
            from engine.service import RecallEngine
            from tests.support import ENGINE_BUNDLE
            engine = RecallEngine(Database(url))
            engine.deploy([ENGINE_BUNDLE], actor="owner")
            engine.db.dispose()
            token = add_user(url, "ats", "integrator")
            with Server(url, tmp_path / "serve.log") as server:
                base = server.base[: -len(PREFIX)]
                anonymous = client_module.Client(base_url=base)
                opened.append(anonymous)
                answer = health.sync(client=anonymous)
                assert isinstance(answer, models.Health) and answer.status == "ok"
                ats = client_module.AuthenticatedClient(base_url=base, token=token)
                opened.append(ats)
                body = models.StartInstance.from_dict({"process_key": "approval",
                                                       "variables": {"candidate_id": "c-1"}})
                started = start.sync_detailed(client=ats, body=body, idempotency_key="gen-client-1")
                assert started.status_code == 201, started.content
                assert started.parsed.status.value in ("running", "waiting")
                deadline = time.monotonic() + 15      # PostgreSQL serves an event once no older transaction is open
                while True:
                    page = list_events.sync(client=ats)
                    assert isinstance(page, models.FeedPage), page
                    kinds = [event.kind for event in page.events]
                    if "case.started" in kinds or time.monotonic() > deadline:
                        break
                    time.sleep(0.2)
                assert "case.started" in kinds, kinds
                # a field the document does not know yet is kept, not refused (open response schemas)
                assert models.Health.from_dict({"status": "ok", "database": "ok", "clock": "system", "added_later": 1}) \
                    .additional_properties == {"added_later": 1}
                refused = list_events.sync_detailed(client=anonymous)
                assert refused.status_code == 401 and refused.parsed.type_.endswith(":unauthorized")
    finally:
        for client in opened:
            client.get_httpx_client().close()
