"""Issue 16's "Done when": an ATS-like client GENERATED from the served OpenAPI document
(openapi-python-client, tests/http/generated_client.py) drives a real `recall serve` (real HTTP,
its embedded worker, SQLite and PostgreSQL) through a nightly integration, in order:

1. a bulk sync of RECALL_ATS_TEST_COUNT (default 2,000) candidates with a decline each, in calls of
   500, then the same file again: the second run creates nothing; counted through the API;
2. a webhook receiver on localhost (the ATS's own code: it checks `Recall-Signature` as
   docs/integrators.md shows) subscribed to case.ended; a tampered body is refused and the service
   sends it again; cases end on both sides of a restart of `recall serve`; every end arrives at
   least once and, after dedupe by event id, exactly once;
3. cursor walks of GET /events, GET /process-instances and GET /candidates while another thread
   keeps creating, changing and ending things: nothing skipped, nothing twice;
4. a conditional GET: ETag, If-None-Match -> 304; a claim -> 200 with a new ETag;
5. a token rotated with overlap over the API;
6. a burst against a server with a low RECALL_RATE_LIMIT: 429 with Retry-After and RateLimit-*.

The steps share one server per database and build on each other (run the module, not one test).
docs/integrators.md, "Walk-through: a nightly ATS sync", is this file in prose."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler

import httpx
import pytest

from tests.servers import Server, add_user, local_http_server, migrated_database
from tests.support import ADMIN, ATS, HR, WORKFLOWS

COUNT = int(os.environ.get("RECALL_ATS_TEST_COUNT", "2000"))
BATCH = 500                                   # the bulk endpoint's limit per call
ROLE = "ats-nightly-store-manager"            # every synced candidate applied for it: counts by role
ENDED_BEFORE_RESTART, ENDED_AFTER_RESTART, TAMPERED = 6, 6, 2
SERVE_ENV = dict(RECALL_CLOCK="system", RECALL_WEBHOOK_RETRY_SECONDS="0.5", RECALL_WEBHOOK_LEASE_SECONDS="3",
                 RECALL_WEBHOOK_TIMEOUT_SECONDS="2")

pytestmark = pytest.mark.slow


# ---- the ATS's side: its webhook receiver ----------------------------------------------------
def signature_ok(secret: str, header: str, body: bytes, tolerance: float = 300) -> bool:
    """The receiver's own check, as docs/integrators.md shows it (no code of the service)."""
    parts = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
    if not parts.get("t", "").isdigit() or abs(time.time() - int(parts["t"])) > tolerance:
        return False
    mac = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, parts.get("v1", ""))


