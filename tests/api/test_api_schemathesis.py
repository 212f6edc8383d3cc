"""Property-based run of schemathesis against /api/v1/openapi.json (in-process WSGI).

A bounded number of generated requests per operation, valid and invalid ones; every
answer must be no server error and match what the document declares (status, content
type, schema, headers). Uses schemathesis as a library (hypothesis strategies per
operation) rather than its pytest plugin.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_headers_conformance, response_schema_conformance,
    status_code_conformance,
)

from conftest import PREFIX, add_people, make_app
from support import ENGINE_BUNDLE

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
EXAMPLES = {GenerationMode.POSITIVE: 12, GenerationMode.NEGATIVE: 6}
OPERATIONS = [
    ("GET", "/health"), ("GET", "/process-definitions"), ("POST", "/process-definitions"),
    ("GET", "/process-definitions/{process_key}"), ("POST", "/process-instances"), ("GET", "/process-instances"),
    ("GET", "/process-instances/{instance_id}"), ("GET", "/process-instances/{instance_id}/history"),
    ("POST", "/process-instances/{instance_id}/cancel"), ("POST", "/process-instances/{instance_id}/retry"),
    ("GET", "/tasks"), ("GET", "/tasks/{task_id}"), ("POST", "/tasks/{task_id}/claim"),
    ("POST", "/tasks/{task_id}/complete"), ("POST", "/messages"), ("GET", "/testing/clock"),
    ("POST", "/testing/clock"),
    ("GET", "/workspace/me"), ("GET", "/workspace/inbox"), ("GET", "/workspace/diagrams/{process_key}"),
    ("GET", "/workspace/diagrams/{process_key}/waiting"),
    ("GET", "/candidates"), ("POST", "/candidates"), ("GET", "/candidates/{candidate_id}"),
    ("PATCH", "/candidates/{candidate_id}"), ("DELETE", "/candidates/{candidate_id}"),
    ("POST", "/candidates/{candidate_id}/declines"), ("POST", "/candidates/{candidate_id}/signals"),
    ("GET", "/analytics/funnel"),
    ("GET", "/metrics"),
]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    from engine.db import Database
    from engine.migrate import upgrade

    url = f"sqlite:///{tmp_path_factory.mktemp('schemathesis') / 'recall.sqlite3'}"
    database = Database(url)
    upgrade(database)
    database.dispose()
    app = make_app(url)
    engine = app.extensions["recall"].engine
    engine.deploy([ENGINE_BUNDLE])
    token = add_people(engine)["root"]
    # something real to find: an instance with a ready task
    engine.start_instance("approval", variables={"candidate_id": "c-1"}, actor="root")
    yield schemathesis.openapi.from_wsgi(f"{PREFIX}/openapi.json", app), token
    engine.db.dispose()


def test_every_operation_is_fuzzed(fuzzed):
    schema, _ = fuzzed
    listed = {(op.ok().method.upper(), op.ok().path[len(PREFIX):]) for op in schema.get_all_operations()}
    assert listed == set(OPERATIONS)


NO_INPUT = {("GET", "/health"), ("GET", "/testing/clock"), ("GET", "/metrics")}    # nothing to make invalid
CASES = [(m, p, mode) for m, p in OPERATIONS for mode in EXAMPLES
         if not (mode is GenerationMode.NEGATIVE and (m, p) in NO_INPUT)]


@pytest.mark.parametrize("method,path,mode", CASES, ids=[f"{m} {p} {mode}" for m, p, mode in CASES])
def test_operation_matches_its_openapi_document(fuzzed, method, path, mode):
    schema, token = fuzzed
    operation = schema[PREFIX + path][method]
    auth = {"Authorization": f"Bearer {token}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES[mode], deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(case):
        case.call_and_validate(headers=auth, checks=CHECKS)

    run()
