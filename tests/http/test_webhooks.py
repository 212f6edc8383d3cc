"""Issue 16, webhooks: an admin subscribes a real receiver on localhost (an http.server thread that
checks every signature); the worker's jobs sign, deliver, retry with backoff, give up and disable,
and an admin redelivers by hand (SQLite and PostgreSQL). Then a real `recall serve` whose worker
dies mid-delivery: after a restart the receiver has seen every case end, at least once, each event
id once after dedupe."""
from __future__ import annotations

import json
import os
import signal
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler

import pytest

from engine.webhooks import run_webhooks, verify
from tests.servers import Server, add_user, http, local_http_server, migrated_database
from tests.support import ADMIN, ATS, HR, WORKFLOWS


class Receiver:
    """A webhook receiver: records each request, answers `status` (or what `answer(n)` says)."""

    def __init__(self, secret: str | None = None):
        self.secret, self.received, self.status, self.body, self.delay = secret, [], 200, b"ok", 0.0
        self.location = None
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                       "valid": outer.secret is not None and verify(
                                           outer.secret, self.headers["Recall-Signature"], body)})
                if outer.delay:
                    time.sleep(outer.delay)
                self.send_response(outer.status)
                if outer.location:
                    self.send_header("Location", outer.location)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            def log_message(self, *args):
                pass

        self.server, base = local_http_server(Handler)
        self.url = f"{base}/hooks/recall"

    def events(self):
        return [json.loads(r["body"]) for r in self.received]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def _start(as_user, name="钩子甲"):
    candidate = as_user(ATS).post("/candidates", json={"name": name}).json["id"]
    return as_user(ATS).post(f"/candidates/{candidate}/declines", json={"reason": "salary"}).json["instance_id"]


def _until(condition, timeout=60.0, step=0.05):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(step)


def _rounds(engine, condition, timeout=60.0):
    """Worker rounds until `condition()` (PostgreSQL: the feed waits for transactions in flight)."""
    _until(lambda: run_webhooks(engine) is not None and condition(), timeout)


def test_an_admin_subscribes_and_the_worker_delivers_signed_events(api, receiver):
    _, engine, as_user = api
    made = as_user(ADMIN).post("/webhooks", json={"url": receiver.url, "kinds": ["case.started", "task.created"],
                                                  "description": "ATS"})
    assert made.status_code == 201, made.json
    hook = made.json
    receiver.secret = hook["secret"]
    assert hook["secret"].startswith("whsec_") and hook["status"] == "active"
    assert "secret" not in as_user(ADMIN).get(f"/webhooks/{hook['id']}").json
    assert all("secret" not in h for h in as_user(ADMIN).get("/webhooks").json["items"])
    receiver.body = "好".encode() * 1000                       # only an excerpt is kept
    case = _start(as_user)

    _rounds(engine, lambda: len(receiver.received) >= 2)

    in_order = sorted(receiver.events(), key=lambda e: int(e["id"]))     # sent side by side: any order
    assert [(e["kind"], e["instance_id"]) for e in in_order] == [("case.started", case), ("task.created", case)]
    for request, event in zip(receiver.received, receiver.events()):
        assert request["valid"] and request["path"] == "/hooks/recall"
        assert request["headers"]["Recall-Event-Id"] == event["id"]
        assert request["headers"]["Recall-Webhook-Id"] == hook["id"]
        assert request["headers"]["Content-Type"] == "application/json"
    assert not verify("whsec_wrong", receiver.received[0]["headers"]["Recall-Signature"], receiver.received[0]["body"])
    assert not verify(hook["secret"], receiver.received[0]["headers"]["Recall-Signature"], b"{}")
    log = as_user(ADMIN).get(f"/webhooks/{hook['id']}/deliveries").json["items"]
    assert {d["status"] for d in log} == {"delivered"} and all(d["attempts"] == 1 for d in log)
    assert all(d["response_status"] == 200 and len(d["response_excerpt"]) == 200 for d in log)
    assert {d["event_id"] for d in log} == {e["id"] for e in receiver.events()}
    # nothing twice: further rounds send nothing new
    run_webhooks(engine)
    assert len(receiver.received) == 2


