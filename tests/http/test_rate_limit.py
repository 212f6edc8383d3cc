"""Request ids and rate limits (issue 16): every answer has an X-Request-Id (the client's, if sane),
problem+json bodies and the server's log lines carry it; RECALL_RATE_LIMIT counts per token, per
session and per client address, answering 429 with Retry-After and the RateLimit-* headers, in the
Flask app and over a real `recall serve` (one process, and two sharing the limit)."""
from __future__ import annotations

import threading

import pytest

from tests.servers import Server, add_user, http, migrated_database
from tests.support import PREFIX, app_with_workflows, bearer


@pytest.fixture
def limited(database_url):
    app, engine, caller = app_with_workflows(database_url, RECALL_RATE_LIMIT="3/minute")
    yield app, caller
    engine.db.dispose()


def _limiter(app):
    return app.extensions["recall_rate_limiter"]


def test_a_sane_request_id_is_echoed_and_any_other_replaced_also_on_errors(api):
    app, _, caller = api
    client = app.test_client()
    ok = caller("hr.li").get("/tasks", headers={"X-Request-Id": "ats.job-42_7"})
    assert ok.status_code == 200 and ok.headers["X-Request-Id"] == "ats.job-42_7"
    for bad in ("x" * 129, "has space", "semi;colon", ""):
        answer = client.get(f"{PREFIX}/tasks", headers={"X-Request-Id": bad})       # and no token: 401
        rid = answer.headers["X-Request-Id"]
        assert answer.status_code == 401 and rid != bad and len(rid) == 32
        assert answer.json["request_id"] == rid
    missing = caller("hr.li").get("/tasks/not-a-task", headers={"X-Request-Id": "r-404"})
    assert missing.status_code == 404 and missing.json["request_id"] == "r-404" == missing.headers["X-Request-Id"]
    unknown = client.get(f"{PREFIX}/no-such-path", headers={"X-Request-Id": "r-route"})
    assert unknown.status_code == 404 and unknown.json["request_id"] == "r-route"
    first, second = client.get(f"{PREFIX}/health"), client.get(f"{PREFIX}/health")
    assert first.headers["X-Request-Id"] != second.headers["X-Request-Id"]       # a new one each time


def test_over_the_limit_a_token_gets_429_with_retry_after_others_are_counted_apart(limited):
    app, caller = limited
    answers = [caller("ats").get("/process-instances") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    assert {a.headers["RateLimit-Limit"] for a in answers} == {"3"}
    assert all(1 <= int(a.headers["RateLimit-Reset"]) <= 60 for a in answers)
    refused = caller("ats").get("/process-instances", headers={"X-Request-Id": "burst-4"})
    assert refused.status_code == 429 and refused.mimetype == "application/problem+json"
    assert refused.json["type"].endswith(":rate-limited") and refused.json["request_id"] == "burst-4"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60 and refused.headers["RateLimit-Remaining"] == "0"
    assert "RECALL_RATE_LIMIT" in refused.json["detail"]
    assert caller("root").get("/process-instances").status_code == 200        # another token: its own count
    client = app.test_client()
    assert [client.get(f"{PREFIX}/health").status_code for _ in range(5)] == [200] * 5     # not counted
    anonymous = [client.get(f"{PREFIX}/openapi.json").status_code for _ in range(3)]
    wrong = client.get(f"{PREFIX}/tasks", headers=bearer("not-a-token"))       # a wrong token counts for the address
    assert anonymous == [200] * 3 and wrong.status_code == 429


def test_the_window_ends_and_the_caller_may_send_again(limited):
    app, caller = limited
    assert caller("hr.li").get("/tasks").status_code == 200
    now = [1_000_040.0]                                       # 20 s into a minute
    _limiter(app).clock = lambda: now[0]
    assert [caller("hr.li").get("/tasks").status_code for _ in range(4)] == [200, 200, 200, 429]
    assert caller("hr.li").get("/tasks").headers["Retry-After"] == "40"
    now[0] += 40
    answer = caller("hr.li").get("/tasks")
    assert answer.status_code == 200 and answer.headers["RateLimit-Remaining"] == "2"


def test_off_turns_it_off(database_url):
    app, engine, caller = app_with_workflows(database_url, RECALL_RATE_LIMIT="off")
    try:
        answers = [caller("ats").get("/process-instances") for _ in range(20)]
        assert {a.status_code for a in answers} == {200} and "RateLimit-Limit" not in answers[0].headers
    finally:
        engine.db.dispose()


def _burst(base: str, token: str, count: int) -> list[tuple[int, dict]]:
    results: list = [None] * count
    barrier = threading.Barrier(count)

    def one(i):
        barrier.wait()
        status, headers, body = http("GET", f"{base}/process-instances",
                                     headers={**bearer(token), "X-Request-Id": f"burst-{i}"})
        results[i] = (status, headers, body)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_burst_against_recall_serve_gets_429_with_retry_after_and_the_log_names_the_requests(kind, tmp_path):
    with migrated_database(kind, tmp_path) as url:
        token = add_user(url, "ats", "integrator")
        with Server(url, tmp_path / "serve.log", RECALL_RATE_LIMIT="20/hour", RECALL_EMBEDDED_WORKER="0") as server:
            results = _burst(server.base, token, 30)
            log = server.log_text()
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [200] * 20 + [429] * 10
    refused = [(headers, body) for status, headers, body in results if status == 429]
    for headers, body in refused:
        assert 1 <= int(headers["Retry-After"]) <= 3600 and headers["RateLimit-Limit"] == "20"
        assert body["type"].endswith(":rate-limited") and body["request_id"] == headers["X-Request-Id"]
        assert f'"request_id": "{body["request_id"]}"' in log          # the server's log line names it
    assert log.count('"event": "rate_limited"') == 10


@pytest.mark.slow
def test_two_processes_together_allow_no_more_than_the_limit(tmp_path):
    with migrated_database("postgresql", tmp_path) as url:
        token = add_user(url, "ats", "integrator")
        with Server(url, tmp_path / "serve.log", RECALL_RATE_LIMIT="20/hour", RECALL_EMBEDDED_WORKER="0",
                    RECALL_SERVE_PROCESSES="2") as server:
            results = []
            for _ in range(3):          # new connections: the kernel spreads them over both processes
                results += _burst(server.base, token, 15)
    allowed = [headers for status, headers, _ in results if status == 200]
    assert 10 <= len(allowed) <= 20 and {h["RateLimit-Limit"] for h in allowed} == {"10"}      # each its share
    assert {status for status, _, _ in results} == {200, 429}
