"""HTTP edge security (issue 12 items 9-12, issue 13 item 9), on SQLite and PostgreSQL.

- docs assets: a fixed allow-list; every other name (traversal included) gets the same 404,
  whether or not a file of that name exists (no file-existence oracle);
- security headers on every kind of answer (API JSON, problem+json, docs, /app/ pages and
  files), each with a CSP fit for it; the docs page keeps the token in sessionStorage only;
- bad input at the edge (out-of-range dates, deep JSON, lone surrogates, huge integers, NUL
  bytes in body, path and query) is a 4xx problem+json naming the field, never a 500;
- a role that may not see a candidate, task or case gets the same answer for an existing id as
  for a missing one (no existence oracle);
- an oversized body gets its 413 to clients that do not send `Expect: 100-continue`.

The points about HTTP itself run against a real `recall serve` over a socket.
"""
from __future__ import annotations

import json
import socket
import urllib.request

import pytest

from tests.servers import http, served_workflows
from tests.support import ATS, HR, MANAGER, PREFIX, ROOT

PROBLEM = "application/problem+json"
MISSING = "00000000-0000-4000-8000-000000000000"


def _problem(response):
    assert response.mimetype == PROBLEM, (response.status_code, response.get_data(as_text=True)[:300])
    body = response.get_json()
    assert body["status"] == response.status_code
    return body


def _fields(body) -> set[str]:
    return {e["field"] for e in body["errors"]}