class AtsReceiver:
    """An http.server on localhost that accepts only correctly signed bodies (2xx), refuses the rest
    (400). `tamper` requests are altered on their way in (one byte of the body), as a forger would."""

    def __init__(self):
        self.secret, self.tamper = "", 0
        self.accepted: list[dict] = []      # every accepted delivery, duplicates included
        self.refused: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with outer.lock:
                    if outer.tamper:
                        outer.tamper -= 1
                        body = body.replace(b'"cancelled"', b'"completed"')
                    ok = signature_ok(outer.secret, self.headers.get("Recall-Signature", ""), body)
                    (outer.accepted if ok else outer.refused).append(
                        {"event_id": self.headers.get("Recall-Event-Id"), "event": json.loads(body)})
                self.send_response(204 if ok else 400)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server, base = local_http_server(Handler)
        self.url = f"{base}/hooks/recall"

    def ended(self) -> dict[str, set[str]]:
        """instance id -> the event ids of its case.ended, after dedupe by event id."""
        with self.lock:
            found: dict[str, set[str]] = {}
            for delivery in self.accepted:
                found.setdefault(delivery["event"]["instance_id"], set()).add(delivery["event_id"])
            return found

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# ---- the service, one per database ----------------------------------------------------------
class Integration:
    """A real `recall serve` on its own database, the users, clients of the generated package, and
    what the steps hand on to the next (`state`)."""

    def __init__(self, url, tmp, gen):
        self.url, self.tmp, self.gen = url, tmp, gen
        self.tokens = {name: add_user(url, name, role) for name, role in
                       ((ADMIN, "admin"), (ATS, "integrator"), (HR, "hr"))}
        self.server: Server | None = None
        self.starts = 0
        self.clients: dict = {}
        self.clients_lock = threading.Lock()       # the changing thread of step 3 asks for clients too
        self.state: dict = {}

    def start(self, **env):
        self.starts += 1
        server = Server(self.url, self.tmp / f"serve{self.starts}.log", **{**SERVE_ENV, **env})
        return server.__enter__()

    def restart(self):
        self.server.stop()
        self.server = self.start()

    def client(self, who: str | None = None, *, server: Server | None = None, token: str | None = None):
        """An AuthenticatedClient of the generated package for `who` (or `token`) on `server`."""
        base = (server or self.server).base.removesuffix("/api/v1")
        key = (base, token or self.tokens[who])
        with self.clients_lock:
            if key not in self.clients:
                self.clients[key] = self.gen.package.AuthenticatedClient(base_url=base, token=key[1],
                                                                         timeout=httpx.Timeout(180.0))
            return self.clients[key]

    def close(self):
        for made in self.clients.values():
            made.get_httpx_client().close()
        if self.server is not None:
            self.server.stop()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def ats(request, tmp_path_factory, generated_client):
    from engine.db import Database
    from engine.service import RecallEngine

    tmp = tmp_path_factory.mktemp(f"ats_{request.param}")
    with migrated_database(request.param, tmp) as url:
        engine = RecallEngine(Database(url))
        engine.deploy([WORKFLOWS], actor="process.owner")
        engine.db.dispose()
        integration = Integration(url, tmp, generated_client)
        receiver = AtsReceiver()
        integration.receiver = receiver
        try:
            integration.server = integration.start()
            yield integration
        finally:
            integration.close()
            receiver.close()


def ok(response, status=200):
    assert response.status_code == status, (response.status_code, response.content[:2000])
    return response.parsed


