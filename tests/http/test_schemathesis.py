"""Property-based run of schemathesis against /api/v1/openapi.json?internal=true (the public document
plus the web workspace's views and the simulated clock; in-process WSGI), on SQLite and PostgreSQL.

Every operation of the document (the permission table lists them all; a test checks that the
two agree) is fuzzed as every role — admin, process owner, HR, manager, integrator — and with
no token, with valid and invalid input (schemathesis' positive and negative generation mixed, and
hostile values it rarely makes itself: NUL, lone surrogates, huge integers, extreme dates,
deep JSON), half of the cases aimed at ids that exist (a candidate, a case, a ready task, a process). No
answer may be a server error, and every answer must match what the document declares (status,
content type, schema, headers). The example count is bounded so that both databases take
about two minutes together (RECALL_FUZZ_EXAMPLES raises it for a longer run).
"""
from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance, response_headers_conformance, response_schema_conformance,
    status_code_conformance,
)

from api.permissions import PERMISSIONS
from tests.servers import migrated_database
from tests.support import ENGINE_BUNDLE, PREFIX, ROOT, add_people, make_app

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
EXAMPLES = int(os.environ.get("RECALL_FUZZ_EXAMPLES", "8"))
NOT_IN_THE_DOCUMENT = {"GET /openapi.json", "GET /docs", "GET /docs/static/{filename}"}
OPERATIONS = sorted(tuple(key.split(" ", 1)) for key in PERMISSIONS if key not in NOT_IN_THE_DOCUMENT)

@schemathesis.serializer("message/rfc822")
def _raw_mail(ctx, value):
    """A mail pushed to POST /channels/email/inbound: whatever was generated, as the raw bytes sent."""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return (value if isinstance(value, str) else repr(value)).encode("utf-8", "surrogatepass")

# one user per role (PEOPLE in tests/support.py), and nobody
ROLES = {"admin": "root", "process_owner": "owner", "hr": "hr.li", "manager": "mgr", "integrator": "ats",
         "anonymous": None}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzzed(request, tmp_path_factory):
    """(schema, tokens by role, ids that exist) on a database with both bundles deployed and a case or two."""
    with migrated_database(request.param, tmp_path_factory.mktemp("schemathesis")) as url:
        app = make_app(url)
        engine = app.extensions["recall"].engine
        try:
            engine.deploy([ENGINE_BUNDLE])
            engine.deploy([ROOT / "workflows"])
            people = add_people(engine)
            tokens = {role: (people[name] if name else None) for role, name in ROLES.items()}
            client = app.test_client()
            hr = {"Authorization": f"Bearer {tokens['hr']}"}
            candidate = client.post(f"{PREFIX}/candidates", json={"name": "张三", "phone": "13800000000"}, headers=hr)
            assert candidate.status_code == 201, candidate.get_json()
            candidate_id = candidate.get_json()["id"]
            decline = client.post(f"{PREFIX}/candidates/{candidate_id}/declines",
                                  json={"reason": "salary", "hiring_manager": "mgr"}, headers=hr)
            assert decline.status_code == 201, decline.get_json()
            approval = engine.start_instance("approval", variables={"candidate_id": "c-1"}, actor="root")
            known = {"candidate_id": candidate_id, "instance_id": decline.get_json()["instance_id"],
                     "task_id": approval.ready_tasks[0].id, "process_key": "offer_recall"}
            yield schemathesis.openapi.from_wsgi(f"{PREFIX}/openapi.json?internal=true", app), tokens, known
        finally:
            engine.db.dispose()


def test_every_operation_of_the_document_is_fuzzed(fuzzed):
    schema, _, _ = fuzzed
    listed = {(op.ok().method.upper(), op.ok().path[len(PREFIX):]) for op in schema.get_all_operations()}
    assert listed == set(OPERATIONS)


CASES = [(method, path, role) for method, path in OPERATIONS for role in ROLES]
# Input schemathesis rarely makes on its own, put into a path parameter, a query value or a body
# field: NUL characters (PostgreSQL text cannot hold them), a lone surrogate, integers past 64
# bits, dates at the ends of what datetime holds, JSON nested deeper than anyone needs.
DEEP = object()
POISONS = ["\x00", "a\x00b", "\ud800", 10 ** 30, -(10 ** 25), "0001-01-01", "9999-12-31",
           "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00+14:00", DEEP]
poisons = st.none() | st.tuples(st.sampled_from(["path", "query", "body"]), st.sampled_from(POISONS),
                                st.integers(0, 50))


def _poison(case, where: str, value, index: int) -> None:
    if value is DEEP:
        value = [[]]
        for _ in range(300):
            value = [value]
    if where == "path" and case.path_parameters and isinstance(value, str) and "\ud800" not in value:
        names = sorted(case.path_parameters)
        case.path_parameters[names[index % len(names)]] = value
    elif where == "query" and isinstance(value, (str, int)) and "\ud800" not in str(value):
        names = sorted(p.name for p in case.operation.iter_parameters() if p.location == "query")
        if names:
            case.query = {**(case.query or {}), names[index % len(names)]: str(value)}
    elif where == "body" and isinstance(case.body, dict) and case.body and (
            "json" in (case.media_type or "") or not (isinstance(value, str) and "\ud800" in value)):
        # (a multipart body cannot carry a lone surrogate at all: only JSON escapes it)
        names = sorted(case.body)
        case.body[names[index % len(names)]] = value


@pytest.mark.parametrize("method,path,role", CASES, ids=[f"{m} {p} as {r}" for m, p, r in CASES])
def test_no_operation_answers_a_server_error(fuzzed, method, path, role):
    schema, tokens, known = fuzzed
    operation = schema[PREFIX + path][method]
    # identity: the WSGI transport does not decode gzip as an HTTP client does (tests/http/test_compression.py)
    headers = {"Accept-Encoding": "identity", **({"Authorization": f"Bearer {tokens[role]}"} if tokens[role] else {})}
    generated = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                          operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))

    @given(case=generated, aim=st.booleans(), poison=poisons)
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def run(case, aim, poison):
        if aim and case.path_parameters:
            for name in case.path_parameters:
                if name in known:
                    case.path_parameters[name] = known[name]
        if poison is not None:
            _poison(case, *poison)
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
