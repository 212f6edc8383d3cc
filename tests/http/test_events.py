"""Issue 16, events out: GET /events over a real case (SQLite and PostgreSQL): what an integrator
learns, by ids only; cursors, filters, refusals; retention; and a cursor walk that neither skips nor
repeats while transactions commit out of order."""
from __future__ import annotations

import json
import random
import threading
import time
from datetime import timedelta

from engine import events
from engine.webhooks import prune
from tests.support import ADMIN, ATS, HR

NAME, PHONE, DETAIL, REPLY = "事件甲乙", "13912345678", "原公司加薪挽留事件", "我想再聊聊事件"
CONSENT = {"talent_pool_consent": True, "consent_scope": "similar_roles", "consent_expiry": "2027-01-05"}


def _task(as_user, case, element_id):
    [task] = as_user(ADMIN).get(f"/tasks?instance_id={case}&element_id={element_id}").json["items"]
    return task["id"]


def _complete(as_user, case, element_id, **data):
    done = as_user(HR).post(f"/tasks/{_task(as_user, case, element_id)}/complete", json={"data": data})
    assert done.status_code == 200, done.json


def _walk(caller, query="", limit=1000, until=None, cursor=None):
    """Every event after `cursor`, page by page, until `until(events)` holds (PostgreSQL: the feed
    waits for transactions in flight anywhere on the server, other test runs' too); (events, cursor)."""
    seen, deadline = [], time.monotonic() + 60
    while True:
        after = f"&after={cursor}" if cursor else ""
        page = caller.get(f"/events?limit={limit}{query}{after}")
        assert page.status_code == 200, page.json
        seen += page.json["events"]
        cursor = page.json["next_cursor"] or cursor
        if not page.json["has_more"] and (until is None or until(seen)):
            return seen, cursor
        if not page.json["has_more"]:
            assert time.monotonic() < deadline, seen
            time.sleep(0.1)


def _has(kind, instance_id):
    return lambda seen: any(e["kind"] == kind and e["instance_id"] == instance_id for e in seen)


def _start(as_user, name):
    candidate = as_user(ATS).post("/candidates", json={"name": name}).json["id"]
    return as_user(ATS).post(f"/candidates/{candidate}/declines", json={"reason": "salary"}).json["instance_id"]


def _a_whole_case(as_user):
    candidate = as_user(ATS).post("/candidates", json={"name": NAME, "phone": PHONE}).json["id"]
    case = as_user(ATS).post(f"/candidates/{candidate}/declines",
                             json={"reason": "salary", "detail": DETAIL}).json["instance_id"]
    _complete(as_user, case, "archive_decline", decline_reason="salary", decline_detail=DETAIL, **CONSENT)
    assert as_user(ADMIN).post("/testing/clock", json={"advance": "P31D"}).status_code == 200
    assert as_user(HR).post(f"/tasks/{_task(as_user, case, 'follow_up_day_30')}/claim").status_code == 200
    _complete(as_user, case, "follow_up_day_30", outcome="sent", channel="wecom", message_sent="最近好吗 " + NAME)
    replied = as_user(ATS).post("/messages", json={"name": "candidate_replied",
                                                   "correlation": {"candidate_id": candidate},
                                                   "payload": {"text": REPLY}})
    assert replied.status_code == 200, replied.json
    _complete(as_user, case, "assess_reply", outcome="not_interested")
    return candidate, case


def test_an_integrator_follows_a_case_from_start_to_end_by_ids_only(api):
    _, _, as_user = api
    candidate, case = _a_whole_case(as_user)

    walked, last = _walk(as_user(ATS), until=_has("case.ended", case))
    mine = [e for e in walked if e["instance_id"] == case or e["candidate_id"] == candidate]
    kinds = [(e["kind"], e["element_id"]) for e in mine]
    expected = [("case.started", None), ("task.created", "archive_decline"), ("task.completed", "archive_decline"),
                ("consent.changed", None), ("timer.fired", "wait_day_30"), ("task.created", "follow_up_day_30"),
                ("task.claimed", "follow_up_day_30"), ("task.completed", "follow_up_day_30"),
                ("message.delivered", "cadence_reply_received"), ("task.created", "assess_reply"), ("task.completed", "assess_reply"),
                ("case.ended", "end_not_interested")]
    it = iter(kinds)
    assert all(step in it for step in expected), "\n".join(map(str, kinds))   # in order, others between
    started = next(e for e in mine if e["kind"] == "case.started")
    assert started["candidate_id"] == candidate and started["data"]["process_key"] == "offer_recall"
    ended = mine[-1]
    assert ended["kind"] == "case.ended" and ended["data"] == {"status": "completed", "end_event": "end_not_interested"}
    claimed = next(e for e in mine if e["kind"] == "task.claimed")
    assert claimed["data"]["assignee"] == HR and claimed["actor"] == HR
    consent = next(e for e in mine if e["kind"] == "consent.changed")
    assert consent["data"]["status"] == "granted" and consent["candidate_id"] == candidate
    delivered = next(e for e in mine if e["kind"] == "message.delivered")
    assert delivered["data"] == {"name": "candidate_replied"} and delivered["candidate_id"] == candidate
    # ids only: nothing the archive or the answers hold about the person
    text = json.dumps(walked, ensure_ascii=False)
    for personal in (NAME, PHONE, DETAIL, REPLY, "最近好吗"):
        assert personal not in text
    # unique ids, ascending cursors; page by page the same walk
    assert len({e["id"] for e in walked}) == len(walked)
    paged, paged_last = _walk(as_user(ATS), limit=2)
    assert [e["id"] for e in paged] == [e["id"] for e in walked] and paged_last == last
    # nothing new: the same cursor, no events
    again = as_user(ATS).get(f"/events?after={last}").json
    assert again == {"events": [], "next_cursor": last, "has_more": False}
    # a filter: only case ends, and the cursor moves past what it left out
    only = as_user(ADMIN).get("/events?kinds=case.ended,candidate.erased").json
    assert [e["kind"] for e in only["events"]] == ["case.ended"] and only["next_cursor"] == last


