"""Keyset lists (issue 16): a walk with `after` cursors neither skips nor repeats a row while another
thread starts, changes and ends rows between pages; offset paging (deprecated) skips in the same walk.
Also multi-value status, updated_after, sort, expand and the cursor's errors."""
from __future__ import annotations

import queue
import threading
from urllib.parse import urlsplit

from tests.support import ADMIN, ATS, HR, PREFIX, Caller, start_approval

PAGE = 4


class Writer:
    """Another thread that makes one round of changes each time the walker turns a page."""

    def __init__(self, round_of_changes):
        self.rounds: queue.Queue = queue.Queue()
        self.done: queue.Queue = queue.Queue()
        self.round_of_changes = round_of_changes
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while (seen := self.rounds.get()) is not None:
            try:
                self.round_of_changes(seen)
                self.done.put(None)
            except BaseException as exc:     # handed to the walker, which fails with it
                self.done.put(exc)

    def after_page(self, seen: list[dict]) -> None:
        self.rounds.put(seen)
        failure = self.done.get(timeout=60)
        if failure is not None:
            raise failure

    def stop(self):
        self.rounds.put(None)
        self.thread.join(timeout=60)


def walk(caller, path: str, writer: Writer) -> list[dict]:
    """Every item of a list, following `next`, with a round of the writer's changes after each page."""
    items: list[dict] = []
    while path:
        response = caller.get(path)
        assert response.status_code == 200, response.json
        items.extend(response.json["items"])
        writer.after_page(items)
        following = response.json["next"]
        path = following and following.removeprefix(PREFIX)
        if following:
            assert urlsplit(following).path.startswith(PREFIX)
    return items


def test_an_instance_walk_neither_skips_nor_repeats_while_cases_start_change_and_end(app, tokens, as_user):
    hr, admin = as_user(HR), as_user(ADMIN)
    before = [start_approval(hr, f"c-k{n}") for n in range(18)]
    writer_hr = Caller(app.test_client(), tokens[HR])
    writer_admin = Caller(app.test_client(), tokens[ADMIN])
    started, cancelled = [], set()

    def changes(seen):
        # a new case, a claim (a change that leaves the status alone) and a case seen already ended
        started.append(start_approval(writer_hr, f"c-new{len(started)}")["id"])
        unseen = [i for i in before if i["id"] not in {s["id"] for s in seen} and i["id"] not in cancelled]
        if unseen:
            assert writer_hr.post(f"/tasks/{unseen[-1]['ready_tasks'][0]['id']}/claim").status_code == 200
        ended = next((s["id"] for s in seen if s["id"] not in cancelled), None)
        if ended is not None:
            assert writer_admin.post(f"/process-instances/{ended}/cancel", json={}).status_code == 200
            cancelled.add(ended)

    writer = Writer(changes)
    try:
        items = walk(admin, f"/process-instances?status=running,error&limit={PAGE}", writer)
        ids = [i["id"] for i in items]
        assert len(ids) == len(set(ids)), "a row came twice"
        assert {i["id"] for i in before} <= set(ids), "a row that matched throughout was skipped"
        assert set(ids) <= {i["id"] for i in before} | set(started)
    finally:
        writer.stop()
    # the same walk by offset skips the rows that moved up when a row seen before left the filter
    admin.post("/testing/clock", json={"advance": "PT1M"})
    mark = admin.get("/testing/clock").json["now"]
    admin.post("/testing/clock", json={"advance": "PT1M"})
    again = [start_approval(hr, f"c-o{n}")["id"] for n in range(12)]
    ended: set[str] = set()

    def end_one_seen(seen):
        first = next(s["id"] for s in seen if s["id"] not in ended)
        assert writer_admin.post(f"/process-instances/{first}/cancel", json={}).status_code == 200
        ended.add(first)

    writer = Writer(end_one_seen)
    try:
        offset_walk = walk(admin, f"/process-instances?status=running&updated_after={mark.replace('+', '%2B')}"
                                  f"&limit={PAGE}&offset=0", writer)
        assert not set(again) <= {i["id"] for i in offset_walk}, "offset paging kept every row: the check is void"
        ended.clear()
        keyset_walk = walk(admin, f"/process-instances?status=running&updated_after={mark.replace('+', '%2B')}"
                                  f"&limit={PAGE}", writer)
        assert set(again) - {i["id"] for i in offset_walk} <= {i["id"] for i in keyset_walk}
    finally:
        writer.stop()


