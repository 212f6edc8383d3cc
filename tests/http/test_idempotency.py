"""Idempotency-Key on POST /process-instances: replay, 422 on another body, 409 while in flight."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest

from tests.support import PREFIX, bearer, race

START = {"process_key": "approval", "business_key": "cand-7", "variables": {"candidate_id": "c-7"}}


def _instances(as_user):
    return as_user("root").get("/process-instances?business_key=cand-7").json["items"]


def test_same_key_and_body_replays_the_first_response(as_user):
    ats = as_user("ats")
    first = ats.post("/process-instances", json=START, headers={"Idempotency-Key": "start-c-7"})
    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    # same JSON, other key order and spacing: the same request
    again = ats.post("/process-instances", data='{"variables": {"candidate_id": "c-7"}, "business_key": '
                     '"cand-7",   "process_key": "approval"}', content_type="application/json",
                     headers={"Idempotency-Key": "start-c-7"})
    assert again.status_code == 201 and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert len(_instances(as_user)) == 1


def test_same_key_other_body_is_422_and_starts_nothing(as_user):
    ats = as_user("ats")
    assert ats.post("/process-instances", json=START, headers={"Idempotency-Key": "k"}).status_code == 201
    other = ats.post("/process-instances", json={**START, "variables": {"candidate_id": "c-8"}},
                     headers={"Idempotency-Key": "k"})
    assert other.status_code == 422 and other.json["type"].endswith(":idempotency-key-reused")
    assert len(_instances(as_user)) == 1


def test_keys_belong_to_their_user(as_user):
    assert as_user("ats").post("/process-instances", json=START, headers={"Idempotency-Key": "k"}).status_code == 201
    assert as_user("hr.li").post("/process-instances", json=START, headers={"Idempotency-Key": "k"}).status_code == 201
    assert len(_instances(as_user)) == 2


def test_a_retry_while_the_first_runs_is_409_then_replays(app, tokens, engine, monkeypatch):
    entered, release = threading.Event(), threading.Event()
    original = engine.start_instance

    def slow_start(*args, **kwargs):
        entered.set()
        assert release.wait(10)
        return original(*args, **kwargs)
    monkeypatch.setattr(engine, "start_instance", slow_start)
    headers = bearer(tokens["ats"], **{"Idempotency-Key": "slow"})
    results = {}

    def first():
        results["first"] = app.test_client().post(f"{PREFIX}/process-instances", json=START, headers=headers)
    thread = threading.Thread(target=first)
    thread.start()
    assert entered.wait(10)
    during = app.test_client().post(f"{PREFIX}/process-instances", json=START, headers=headers)
    release.set()
    thread.join(10)
    assert during.status_code == 409 and during.json["type"].endswith(":request-in-flight")
    assert during.headers["Retry-After"] == "1"
    assert results["first"].status_code == 201
    after = app.test_client().post(f"{PREFIX}/process-instances", json=START, headers=headers)
    assert after.status_code == 201 and after.json == results["first"].json


def test_concurrent_identical_requests_start_one_instance(app, tokens, as_user):
    headers = bearer(tokens["ats"], **{"Idempotency-Key": "burst"})
    statuses = race(6, lambda: app.test_client().post(f"{PREFIX}/process-instances", json=START,
                                                      headers=headers).status_code, timeout=30)
    assert statuses.count(201) >= 1 and set(statuses) <= {201, 409}
    assert len(_instances(as_user)) == 1


def test_a_failed_request_releases_its_key(as_user, engine):
    owner = as_user("owner")
    body = {"process_key": "approval_later", "variables": {}}
    assert owner.post("/process-instances", json=body, headers={"Idempotency-Key": "k2"}).status_code == 404
    # the failure was not recorded: the same retry runs again (and fails again, not 409, not a replay)
    again = owner.post("/process-instances", json=body, headers={"Idempotency-Key": "k2"})
    assert again.status_code == 404 and "Idempotent-Replayed" not in again.headers


def test_a_bad_key_is_400(as_user):
    response = as_user("ats").post("/process-instances", json=START, headers={"Idempotency-Key": "a key with spaces"})
    assert response.status_code == 400 and "Idempotency-Key" in response.json["detail"]


# ---------- the store itself ----------
class Clock:
    def __init__(self):
        self.now = datetime(2026, 3, 1, tzinfo=timezone.utc)

    def __call__(self):
        return self.now


@pytest.fixture
def store(db):
    from engine.idempotency import IdempotencyStore
    clock = Clock()
    return IdempotencyStore(db, ttl=timedelta(hours=1), stale_after=timedelta(minutes=5), now=clock), clock


def test_store_takes_over_an_abandoned_claim(store):
    from engine.idempotency import Claim, RequestInFlight
    s, clock = store
    claim = s.begin(scope="POST /x", user="u", key="k", request_hash="h")
    assert isinstance(claim, Claim)
    with pytest.raises(RequestInFlight):
        s.begin(scope="POST /x", user="u", key="k", request_hash="h")
    clock.now += timedelta(minutes=6)
    assert s.begin(scope="POST /x", user="u", key="k", request_hash="h") == claim


def test_store_forgets_records_after_the_ttl(store):
    from engine.idempotency import Claim, Replay
    s, clock = store
    claim = s.begin(scope="POST /x", user="u", key="k", request_hash="h")
    s.finish(claim, status=201, body={"id": 1}, headers={"Location": "/x/1"})
    assert s.begin(scope="POST /x", user="u", key="k", request_hash="h") == Replay(201, {"id": 1}, {"Location": "/x/1"})
    clock.now += timedelta(hours=2)
    assert isinstance(s.begin(scope="POST /x", user="u", key="k", request_hash="other"), Claim)


def test_store_purges_at_most_once_per_period_and_treats_expired_records_as_absent(db):
    from sqlalchemy import func, select

    from engine.idempotency import Claim, IdempotencyStore
    from engine.models import IdempotencyRecord
    clock = Clock()
    s = IdempotencyStore(db, ttl=timedelta(hours=1), now=clock, purge_every=timedelta(hours=6))

    def rows():
        with db.read_transaction() as session:
            return session.scalar(select(func.count()).select_from(IdempotencyRecord))

    first = s.begin(scope="POST /x", user="u", key="k", request_hash="h")
    s.finish(first, status=201, body={"id": 1})
    s.finish(s.begin(scope="POST /x", user="u", key="old", request_hash="h"), status=201, body={"id": 2})
    clock.now += timedelta(hours=2)             # both expired; the next purge is due in 4 hours
    again = s.begin(scope="POST /x", user="u", key="k", request_hash="another body")
    assert again == Claim(first.id) and rows() == 2         # the expired row is reused, not replayed
    clock.now += timedelta(hours=5)
    s.begin(scope="POST /x", user="u", key="new", request_hash="h")
    assert rows() == 1                                       # the purge ran: only "new" is left