def test_bad_subscriptions_are_refused_naming_the_field(api):
    _, _, as_user = api
    for body, field in (({"url": "ftp://x.example/h", "kinds": ["case.ended"]}, "url"),
                        ({"url": "https://user:pw@x.example/h", "kinds": ["case.ended"]}, "url"),
                        ({"url": "https://x.example/h", "kinds": ["case.exploded"]}, "kinds"),
                        ({"url": "https://x.example/h", "kinds": []}, "kinds"),
                        ({"kinds": ["case.ended"]}, "url")):
        refused = as_user(ADMIN).post("/webhooks", json=body)
        assert refused.status_code == 422 and field in json.dumps(refused.json["errors"]), (body, refused.json)
    assert as_user(ADMIN).get("/webhooks").json["items"] == []
    assert as_user(ATS).post("/webhooks", json={"url": "https://x.example/h", "kinds": ["*"]}).status_code == 403
    assert as_user(ADMIN).get("/webhooks/nope").status_code == 404


def test_failures_back_off_give_up_disable_and_an_admin_redelivers(api, receiver):
    _, engine, as_user = api
    settings = engine.settings
    hook = as_user(ADMIN).post("/webhooks", json={"url": receiver.url, "kinds": ["case.started"]}).json
    receiver.secret, receiver.status, receiver.body = hook["secret"], 500, b"down for maintenance"
    case = _start(as_user)
    _rounds(engine, lambda: len(receiver.received) >= 1)
    [delivery] = as_user(ADMIN).get(f"/webhooks/{hook['id']}/deliveries").json["items"]
    assert delivery["status"] == "pending" and delivery["attempts"] == 1 and delivery["response_status"] == 500
    assert delivery["response_excerpt"] == "down for maintenance" and delivery["error"] == "HTTP 500"
    # the waits double: 30 s, 60 s, 120 s... (the simulated clock moves only when told)
    waits = []
    for attempt in range(1, 5):
        before = as_user(ADMIN).get(f"/webhooks/{hook['id']}/deliveries").json["items"][0]
        due = engine.clock.now()
        waits.append((_at(before["next_attempt_at"]) - due).total_seconds())
        run_webhooks(engine)
        assert len(receiver.received) == attempt               # not due yet: nothing sent
        engine.clock.advance(timedelta(seconds=waits[-1]))
        run_webhooks(engine)
        assert len(receiver.received) == attempt + 1
    assert waits == [settings.webhook_retry_seconds * 2 ** n for n in range(4)]
    assert as_user(ADMIN).get(f"/webhooks/{hook['id']}").json["failures_in_row"] == 5
    # a day later it still fails; after RECALL_WEBHOOK_RETRY_FOR_SECONDS it is given up and the hook disabled
    for _ in range(200):
        engine.clock.advance(timedelta(seconds=settings.webhook_retry_max_seconds))
        run_webhooks(engine)
        if as_user(ADMIN).get(f"/webhooks/{hook['id']}").json["status"] == "disabled":
            break
    state = as_user(ADMIN).get(f"/webhooks/{hook['id']}").json
    assert state["status"] == "disabled" and "failed" in state["disabled_reason"] and state["disabled_at"]
    [given_up] = as_user(ADMIN).get(f"/webhooks/{hook['id']}/deliveries?status=failed").json["items"]
    assert _at(given_up["last_attempt_at"]) - _at(given_up["created_at"]) >= timedelta(days=1)
    with engine.db.read_transaction() as s:
        from engine.models import AuditEvent
        from sqlalchemy import select
        notice = s.scalars(select(AuditEvent).where(AuditEvent.kind == "webhook_disabled")).all()
    assert [n.details["webhook_id"] for n in notice] == [hook["id"]]
    sent = len(receiver.received)
    engine.clock.advance(timedelta(days=1))
    run_webhooks(engine)
    assert len(receiver.received) == sent                      # a disabled hook gets nothing
    # redelivery by hand: refused while disabled, sent once enabled again
    path = f"/webhooks/{hook['id']}/deliveries/{given_up['id']}/redeliver"
    refused = as_user(ADMIN).post(path)
    assert refused.status_code == 409 and "enable it first" in refused.json["detail"]
    enabled = as_user(ADMIN).patch(f"/webhooks/{hook['id']}", json={"active": True})
    assert enabled.json["status"] == "active" and enabled.json["failures_in_row"] == 0
    receiver.status = 204
    again = as_user(ADMIN).post(path)
    assert again.status_code == 202 and again.json["status"] == "pending"
    run_webhooks(engine)
    assert len(receiver.received) == sent + 1 and receiver.events()[-1]["instance_id"] == case
    assert as_user(ADMIN).get(f"/webhooks/{hook['id']}/deliveries").json["items"][0]["status"] == "delivered"
    assert as_user(ADMIN).post(f"/webhooks/{hook['id']}/deliveries/nope/redeliver").status_code == 404


