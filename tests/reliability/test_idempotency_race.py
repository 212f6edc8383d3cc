"""Concurrent retries with one `Idempotency-Key` against a real `recall serve` (issue 13 item 3).

Four threads send the same `POST /candidates/{id}/declines` with the same key at the same
moment, many times over. With an invalid body, every answer is the 422 the body deserves or
a 409 "still in progress" — never a 500 (a failed first request releases the key while
another one is reading it). With a valid body, exactly one case starts; the others replay it
or are told it is in progress. On SQLite and PostgreSQL.
"""
from __future__ import annotations

import threading
import uuid
from collections import Counter

import pytest

from tests.reliability.reliability_support import report
from tests.servers import http, served_workflows

pytestmark = pytest.mark.slow

THREADS = 4
TRIALS = 40


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request, tmp_path):
    with served_workflows(request.param, tmp_path, RECALL_SERVE_THREADS=8) as (server, token):
        yield server, {"Authorization": f"Bearer {token}"}
        log = server.log_text()
    assert "idempotency record vanished" not in log and "unhandled error" not in log, log[-3000:]


def _together(call, count: int = THREADS) -> list:
    """Run `call()` in `count` threads released at once; their results in thread order."""
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 - a transport error is a result too
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def _candidate(server, auth) -> str:
    status, _, body = http("POST", f"{server.base}/candidates", {"name": "王五"}, auth)
    assert status == 201, body
    return body["id"]


def test_concurrent_retries_of_an_invalid_request_answer_its_4xx(served):
    server, auth = served
    candidate_id = _candidate(server, auth)
    seen: Counter = Counter()
    for trial in range(TRIALS):
        key = f"race-{trial}-{uuid.uuid4().hex[:8]}"
        answers = _together(lambda: http("POST", f"{server.base}/candidates/{candidate_id}/declines",
                                         {"reason": "not-a-reason"}, {**auth, "Idempotency-Key": key}))
        for answer in answers:
            assert not isinstance(answer, Exception), answer
            status, headers, body = answer
            seen[status] += 1
            assert status in (409, 422), (trial, status, body)
            assert headers["Content-Type"] == "application/problem+json"
            if status == 422:
                assert [e["field"] for e in body["errors"]] == ["reason"], body
    report("idempotency race, invalid body", trials=TRIALS, answers=dict(seen))
    assert seen[422] >= TRIALS          # every trial: at least the first request got its 422
    assert http("GET", f"{server.base}/health")[0] == 200


def test_concurrent_retries_of_a_valid_request_start_one_case(served):
    server, auth = served
    seen: Counter = Counter()
    for trial in range(TRIALS // 4):
        candidate_id = _candidate(server, auth)
        key = f"ok-{trial}-{uuid.uuid4().hex[:8]}"
        answers = _together(lambda: http("POST", f"{server.base}/candidates/{candidate_id}/declines",
                                         {"reason": "salary"}, {**auth, "Idempotency-Key": key}))
        started = set()
        for answer in answers:
            assert not isinstance(answer, Exception), answer
            status, headers, body = answer
            seen[status] += 1
            assert status in (201, 409), (trial, status, body)
            if status == 201:
                started.add(body["instance_id"])
        assert len(started) == 1, (trial, answers)
        status, _, candidate = http("GET", f"{server.base}/candidates/{candidate_id}", headers=auth)
        assert status == 200 and len(candidate["declines"]) == 1 and len(candidate["cases"]) == 1, candidate
    report("idempotency race, valid body", trials=TRIALS // 4, answers=dict(seen))