def test_the_feed_refuses_what_it_cannot_answer(api):
    _, _, as_user = api
    assert as_user(HR).get("/events").status_code == 403
    bad = as_user(ATS).get("/events?after=yesterday")
    assert bad.status_code == 422 and "after" in json.dumps(bad.json["errors"])
    unknown = as_user(ATS).get("/events?after=0.999999")
    assert unknown.status_code == 422 and unknown.json["errors"][0]["field"] == "after"
    kind = as_user(ATS).get("/events?kinds=case.exploded")
    assert kind.status_code == 422 and "kinds" in json.dumps(kind.json["errors"])
    assert as_user(ATS).get("/events?limit=0").status_code == 422


def test_events_past_the_retention_are_pruned_and_an_older_cursor_is_told(api):
    _, engine, as_user = api
    first = _start(as_user, "旧事件")
    old, old_cursor = _walk(as_user(ATS), until=_has("task.created", first))
    engine.clock.advance(timedelta(days=engine.settings.event_retention_days + 1))
    newer = _start(as_user, "新事件")

    assert prune(engine) >= len(old)

    kept, _ = _walk(as_user(ATS), until=_has("task.created", newer))
    assert {e["instance_id"] for e in kept} == {newer} and first not in json.dumps(kept), kept
    expired = as_user(ATS).get(f"/events?after={old[0]['cursor']}")
    assert expired.status_code == 410 and expired.json["type"].endswith("cursor-expired")
    assert "RECALL_EVENT_RETENTION_DAYS" in expired.json["detail"]
    # the newest pruned event's cursor (a reader that was up to date) goes on without a gap
    resumed = as_user(ATS).get(f"/events?after={old_cursor}")
    assert resumed.status_code == 200 and [e["id"] for e in resumed.json["events"]] == [e["id"] for e in kept]


def _emit(db, tag, *, hold=None):
    with db.write_transaction() as s:
        events.emit(s, "message.expired", at=events_now(), actor="test", data={"name": tag})
        if hold is not None:
            hold()


def events_now():
    from datetime import datetime, timezone
    return datetime.now(timezone.utc)


def test_a_transaction_that_commits_late_is_not_skipped(api):
    """A takes its place first and commits last; B commits meanwhile. A reader must not move past A."""
    _, engine, as_user = api
    db = engine.db
    _emit(db, "before")
    _, start = _walk(as_user(ATS), until=lambda seen: seen)
    inside, release = threading.Event(), threading.Event()
    a = threading.Thread(target=_emit, args=(db, "A"), kwargs={"hold": lambda: (inside.set(), release.wait(30))})
    a.start()
    assert inside.wait(30)
    b = threading.Thread(target=_emit, args=(db, "B"))
    b.start()
    b.join(2)            # PostgreSQL: B commits now; SQLite: B waits for A's write lock
    during = as_user(ATS).get(f"/events?after={start}").json
    assert during["events"] == [] and during["next_cursor"] == start       # not B before A is final
    release.set()
    a.join(30)
    b.join(30)
    after, _ = _walk(as_user(ATS), cursor=start, until=lambda seen: len(seen) >= 2)
    assert [e["data"]["name"] for e in after] == ["A", "B"]


def test_a_cursor_walk_under_concurrent_writers_neither_skips_nor_repeats(api):
    _, engine, as_user = api
    db = engine.db
    _, cursor = _walk(as_user(ATS))
    written: list[str] = []
    lock = threading.Lock()

    def writer(n):
        rng = random.Random(n)
        for i in range(12):
            tag = f"w{n}-{i}"
            _emit(db, tag, hold=lambda: time.sleep(rng.random() * 0.02))
            with lock:
                written.append(tag)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    seen, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline:
        done = not any(t.is_alive() for t in threads)
        page = as_user(ATS).get(f"/events?limit=7&after={cursor}" if cursor else "/events?limit=7").json
        seen += [e["data"]["name"] for e in page["events"]]
        cursor = page["next_cursor"] or cursor
        if done and not page["has_more"] and len(seen) >= len(written):
            break
    assert sorted(seen) == sorted(written) and len(seen) == len(set(seen)) == 72