def until(condition, timeout=120.0, step=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(step)


def walk(fetch, between=None) -> list:
    """Every item of a keyset list: `fetch(after)` answers a page; `between()` runs after each page."""
    items, after = [], None
    while True:
        page = fetch(after)
        items += page.items
        if between:
            between()
        if not page.next_cursor:
            return items
        after = page.next_cursor


def _candidates(ats, who, limit=200, **query):
    listing = ats.gen.op("candidates.list_candidates")
    client, unset = ats.client(who), ats.gen.types.UNSET
    return lambda after: ok(listing.sync_detailed(client=client, role=ROLE, limit=limit, after=after or unset,
                                                  **query))


def _cases(ats, who, limit=200, **query):
    listing = ats.gen.op("process_instances.list_process_instances")
    client, unset = ats.client(who), ats.gen.types.UNSET
    return lambda after: ok(listing.sync_detailed(client=client, process_key="offer_recall", limit=limit,
                                                  after=after or unset, **query))


def _items(first: int, count: int) -> list[dict]:
    return [{"external_id": f"ats-{n:05d}", "name": f"夜间候选人{n}", "role_applied": ROLE,
             "phone": f"1390{n:07d}", "tags": ["nightly"],
             "declines": [{"external_id": f"ats-{n:05d}-d1", "reason": "salary", "decline_date": "2026-11-02"}]}
            for n in range(first, first + count)]


def _sync(ats, client, items) -> list:
    bulk = ats.gen.op("candidates.sync_candidates_in_bulk")
    results = []
    for start in range(0, len(items), BATCH):
        chunk = items[start:start + BATCH]
        answer = ok(bulk.sync_detailed(client=client, body=ats.gen.models.BulkIn.from_dict({"items": chunk})))
        assert [r.index for r in answer.items] == list(range(len(chunk)))
        results += answer.items
    return results


# ---- 1. the nightly bulk sync, twice ---------------------------------------------------------
def test_1_a_bulk_sync_of_the_whole_file_twice_creates_everything_once(ats):
    client = ats.client(ATS)
    items = _items(0, COUNT)
    timings = []
    began = time.monotonic()
    first = _sync(ats, client, items)
    timings.append(time.monotonic() - began)
    assert {r.status.value for r in first} == {"created"} and all(r.problem is None for r in first)
    assert {d.status.value for r in first for d in r.declines} == {"created"}
    cases = {r.external_id: r.declines[0].instance_id for r in first}
    assert len(set(cases.values())) == COUNT

    began = time.monotonic()
    second = _sync(ats, client, items)
    timings.append(time.monotonic() - began)
    assert {r.status.value for r in second} == {"unchanged"}
    assert {d.status.value for r in second for d in r.declines} == {"existing"}
    assert {r.external_id: r.declines[0].instance_id for r in second} == cases       # the same cases, no new one
    assert [r.id for r in second] == [r.id for r in first]

    # counted through the API: exactly COUNT candidates of source `ats`, COUNT cases started
    page = ok(ats.gen.op("candidates.list_candidates").sync_detailed(
        client=ats.client(HR), role=ROLE, count=ats.gen.models.ListCandidatesCount.EXACT, limit=1))
    assert page.total == COUNT
    synced = walk(_candidates(ats, HR, sort=ats.gen.models.ListCandidatesSort.CREATED_AT))
    ids = {r.external_id: r.id for r in first}
    assert sorted(c.id for c in synced) == sorted(ids.values())
    read = ats.gen.op("candidates.get_candidate")
    for external_id in (items[0]["external_id"], items[-1]["external_id"]):     # lists leave external ids out
        one = ok(read.sync_detailed(ids[external_id], client=ats.client(HR)))
        assert [(e["source"], e["external_id"]) for e in one.to_dict()["external_ids"]] == [(ATS, external_id)]
    started = walk(_cases(ats, ATS))
    assert sorted(c.id for c in started) == sorted(cases.values())
    ats.state.update(cases=cases, candidates=ids, timings=timings)
    print(f"\nbulk sync of {COUNT}: first run {timings[0]:.1f} s, re-run {timings[1]:.1f} s")


# ---- 2. webhooks across a restart -----------------------------------------------------------
def _cancel(ats, instance_ids, reason):
    cancel = ats.gen.op("process_instances.cancel_process_instance")
    hr = ats.client(HR)
    for instance_id in instance_ids:
        ended = ok(cancel.sync_detailed(instance_id, client=hr, body=ats.gen.models.CancelInstance(reason=reason)))
        assert ended.status.value == "cancelled"


def test_2_every_case_end_reaches_the_signature_checking_receiver_once_across_a_restart(ats):
    gen, receiver = ats.gen, ats.receiver
    made = ok(gen.op("webhooks.create_webhook").sync_detailed(client=ats.client(ADMIN), body=gen.models.WebhookIn(
        url=receiver.url, kinds=[gen.models.WebhookInKindsItem.CASE_ENDED], description="ATS nightly")), 201)
    assert made.secret.startswith("whsec_")
    receiver.secret, receiver.tamper = made.secret, TAMPERED
    ats.state["webhook_id"] = made.id
    ordered = sorted(ats.state["cases"].values())
    before = ordered[:ENDED_BEFORE_RESTART]
    after = ordered[ENDED_BEFORE_RESTART:ENDED_BEFORE_RESTART + ENDED_AFTER_RESTART]

    _cancel(ats, before, "position filled in the ATS")
    ats.restart()                                   # `recall serve` stopped and started on the same database
    _cancel(ats, after, "position filled in the ATS")

    ended = before + after
    until(lambda: set(receiver.ended()) >= set(ended), what="every case end at the receiver")
    deliveries = gen.op("webhooks.list_webhook_deliveries")

    def all_delivered():
        log = ok(deliveries.sync_detailed(made.id, client=ats.client(ADMIN), limit=200)).items
        ats.state["deliveries"] = log
        return len(log) == len(ended) and {d.status for d in log} == {"delivered"}
    until(all_delivered, what="the delivery log to show every delivery done")

    seen = receiver.ended()
    assert set(seen) == set(ended)                                   # none lost, nothing else
    assert all(len(ids) == 1 for ids in seen.values())               # each case end once after dedupe
    accepted = receiver.accepted
    assert len(accepted) >= len(ended)                               # at least once (duplicates allowed)
    assert all(a["event"]["kind"] == "case.ended" and a["event"]["data"]["status"] == "cancelled" and
               a["event"]["id"] == a["event_id"] for a in accepted)
    # the tampered bodies were refused, and the service sent them again, intact
    assert len(receiver.refused) == TAMPERED
    again = {r["event_id"] for r in receiver.refused}
    assert again <= {a["event_id"] for a in accepted}
    log = {d.event_id: d for d in ats.state["deliveries"]}
    assert all(log[event_id].attempts >= 2 for event_id in again)
    hook = ok(gen.op("webhooks.get_webhook").sync_detailed(made.id, client=ats.client(ADMIN)))
    assert hook.status == "active" and hook.failures_in_row == 0
    print(f"\nwebhooks: {len(accepted)} accepted deliveries for {len(ended)} case ends "
          f"({len(accepted) - len(ended)} duplicates), {len(receiver.refused)} tampered refused")


# ---- 3. cursor walks under concurrent changes ------------------------------------------------
class Changer:
    """Another thread that keeps changing things until stopped: syncs new candidates (each starts
    a case), updates synced ones (PUT by external id), ends cases and claims tasks. It records
    which pre-existing cases it ended."""

    def __init__(self, ats, targets: list[str]):
        self.ats, self.targets = ats, list(targets)
        self.ended: set[str] = set()
        self.new: list[str] = []
        self.rounds = 0
        self.failure: BaseException | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        gen, ats = self.ats.gen, self.ats
        client, hr = ats.client(ATS), ats.client(HR)
        upsert = gen.op("candidates.upsert_candidate_by_external_id")
        cancel = gen.op("process_instances.cancel_process_instance")
        tasks, claim = gen.op("tasks.list_tasks"), gen.op("tasks.claim_task")
        try:
            while not self.stopping.is_set():
                n = COUNT + 100 + self.rounds
                self.new += [r.declines[0].instance_id for r in _sync(ats, client, _items(n, 1))]
                changed = upsert.sync_detailed(f"ats-{self.rounds % COUNT:05d}", client=client,
                                               body=gen.models.Upsert.from_dict(
                                                   {"name": f"夜间候选人{self.rounds % COUNT}",
                                                    "notes": f"changed in round {self.rounds}"}))
                assert changed.status_code == 200, changed.content
                if self.targets:
                    victim = self.targets.pop()
                    ok(cancel.sync_detailed(victim, client=hr, body=gen.models.CancelInstance(reason="walk")))
                    self.ended.add(victim)
                if self.targets:
                    ready = ok(tasks.sync_detailed(client=hr, instance_id=self.targets[0])).items
                    if ready and not ready[0].assignee:
                        ok(claim.sync_detailed(ready[0].id, client=hr))
                self.rounds += 1
        except BaseException as exc:         # noqa: BLE001 — handed to the test, which fails with it
            self.failure = exc

    def another_round(self):
        """Waits until the thread has made one more round of changes."""
        seen = self.rounds
        until(lambda: self.rounds > seen or self.failure is not None, timeout=60, step=0.01,
              what="a round of changes")

    def stop(self):
        self.stopping.set()
        self.thread.join(120)
        if self.failure is not None:
            raise self.failure


class FeedWalker:
    """The ATS's event consumer: a page of GET /events at a time from a cursor it keeps."""

    def __init__(self, ats, cursor=None, limit=5):
        self.listing, self.client = ats.gen.op("events.list_events"), ats.client(ATS)
        self.unset, self.cursor, self.limit = ats.gen.types.UNSET, cursor, limit
        self.events: list = []

    def step(self) -> bool:
        """One page; True when the feed had more at once."""
        page = ok(self.listing.sync_detailed(client=self.client, after=self.cursor or self.unset, limit=self.limit))
        self.events += page.events
        self.cursor = page.next_cursor or self.cursor
        return page.has_more

    def until_quiet(self) -> "FeedWalker":
        while self.step():
            pass
        return self


def test_3_cursor_walks_neither_skip_nor_repeat_while_another_thread_keeps_changing_things(ats):
    start = FeedWalker(ats, limit=1000).until_quiet().cursor
    ended_already = set(sorted(ats.state["cases"].values())[:ENDED_BEFORE_RESTART + ENDED_AFTER_RESTART])
    running = [c for c in sorted(ats.state["cases"].values()) if c not in ended_already]
    feed = FeedWalker(ats, start)
    changer = Changer(ats, running[len(running) // 2:][-40:])   # it ends up to 40 of them while we walk
    ats.state["untouched"] = running[0]
    try:
        until(lambda: changer.rounds >= 2, what="the changer to get going")
        # the lists page by page (about ten pages each); between two pages a page of the event feed,
        # and at least one more round of changes
        def between():
            feed.step()
            changer.another_round()
        limit = min(200, max(5, COUNT // 10))
        cases = walk(_cases(ats, ATS, limit, status="running,waiting"), between=between)
        candidates = walk(_candidates(ats, HR, limit, sort=ats.gen.models.ListCandidatesSort.CREATED_AT),
                          between=between)
        rounds_during = changer.rounds
    finally:
        changer.stop()
    assert rounds_during >= 10, "the walks were over before the other thread changed much: the check is void"

    # the feed: on to everything the other thread did (PostgreSQL serves an event once no older
    # transaction is open), then the same walk again, quietly, from the same cursor
    def caught_up():
        feed.until_quiet()
        ended = {e.instance_id for e in feed.events if e.kind == "case.ended"}
        started = {e.instance_id for e in feed.events if e.kind == "case.started"}
        return changer.ended <= ended and set(changer.new) <= started
    until(caught_up, timeout=60, what="the feed to show every change of the other thread")
    quiet = [e.id for e in FeedWalker(ats, start, limit=1000).until_quiet().events]
    walked = [e.id for e in feed.until_quiet().events]
    assert len(walked) == len(set(walked)), "an event came twice"
    # the walk made during the changes went on after the quiet one: it holds it whole, in order
    assert walked[:len(quiet)] == quiet, "the walk made during the changes skipped or reordered events"
    # the same walk for two kinds only, as the generated client sends them (kinds=a&kinds=b)
    kinds = [ats.gen.models.ListEventsKindsItem.CASE_STARTED, ats.gen.models.ListEventsKindsItem.CASE_ENDED]
    page = ok(ats.gen.op("events.list_events").sync_detailed(client=ats.client(ATS), after=start, kinds=kinds,
                                                             limit=1000))
    assert [e.id for e in page.events] == [e.id for e in feed.events if e.kind in kinds][:len(page.events)]
    assert {e.kind for e in page.events} == set(kinds)

    # the keyset lists: no row twice; every row that matched throughout, once
    case_ids = [c.id for c in cases]
    assert len(case_ids) == len(set(case_ids)), "a case came twice"
    assert set(running) - changer.ended <= set(case_ids), "a case running throughout was skipped"
    assert not set(case_ids) & ended_already
    candidate_ids = [c.id for c in candidates]
    assert len(candidate_ids) == len(set(candidate_ids)), "a candidate came twice"
    assert set(ats.state["candidates"].values()) <= set(candidate_ids), "a synced candidate was skipped"
    print(f"\ncursor walks: {len(walked)} events, {len(case_ids)} cases, {len(candidate_ids)} candidates "
          f"while the other thread made {rounds_during} rounds ({len(changer.ended)} cases ended)")


# ---- 4. conditional reads --------------------------------------------------------------------
def test_4_a_conditional_get_is_304_until_a_claim_changes_the_case(ats):
    gen = ats.gen
    get = gen.op("process_instances.get_process_instance")
    client = ats.client(ATS)
    case = ats.state["untouched"]                               # a case the steps before left alone
    first = get.sync_detailed(case, client=client)
    ok(first)
    etag = first.headers["ETag"]
    unchanged = get.sync_detailed(case, client=client, if_none_match=etag)
    assert unchanged.status_code == 304 and unchanged.content == b"" and unchanged.headers["ETag"] == etag
    [task] = ok(gen.op("tasks.list_tasks").sync_detailed(client=ats.client(HR), instance_id=case)).items
    claimed = ok(gen.op("tasks.claim_task").sync_detailed(task.id, client=ats.client(HR)))
    assert claimed.assignee == HR
    changed = get.sync_detailed(case, client=client, if_none_match=etag)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert changed.parsed.updated_at > first.parsed.updated_at
    assert get.sync_detailed(case, client=client, if_none_match=changed.headers["ETag"]).status_code == 304


# ---- 5. token rotation -----------------------------------------------------------------------
def test_5_a_token_rotated_over_the_api_overlaps_then_the_old_one_is_refused(ats):
    gen, admin = ats.gen, ats.client(ADMIN)
    listing = gen.op("users.list_user_tokens")
    whoami = gen.op("users.get_current_user")
    [old] = ok(listing.sync_detailed(ATS, client=admin)).items
    made = ok(gen.op("users.create_user_token").sync_detailed(ATS, client=admin, body=gen.models.NewToken(
        name="ats-2027-01")), 201)
    old_client, new_client = ats.client(ATS), ats.client(token=made.token)
    assert ok(whoami.sync_detailed(client=old_client)).name == ATS                  # both work
    assert ok(whoami.sync_detailed(client=new_client)).name == ATS
    assert sorted(t.name for t in ok(listing.sync_detailed(ATS, client=admin)).items) == ["ats-2027-01", old.name]
    ok(gen.op("users.revoke_user_token").sync_detailed(ATS, old.id, client=admin), 204)
    refused = whoami.sync_detailed(client=old_client)
    assert refused.status_code == 401 and refused.parsed.type_.endswith(":unauthorized")
    assert ok(whoami.sync_detailed(client=new_client)).name == ATS
    ats.tokens[ATS] = made.token


# ---- 6. rate limit ---------------------------------------------------------------------------
def test_6_a_burst_over_the_rate_limit_gets_429_with_retry_after_and_ratelimit_headers(ats):
    gen = ats.gen
    listing = gen.op("process_instances.list_process_instances")
    with Server(ats.url, ats.tmp / "limited.log", **SERVE_ENV, RECALL_RATE_LIMIT="20/hour",
                RECALL_EMBEDDED_WORKER="0") as limited:
        base, burst = limited.base.removesuffix("/api/v1"), 30
        barrier = threading.Barrier(burst)

        def one(_):
            with gen.package.AuthenticatedClient(base_url=base, token=ats.tokens[ATS]) as client:
                barrier.wait()
                return listing.sync_detailed(client=client, limit=1)

        with ThreadPoolExecutor(burst) as pool:
            answers = list(pool.map(one, range(burst)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 20 + [429] * 10, statuses
    for answer in answers:
        assert answer.headers["RateLimit-Limit"] == "20"
        assert 0 <= int(answer.headers["RateLimit-Remaining"]) <= 19
        assert 1 <= int(answer.headers["RateLimit-Reset"]) <= 3600
        if answer.status_code == 429:
            assert 1 <= int(answer.headers["Retry-After"]) <= 3600 and answer.headers["RateLimit-Remaining"] == "0"
            assert answer.parsed.type_.endswith(":rate-limited") and answer.parsed.status == 429