def test_a_redirect_is_not_followed_and_a_deleted_hook_is_gone(api, receiver):
    _, engine, as_user = api
    hook = as_user(ADMIN).post("/webhooks", json={"url": receiver.url, "kinds": ["*"]}).json
    receiver.secret, receiver.status, receiver.location = hook["secret"], 302, receiver.url + "/elsewhere"
    _start(as_user)
    _rounds(engine, lambda: len(receiver.received) >= 2)
    assert {r["path"] for r in receiver.received} == {"/hooks/recall"}
    log = as_user(ADMIN).get(f"/webhooks/{hook['id']}/deliveries").json["items"]
    assert {d["response_status"] for d in log} == {302} and {d["status"] for d in log} == {"pending"}
    rotated = as_user(ADMIN).patch(f"/webhooks/{hook['id']}", json={"rotate_secret": True}).json
    assert rotated["secret"] != hook["secret"]
    assert as_user(ADMIN).delete(f"/webhooks/{hook['id']}").status_code == 204
    assert as_user(ADMIN).get(f"/webhooks/{hook['id']}").status_code == 404
    engine.clock.advance(timedelta(hours=1))
    sent = len(receiver.received)
    run_webhooks(engine)
    assert len(receiver.received) == sent


def _at(text):
    from datetime import datetime
    return datetime.fromisoformat(text)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_every_case_end_reaches_the_receiver_across_a_worker_that_dies_mid_delivery(kind, tmp_path):
    """A real `recall serve` (its embedded worker sends); killed while a delivery is in flight; after a
    restart the delivery is sent again after its lease, and every case end is seen, each id once."""
    from engine.db import Database
    from engine.service import RecallEngine

    env = dict(RECALL_CLOCK="system", RECALL_WEBHOOK_LEASE_SECONDS="2", RECALL_WEBHOOK_RETRY_SECONDS="0.5",
               RECALL_WEBHOOK_TIMEOUT_SECONDS="20")
    receiver = Receiver()
    try:
        with migrated_database(kind, tmp_path) as url:
            engine = RecallEngine(Database(url))
            engine.deploy([WORKFLOWS], actor="process.owner")
            engine.db.dispose()
            admin, ats, hr = (add_user(url, name, role) for name, role in
                              ((ADMIN, "admin"), (ATS, "integrator"), (HR, "hr")))

            def call(server, token, method, path, body=None):
                return http(method, server.base + path, body, headers={"Authorization": f"Bearer {token}"})

            def start_and_cancel(server, n):
                ids = []
                for i in range(n):
                    status, _, candidate = call(server, ats, "POST", "/candidates", {"name": f"重启{i}"})
                    assert status == 201, candidate
                    status, _, case = call(server, ats, "POST", f"/candidates/{candidate['id']}/declines",
                                           {"reason": "salary"})
                    assert status == 201, case
                    status, _, body = call(server, hr, "POST", f"/process-instances/{case['instance_id']}/cancel",
                                           {"reason": "test"})
                    assert status == 200, body
                    ids.append(case["instance_id"])
                return ids

            with Server(url, tmp_path / "serve1.log", **env) as server:
                status, _, hook = call(server, admin, "POST", "/webhooks", {"url": receiver.url, "kinds": ["case.ended"]})
                assert status == 201, hook
                receiver.secret = hook["secret"]
                first = start_and_cancel(server, 2)
                _until(lambda: len(receiver.received) >= 2)
                receiver.delay = 30                             # the next delivery hangs in flight...
                cases = first + start_and_cancel(server, 1)
                _until(lambda: len(receiver.received) >= 3)
                os.kill(server.proc.pid, signal.SIGKILL)        # ...and its worker dies
                server.stop()
            receiver.delay = 0
            with Server(url, tmp_path / "serve2.log", **env) as server:
                cases += start_and_cancel(server, 2)
                ended = lambda: {e["instance_id"] for e in receiver.events() if e["kind"] == "case.ended"}  # noqa: E731
                _until(lambda: ended() >= set(cases), timeout=90)
                log = {}

                def all_delivered():        # the receiver saw it before the worker recorded its answer
                    log.update(call(server, admin, "GET", f"/webhooks/{hook['id']}/deliveries")[2])
                    return len(log["items"]) == 5 and {d["status"] for d in log["items"]} == {"delivered"}
                _until(all_delivered, timeout=30, step=0.2)
        assert all(r["valid"] for r in receiver.received)
        ids = [e["id"] for e in receiver.events()]
        assert len(set(ids)) == len(cases) == 5                 # every case end, each event id once after dedupe
        assert len(ids) >= 6                                    # the one in flight came twice (at least once)
        assert {d["status"] for d in log["items"]} == {"delivered"}
        assert max(d["attempts"] for d in log["items"]) >= 2
    finally:
        receiver.close()