def test_a_candidate_walk_neither_skips_nor_repeats_while_candidates_are_added_and_changed(app, tokens, as_user):
    hr = as_user(HR)
    before = [hr.post("/candidates", json={"name": f"Walk {n}", "tags": ["pool"]}).json["id"] for n in range(14)]
    writer_hr = Caller(app.test_client(), tokens[HR])
    added: list[str] = []

    def changes(seen):
        added.append(writer_hr.post("/candidates", json={"name": f"New {len(added)}", "tags": ["pool"]}).json["id"])
        # a candidate seen already leaves the filter, one not seen yet changes (its updated_at too)
        seen_ids = [s["id"] for s in seen if s["id"] in before]
        if seen_ids:
            assert writer_hr.patch(f"/candidates/{seen_ids[0]}", json={"tags": []}).status_code == 200
            before.remove(seen_ids[0])
        unseen = [i for i in before if i not in {s["id"] for s in seen}]
        if unseen:
            assert writer_hr.patch(f"/candidates/{unseen[-1]}", json={"notes": "changed"}).status_code == 200

    writer = Writer(changes)
    try:
        everyone = list(before)
        for sort in ("created_at", "-created_at", "-listed_at"):
            before[:] = list(everyone)
            for i in everyone:
                hr.patch(f"/candidates/{i}", json={"tags": ["pool"]})
            items = walk(hr, f"/candidates?tag=pool&sort={sort}&limit={PAGE}", writer)
            ids = [i["id"] for i in items]
            assert len(ids) == len(set(ids)), (sort, "a row came twice")
            assert set(everyone) <= set(ids), (sort, "a row that matched throughout was skipped")
    finally:
        writer.stop()


def test_updated_after_sort_and_a_sync_by_updated_at(as_user):
    hr, admin = as_user(HR), as_user(ADMIN)
    first = [start_approval(hr, f"c-u{n}")["id"] for n in range(3)]
    mark = admin.get("/testing/clock").json["now"]
    admin.post("/testing/clock", json={"advance": "PT1M"})
    later = start_approval(hr, "c-u3")["id"]
    changed = admin.get(f"/process-instances/{first[0]}").json["ready_tasks"][0]["id"]
    admin.post("/testing/clock", json={"advance": "PT1M"})
    assert hr.post(f"/tasks/{changed}/claim").status_code == 200
    since = admin.get("/process-instances", query_string={"updated_after": mark, "sort": "updated_at"}).json
    assert [i["id"] for i in since["items"]] == [later, first[0]]        # a claim is a change of its case
    newest = admin.get("/process-instances?sort=-created_at&limit=1").json
    assert newest["items"][0]["id"] == later and newest["next_cursor"]
    # candidates: changed after a moment
    old = hr.post("/candidates", json={"name": "Old One"}).json["id"]
    mark = admin.get("/testing/clock").json["now"]
    admin.post("/testing/clock", json={"advance": "PT1M"})
    new = hr.post("/candidates", json={"name": "New One"}).json["id"]
    found = hr.get("/candidates", query_string={"updated_after": mark}).json
    assert [c["id"] for c in found["items"]] == [new] and found["total"] == 1
    admin.post("/testing/clock", json={"advance": "PT1M"})
    hr.patch(f"/candidates/{old}", json={"notes": "again"})
    found = hr.get("/candidates", query_string={"updated_after": mark, "sort": "updated_at"}).json
    assert [c["id"] for c in found["items"]] == [new, old]


def test_refused_paging_names_the_field(as_user):
    admin, hr = as_user(ADMIN), as_user(HR)
    for n in range(3):
        start_approval(hr, f"c-r{n}")
    cursor = admin.get("/process-instances?limit=1").json["next_cursor"]
    for path, field in ((f"/process-instances?after={cursor}&offset=2", "after"),
                        ("/process-instances?after=bm90LWEtY3Vyc29y", "after"),
                        (f"/process-instances?after={cursor}&sort=-updated_at", "after"),
                        ("/process-instances?updated_after=2026-01-05T09:00:00", "updated_after"),
                        ("/process-instances?status=running,sleeping", "status"),
                        ("/process-instances?expand=everything", "expand"),
                        ("/process-instances?sort=business_key", "sort"),
                        ("/candidates?after=%25%25", "after"),
                        ("/candidates?sort=name", "sort")):
        refused = (hr if path.startswith("/candidates") else admin).get(path)
        assert refused.status_code == 422, path
        assert field in {e["field"].split(".")[0] for e in refused.json["errors"]}, (path, refused.json)


def test_expand_gives_a_status_screen_in_one_call(as_user):
    hr, admin = as_user(HR), as_user(ADMIN)
    candidate = hr.post("/candidates", json={"name": "Sun Screen"}).json["id"]
    case = start_approval(hr, candidate, business_key=candidate)
    start_approval(hr, "c-no-candidate", business_key="ext-77")
    listed = admin.get("/process-instances?expand=ready_tasks,candidate").json["items"]
    by_id = {i["id"]: i for i in listed}
    mine = by_id[case["id"]]
    assert [t["element_id"] for t in mine["ready_tasks"]] == ["review"]
    assert mine["candidate"] == {"id": candidate, "name": "Sun Screen"}
    assert next(i for i in listed if i["business_key"] == "ext-77")["candidate"] is None
    # an integrator sees the candidate's id, not its name; a plain list has neither
    ats_view = {i["id"]: i for i in as_user(ATS).get("/process-instances?expand=candidate").json["items"]}
    assert ats_view[case["id"]]["candidate"] == {"id": candidate}
    plain = admin.get("/process-instances").json["items"][0]
    assert "ready_tasks" not in plain and "candidate" not in plain
