"""gzip and cache headers over a real `recall serve` (api/compression.py, api/web/__init__.py).

Raw http.client, so the bytes on the wire are seen as they are (urllib would send
`Accept-Encoding: identity` and hide nothing, but decodes nothing either).
"""
from __future__ import annotations

import gzip
import http.client
import json
import re

import pytest

from tests.servers import served_workflows

pytestmark = pytest.mark.slow
GZIP = {"Accept-Encoding": "gzip, deflate, br"}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory):
    with served_workflows(request.param, tmp_path_factory.mktemp("gzip")) as (server, token):
        yield server, token


def fetch(server, method: str, path: str, headers=None, body=None):
    """(status, headers, raw body bytes) of one request; path from the host's root."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request(method, path, body=json.dumps(body).encode() if body is not None else None,
                           headers={"Accept-Encoding": "identity", **({"Content-Type": "application/json"}
                                                                      if body is not None else {}),
                                    **(headers or {})})
        response = connection.getresponse()
        return response.status, response.headers, response.read()
    finally:
        connection.close()


def test_json_is_gzipped_only_for_clients_that_accept_it_and_says_vary(served):
    server, _ = served
    status, plain_headers, plain = fetch(server, "GET", "/api/v1/openapi.json")
    assert status == 200 and "Content-Encoding" not in plain_headers
    assert "Accept-Encoding" in plain_headers["Vary"]       # a cache must keep the two apart
    status, headers, packed = fetch(server, "GET", "/api/v1/openapi.json", GZIP)
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in headers["Vary"]
    assert int(headers["Content-Length"]) == len(packed) < len(plain) / 4
    assert gzip.decompress(packed) == plain
    refused = fetch(server, "GET", "/api/v1/openapi.json", {"Accept-Encoding": "gzip;q=0, br"})[1]
    assert "Content-Encoding" not in refused
    # a tiny answer is not worth the header
    status, headers, body = fetch(server, "GET", "/api/v1/health", GZIP)
    assert status == 200 and "Content-Encoding" not in headers and json.loads(body)["status"]


def test_a_gzipped_answer_has_a_weak_etag_that_if_match_still_accepts(served):
    server, token = served
    auth = {"Authorization": f"Bearer {token}"}
    status, _, raw = fetch(server, "POST", "/api/v1/candidates", auth, {"name": "张伟", "role_applied": "店长"})
    assert status == 201, raw
    candidate = json.loads(raw)["id"]
    status, _, raw = fetch(server, "POST", f"/api/v1/candidates/{candidate}/declines", auth, {
        "reason": "salary", "decline_date": "2026-01-05T09:00:00+08:00", "lang": "zh"})
    assert status in (200, 201), raw
    instance = json.loads(raw)["instance_id"]
    status, _, raw = fetch(server, "GET", f"/api/v1/tasks?instance_id={instance}", auth)
    task = json.loads(raw)["items"][0]["id"]
    status, plain_headers, _ = fetch(server, "GET", f"/api/v1/tasks/{task}", auth)
    status, headers, packed = fetch(server, "GET", f"/api/v1/tasks/{task}", {**auth, **GZIP})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    strong = plain_headers["ETag"]
    assert re.fullmatch(r'"v\d+"', strong) and headers["ETag"] == f"W/{strong}"
    assert json.loads(gzip.decompress(packed))["id"] == task
    status, _, raw = fetch(server, "POST", f"/api/v1/process-instances/{instance}/cancel",
                           {**auth, "If-Match": headers["ETag"]}, {"reason": "test"})
    assert status == 200, raw


def test_static_files_are_versioned_cached_for_a_year_and_revalidate_per_representation(served):
    server, _ = served
    status, headers, raw = fetch(server, "GET", "/app/inbox", GZIP)
    html = gzip.decompress(raw).decode() if headers.get("Content-Encoding") == "gzip" else raw.decode()
    assert status == 200 and headers["Cache-Control"] == "no-store"
    base = re.search(r'data-static="(/app/static/v/[0-9a-f]{16}/)"', html).group(1)
    assert f'src="{base}app.js"' in html and f'href="{base}app.css"' in html
    # every module of the workspace is fetched at once, not one import level per round trip
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', html))
    assert {f"{base}app.js", f"{base}api.js", f"{base}i18n.js"} <= preloaded
    assert any(p.startswith(f"{base}pages/") for p in preloaded) and not any("vendor" in p for p in preloaded)

    status, headers, packed = fetch(server, "GET", f"{base}app.js", GZIP)
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable"
    weak = headers["ETag"]
    assert weak.startswith('W/"') and "Accept-Ranges" not in headers
    status, plain_headers, plain = fetch(server, "GET", f"{base}app.js")
    assert gzip.decompress(packed) == plain and plain_headers["ETag"] == weak[2:]
    # revalidation: each client gets a 304 naming the representation it holds
    status, headers, body = fetch(server, "GET", f"{base}app.js", {**GZIP, "If-None-Match": weak})
    assert (status, body, headers["ETag"]) == (304, b"", weak)
    status, headers, body = fetch(server, "GET", f"{base}app.js", {"If-None-Match": weak[2:]})
    assert (status, headers["ETag"]) == (304, weak[2:])

    # the unversioned URL and an older version still answer, with a short cache
    for path in ("/app/static/app.js", "/app/static/v/0123456789abcdef/app.js"):
        status, headers, body = fetch(server, "GET", path)
        assert status == 200 and body == plain and headers["Cache-Control"] == "public, max-age=300", path
    assert fetch(server, "GET", f"{base}no-such-file.js")[0] == 404