# what differs between any two answers by design: the request's own id and where its rate limit stands
PER_REQUEST_HEADERS = {"x-request-id", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"}


def _same_for_all(body):
    """An answer's body without its request id (a dict, or JSON bytes), to compare two answers."""
    if isinstance(body, bytes):
        try:
            body = json.loads(body)
        except ValueError:
            return body
    return {k: v for k, v in body.items() if k != "request_id"} if isinstance(body, dict) else body


# ---------------------------------------------------------------- 12.9: docs assets
def test_docs_static_serves_only_its_assets_and_one_404_for_everything_else(api):
    app, _, _ = api
    client = app.test_client()
    for asset in ("swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "recall-docs.js",
                  "favicon-32x32.png"):
        with client.get(f"{PREFIX}/docs/static/{asset}") as response:
            assert response.status_code == 200, asset
    # names of files that exist (the package's own modules, swagger's other files, system files)
    # and names of files that do not: one and the same answer
    existing = ["..%2fdocs.py", "..%2f..%2fapi%2fapp.py", "../docs.py", "..%2f..%2fpyproject.toml",
                "index.html", "package.json", "..%2f" * 12 + "etc%2fpasswd", "%2fetc%2fpasswd"]
    missing = ["..%2fnope.py", "..%2f..%2fapi%2fnope.py", "../nope.py", "..%2f..%2fnope.toml",
               "nope.html", "nope.json", "..%2f" * 12 + "etc%2fnope", "%2fetc%2fnope"]
    answers = []
    for name in existing + missing:
        with client.get(f"{PREFIX}/docs/static/{name}") as response:
            body = response.get_data()
            answers.append((response.status_code, _same_for_all(body),
                            sorted((k, v) for k, v in response.headers.items() if k.lower() not in PER_REQUEST_HEADERS)))
    for name, there, absent in zip(existing, answers[:len(existing)], answers[len(existing):]):
        assert there[0] in (404, 308), name      # 308: werkzeug merges the double slash of "%2fetc"
        assert there == absent if there[0] == 404 else there[0] == absent[0], name
    assert {status for status, _, _ in answers} == {404, 308}
    with client.get(f"{PREFIX}/docs/static/..%2fdocs.py") as response:
        assert _problem(response)["detail"] == "no such docs asset"


# ---------------------------------------------------------------- 12.10: headers, token storage
def _has_security_headers(headers, where: str) -> str:
    csp = headers.get("Content-Security-Policy", "")
    assert "frame-ancestors 'none'" in csp, (where, csp)
    assert headers.get("X-Frame-Options") == "DENY", where
    assert headers.get("X-Content-Type-Options") == "nosniff", where
    assert headers.get("Referrer-Policy") == "no-referrer", where
    return csp


def test_every_kind_of_answer_carries_security_headers(api):
    app, _, as_user = api
    client = app.test_client()
    hr = as_user(HR)
    answers = {
        "api json": hr.get("/candidates"),
        "problem": client.get(f"{PREFIX}/candidates"),
        "public json": client.get(f"{PREFIX}/health"),
        "openapi": client.get(f"{PREFIX}/openapi.json"),
        "docs page": client.get(f"{PREFIX}/docs"),
        "docs asset": client.get(f"{PREFIX}/docs/static/swagger-ui-bundle.js"),
        "docs 404": client.get(f"{PREFIX}/docs/static/..%2fdocs.py"),
        "unknown api path": client.get(f"{PREFIX}/nope"),
        "metrics": client.get(f"{PREFIX}/metrics"),
        "workspace page": client.get("/app/"),
        "workspace file": client.get("/app/static/app.js"),
        "root redirect": client.get("/"),
    }
    for where, response in answers.items():
        csp = _has_security_headers(response.headers, where)
        if where in ("api json", "problem", "public json", "openapi", "unknown api path", "metrics", "docs 404"):
            assert "default-src 'none'" in csp, (where, csp)      # data: nothing to load or run
        elif where.startswith("docs"):
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
            assert "object-src 'none'" in csp and "connect-src 'self'" in csp
        elif where.startswith("workspace"):
            assert "script-src 'self'" in csp and "connect-src 'self'" in csp, csp
    for response in answers.values():
        response.close()


def test_docs_page_keeps_the_token_in_session_storage_only(api):
    """Swagger UI's persistAuthorization writes localStorage (shared with /app/): ours must not."""
    app, _, _ = api
    client = app.test_client()
    page = client.get(f"{PREFIX}/docs").get_data(as_text=True)
    assert "<script>" not in page and "localStorage" not in page
    with client.get(f"{PREFIX}/docs/static/recall-docs.js") as response:
        script = response.get_data(as_text=True)
    assert "persistAuthorization: false" in script
    assert "localStorage.setItem" not in script and "sessionStorage.setItem" in script
    assert "persistAuthorization: true" not in script


DOCS_HARNESS = r"""
const fs = require("fs"), vm = require("vm");
function storage(log, name) {
  const items = {};
  return {getItem: k => (k in items ? items[k] : null),
          setItem: (k, v) => { log.push(name + ".setItem " + k); items[k] = String(v); },
          removeItem: k => { log.push(name + ".removeItem " + k); delete items[k]; }, items};
}
const log = [], listeners = {}, restored = [];
let config = null;
const window = {sessionStorage: storage(log, "sessionStorage"), localStorage: storage(log, "localStorage"),
                addEventListener: (name, fn) => { listeners[name] = fn; }};
window.localStorage.items["authorized"] = "{\"old\": 1}";     // left by the page before this fix
const context = {window, document: {getElementById: () => ({getAttribute: () => "/api/v1/openapi.json"})},
  SwaggerUIStandalonePreset: {}, JSON,
  SwaggerUIBundle: Object.assign(function (c) {
    config = c;
    return {authActions: {restoreAuthorization: a => restored.push(a)}};
  }, {presets: {apis: {}}})};
context.window.SwaggerUIBundle = context.SwaggerUIBundle;
vm.runInNewContext(fs.readFileSync(process.argv[2], "utf8"), context);
listeners.load();
context.window.ui = context.window.ui || null;
const auth = {bearerAuth: {name: "bearerAuth", value: "secret-token"}};
const system = {authSelectors: {authorized: () => ({size: 1, toJS: () => auth})}};
const plugin = config.plugins.map(p => p()).find(p => p.statePlugins && p.statePlugins.auth);
const authorize = plugin.statePlugins.auth.wrapActions.authorize(payload => "authorized", system);
const result = authorize(auth);
const afterAuthorize = JSON.stringify(window.sessionStorage.items);
config.onComplete();
const emptied = {authSelectors: {authorized: () => ({size: 0, toJS: () => ({})})}};
plugin.statePlugins.auth.wrapActions.logout(() => "out", emptied)(["bearerAuth"]);
console.log(JSON.stringify({persist: config.persistAuthorization, result, log, afterAuthorize, restored,
                            session: window.sessionStorage.items, local: window.localStorage.items}));
"""


def test_the_docs_script_stores_the_token_in_session_storage_and_restores_it(tmp_path):
    """recall-docs.js run under node with a stand-in for Swagger UI: what it does with the token."""
    import shutil
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    harness = tmp_path / "harness.js"
    harness.write_text(DOCS_HARNESS)
    run = subprocess.run([node, str(harness), str(ROOT / "api" / "static" / "recall-docs.js")],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen["persist"] is False and seen["result"] == "authorized"
    assert not [entry for entry in seen["log"] if entry.startswith("localStorage.setItem")], seen["log"]
    assert "localStorage.removeItem authorized" in seen["log"] and seen["local"] == {}
    assert "secret-token" in seen["afterAuthorize"]                       # kept for this tab ...
    assert seen["restored"] and seen["restored"][0]["authorized"]["bearerAuth"]["value"] == "secret-token"
    assert seen["session"] == {}                                           # ... and gone on logout


# ---------------------------------------------------------------- 12.11: bad input at the edge
def _deep(depth: int) -> bytes:
    return b'{"name": ' + b"[" * depth + b"]" * depth + b"}"


BAD_BODIES = {
    # name: (method, path, raw body, expected field)
    "100k-deep JSON": ("POST", "/candidates", _deep(100_000), "(body)"),
    "200-deep JSON": ("POST", "/candidates", b'{"notes": ' + b'{"a":' * 200 + b"1" + b"}" * 200 + b"}", "(body)"),
    "lone surrogate": ("POST", "/candidates", b'{"name": "x\\ud800y"}', "name"),
    "lone surrogate in a key": ("POST", "/candidates", b'{"\\udfff": "x"}', "(body)"),
    "5000-digit integer": ("POST", "/candidates", b'{"name": ' + b"9" * 5000 + b"}", "(body)"),
    "4000-digit integer in variables": ("POST", "/process-instances",
                                        b'{"process_key": "offer_recall", "variables": {"n": ' + b"9" * 4000 + b"}}",
                                        "variables.n"),
    "version past 32 bits (found by the fuzzer)": ("POST", "/process-instances",
                                                   b'{"process_key": "offer_recall", "version": 2353272294}',
                                                   "version"),
    "NUL in a string": ("POST", "/candidates", b'{"name": "a\\u0000b"}', "name"),
    "NUL in a nested string": ("POST", "/candidates/{cid}/declines",
                               b'{"reason": "salary", "needs": ["ok", "a\\u0000"]}', "needs.1"),
    "NUL in a key": ("POST", "/process-instances",
                     b'{"process_key": "offer_recall", "variables": {"a\\u0000": 1}}', "variables"),
    "raw NUL byte": ("POST", "/candidates", b'{"name": "a\x00b"}', "(body)"),
    "invalid UTF-8": ("POST", "/candidates", b'{"name": "\xff\xfe"}', "(body)"),
}


@pytest.mark.parametrize("case", sorted(BAD_BODIES))
def test_bad_bodies_are_a_4xx_naming_the_field(api, case):
    app, engine, as_user = api
    method, path, raw, field = BAD_BODIES[case]
    hr = as_user("root")
    cid = hr.post("/candidates", json={"name": "张三"}).get_json()["id"]
    response = getattr(hr, method.lower())(path.format(cid=cid), data=raw,
                                           headers={"Content-Type": "application/json"})
    body = _problem(response)
    assert 400 <= response.status_code < 500, body
    assert field in _fields(body), body
    assert "Traceback" not in json.dumps(body) and "psycopg" not in json.dumps(body)
    # nothing half-written: still one candidate, no case
    assert hr.get("/candidates").get_json()["total"] == 1
    assert as_user("root").get("/process-instances").get_json()["items"] == []


BAD_QUERIES = {
    "declined_from=0001-01-01": ("/candidates?declined_from=0001-01-01", "declined_from"),
    "declined_to=9999-12-31": ("/candidates?declined_to=9999-12-31", "declined_to"),
    "declined_to=0001-01-01": ("/candidates?declined_to=0001-01-01", "declined_to"),
    "NUL in q": ("/candidates?q=a%00b", "q"),
    "NUL in role": ("/candidates?role=%00", "role"),
    "NUL in business_key": ("/process-instances?business_key=a%00", "business_key"),
    "NUL in element_id": ("/tasks?element_id=a%00", "element_id"),
    "NUL in candidate path": ("/candidates/a%00b", "candidate_id"),
    "NUL in instance path": ("/process-instances/a%00b", "instance_id"),
    "NUL in history path": ("/process-instances/a%00b/history", "instance_id"),
    "NUL in task path": ("/tasks/a%00b", "task_id"),
    "NUL in process key": ("/process-definitions/a%00b", "process_key"),
    "NUL in diagram key": ("/workspace/diagrams/a%00b", "process_key"),
}


@pytest.mark.parametrize("case", sorted(BAD_QUERIES))
def test_bad_paths_and_queries_are_a_4xx_naming_the_field(api, case):
    app, _, as_user = api
    path, field = BAD_QUERIES[case]
    response = as_user("root").get(path)
    body = _problem(response)
    assert 400 <= response.status_code < 500, body
    assert field in _fields(body), body


def test_extreme_but_valid_dates_still_work(api):
    _, _, as_user = api
    hr = as_user(HR)
    for query in ("declined_from=1900-01-01", "declined_to=2999-12-31", "declined_from=2026-01-01&declined_to=2026-12-31"):
        response = hr.get(f"/candidates?{query}")
        assert response.status_code == 200, (query, response.get_json())


def test_nul_in_a_signal_or_decline_path_is_refused_not_a_500(api):
    _, _, as_user = api
    root = as_user("root")
    for path, payload in (("/candidates/a%00/declines", {"reason": "salary"}),
                          ("/candidates/a%00/signals", {"kind": "open_to_work"}),
                          ("/tasks/a%00/claim", None), ("/process-instances/a%00/cancel", {})):
        response = root.post(path, json=payload) if payload is not None else root.post(path)
        body = _problem(response)
        assert 400 <= response.status_code < 500 and _fields(body), (path, body)


# ---------------------------------------------------------------- 12.12: no existence oracle
def _case_for(engine, as_user):
    """A candidate with a recorded decline: (candidate id, instance id, task id of archive_decline)."""
    hr = as_user(HR)
    cid = hr.post("/candidates", json={"name": "李四", "phone": "13800000000"}).get_json()["id"]
    started = hr.post(f"/candidates/{cid}/declines", json={"reason": "salary", "hiring_manager": MANAGER})
    assert started.status_code == 201, started.get_json()
    instance_id = started.get_json()["instance_id"]
    [task] = engine.list_tasks(instance_id=instance_id, element_id="archive_decline")
    return cid, instance_id, task.id


def test_a_role_that_may_not_see_an_id_cannot_tell_whether_it_exists(api):
    app, engine, as_user = api
    cid, instance_id, task_id = _case_for(engine, as_user)
    # archive_decline is assigned in HR's lane: take it so that other HR users may not see it
    assert as_user(HR).post(f"/tasks/{task_id}/claim").status_code == 200
    endpoints = [
        ("get", "/candidates/{c}", None), ("patch", "/candidates/{c}", {"notes": "x"}),
        ("post", "/candidates/{c}/declines", {"reason": "bogus"}),
        ("post", "/candidates/{c}/signals", {"kind": "open_to_work"}),
        ("get", "/process-instances/{i}", None), ("get", "/process-instances/{i}/history", None),
        ("post", "/process-instances/{i}/cancel", {"reason": "x" * 2001}),      # refused: nothing changes
        ("post", "/process-instances/{i}/retry", {}),
        ("get", "/tasks/{t}", None), ("post", "/tasks/{t}/claim", None),
        ("post", "/tasks/{t}/complete", {"data": {}}),
    ]
    checked = 0
    for user in ("hr.wang", MANAGER, "mgr2", ATS, "owner"):
        caller = as_user(user)
        for method, template, payload in endpoints:
            answers = []
            for ids in ({"c": cid, "i": instance_id, "t": task_id},
                        {"c": "nobody-" + cid[:8], "i": MISSING, "t": MISSING}):
                path = template.format(**ids)
                kwargs = {"json": payload} if payload is not None else {}
                response = getattr(caller, method)(path, **kwargs)
                detail = response.get_json().get("detail", "") if response.status_code >= 400 else ""
                for value in ids.values():
                    detail = detail.replace(value, "<id>")
                answers.append((response.status_code, detail))
            existing, missing = answers
            if existing[0] in (403, 404):
                checked += 1
                assert existing == missing, (user, method, template, existing, missing)
    assert checked >= 20
    # erasure: refused alike for existing and missing ids — by role (403), or, for an integrator, which
    # may erase the candidates it created, as not found (404) when it did not create this one
    for user, refused in ((MANAGER, 403), (ATS, 404), ("owner", 403)):
        existing = as_user(user).delete(f"/candidates/{cid}")
        missing = as_user(user).delete("/candidates/nobody")
        assert existing.status_code == missing.status_code == refused, user
        assert existing.get_json()["detail"].replace(cid, "<id>") == \
            missing.get_json()["detail"].replace("nobody", "<id>"), user
    # the people who may see them still do
    assert as_user(HR).get(f"/candidates/{cid}").status_code == 200
    assert as_user(HR).get(f"/tasks/{task_id}").status_code == 200
    assert as_user("hr.wang").get(f"/candidates/{cid}").status_code == 200


def test_a_manager_sees_a_candidate_only_through_a_hand_off(api):
    app, engine, as_user = api
    cid, _, _ = _case_for(engine, as_user)
    for user in (MANAGER, "mgr2"):
        mine, missing = as_user(user).get(f"/candidates/{cid}"), as_user(user).get("/candidates/nobody")
        assert (mine.status_code, missing.status_code) == (404, 404)
        assert mine.get_json()["detail"].replace(cid, "X") == missing.get_json()["detail"].replace("nobody", "X")


# ---------------------------------------------------------------- real server: 13.9 and the edge over a socket
LIMIT = 16 * 1024


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory):
    """A real `recall serve` (simulated clock, workflows/ deployed, RECALL_MAX_BODY_BYTES=16 KiB) and an HR token."""
    tmp = tmp_path_factory.mktemp(f"http-{request.param}")
    with served_workflows(request.param, tmp, user=HR, RECALL_MAX_BODY_BYTES=LIMIT) as served:
        yield served


def _raw_exchange(port: int, head: bytes, body: bytes, *, chunk: int = 65536) -> bytes:
    """Send a request as a plain client would (all of the body, no Expect) and read the whole answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(head)
        for start in range(0, len(body), chunk):
            sock.sendall(body[start:start + chunk])
        received = b""
        while b"\r\n\r\n" not in received:
            data = sock.recv(65536)
            assert data, f"connection closed before an answer: {received!r}"
            received += data
        head_part, _, body_part = received.partition(b"\r\n\r\n")
        length = next(int(line.split(b":", 1)[1]) for line in head_part.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        while len(body_part) < length:
            data = sock.recv(65536)
            assert data, "connection closed in the middle of the answer"
            body_part += data
        return head_part + b"\r\n\r\n" + body_part


@pytest.mark.slow
@pytest.mark.parametrize("size", [LIMIT + 1, 200 * 1024, 8 * 1024 * 1024])
def test_an_oversized_body_gets_its_413_over_a_raw_socket(served, size):
    server, token = served
    body = b'{"name": "' + b"x" * size + b'"}'
    head = (f"POST /api/v1/candidates HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    answer = _raw_exchange(server.port, head, body)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 413"), answer[:300]
    headers, _, payload = rest.partition(b"\r\n\r\n")
    assert b"application/problem+json" in headers.lower()
    problem = json.loads(payload)
    assert problem["status"] == 413 and "RECALL_MAX_BODY_BYTES" in problem["detail"]
    assert http("GET", f"{server.base}/health")[0] == 200      # and it keeps answering


@pytest.mark.slow
@pytest.mark.parametrize("size", [LIMIT + 1024, 200 * 1024, 8 * 1024 * 1024])
def test_an_oversized_chunked_body_gets_its_413(served, size):
    server, token = served
    head = (f"POST /api/v1/candidates HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").encode()
    piece = b"x" * 8192
    chunks = [b'{"name": "'] + [piece] * (size // len(piece)) + [b'"}']
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    answer = _raw_exchange(server.port, head, body)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert b"application/problem+json" in answer.lower() and b"RECALL_MAX_BODY_BYTES" in answer
    assert http("GET", f"{server.base}/health")[0] == 200
    # a chunked body within the limit still arrives whole
    small = [b'{"name": "', b"y" * 200, b'", "notes": "', b"z" * 8000, b'"}']
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in small) + b"0\r\n\r\n"
    answer = _raw_exchange(server.port, head, body)
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]


@pytest.mark.slow
def test_a_client_that_expects_100_continue_gets_the_413_without_sending_the_body(served):
    server, token = served
    head = (f"POST /api/v1/candidates HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {10 * LIMIT}\r\nExpect: 100-continue\r\n\r\n").encode()
    answer = _raw_exchange(server.port, head, b"")
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"RECALL_MAX_BODY_BYTES" in answer


def test_a_file_import_may_be_larger_than_the_body_limit_but_not_than_the_upload_limit(served):
    """The file imports (api/auth.py UPLOADS) are bounded by RECALL_MAX_UPLOAD_BYTES, not RECALL_MAX_BODY_BYTES:
    over a real server an export ten times the body limit is read; an ordinary route keeps its 413 at once."""
    import base64

    server, token = served
    auth = {"Authorization": f"Bearer {token}"}
    rows = "".join(f"U-{n},上传{n},店长,薪资,2022/3/5,是\n" for n in range(6_000))
    data = ("候选人ID,姓名,应聘岗位,拒绝原因,拒绝日期,同意\n" + rows).encode("utf-8")
    body = {"filename": "big.csv", "source": "moka", "content_base64": base64.b64encode(data).decode()}
    assert len(json.dumps(body)) > 10 * LIMIT
    status, _, preview = http("POST", f"{server.base}/imports/preview", body, auth)
    assert status == 200 and preview["rows"] == 6_000, (status, preview)
    head = (f"POST /api/v1/candidates HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {10 * LIMIT}\r\nExpect: 100-continue\r\n\r\n").encode()
    assert _raw_exchange(server.port, head, b"").startswith(b"HTTP/1.1 413")


@pytest.mark.slow
@pytest.mark.parametrize("size", [200 * 1024, 8 * 1024 * 1024])
def test_an_oversized_body_gets_its_413_with_urllib(served, size):
    server, token = served
    status, headers, problem = http("POST", f"{server.base}/candidates", raw=b"[" + b"1," * (size // 2) + b"1]",
                                    headers={"Authorization": f"Bearer {token}"})
    assert status == 413 and headers["Content-Type"] == PROBLEM, (status, problem)
    assert "RECALL_MAX_BODY_BYTES" in problem["detail"]


@pytest.mark.slow
def test_the_edge_over_a_socket(served):
    server, token = served
    auth = {"Authorization": f"Bearer {token}"}
    # a traversal to a file that exists answers as one that does not
    one = http("GET", f"{server.base}/docs/static/..%2f..%2fapi%2fapp.py")
    other = http("GET", f"{server.base}/docs/static/..%2f..%2fapi%2fnope.py")
    assert one[0] == other[0] == 404 and _same_for_all(one[2]) == _same_for_all(other[2])
    # NUL bytes in path and query, a deep body: 4xx, named
    for method, path, raw in (("GET", "/candidates/a%00b", None), ("GET", "/candidates?q=%00", None),
                              ("POST", "/candidates", _deep(5_000))):
        status, headers, problem = http(method, f"{server.base}{path}", raw=raw, headers=auth)
        assert 400 <= status < 500 and headers["Content-Type"] == PROBLEM and problem["errors"], (path, problem)
    # headers over the wire
    for path in ("/health", "/docs", "/openapi.json"):
        _has_security_headers(http("GET", f"{server.base}{path}")[1], path)
    request = urllib.request.Request(f"http://127.0.0.1:{server.port}/app/")
    with urllib.request.urlopen(request, timeout=30) as response:
        _has_security_headers(response.headers, "/app/")
    assert http("GET", f"{server.base}/health")[0] == 200
    assert "Traceback" not in server.log_text()

