"""Issue 16, "Sync in" over HTTP: external ids on POST /candidates and declines, the upsert
PUT /candidates/by-external-id/{external_id}, the integrator's scope, and the bulk endpoint over a
real `recall serve` (SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest

from engine import users
from tests.servers import add_user, http, served_workflows
from tests.support import ADMIN, ATS, HR, Caller

PERSON = {"name": "同步HTTP甲", "phone": "13811112222", "email": "sync.http@example.com", "role_applied": "店长"}


def _other_integrator(app, engine):
    _, token = users.add_user(engine.db, "ats.other", "integrator")
    return Caller(app.test_client(), token)


def test_a_second_create_is_409_with_the_existing_id_and_a_resent_decline_is_200(api):
    _, _, as_user = api
    created = as_user(ATS).post("/candidates", json={**PERSON, "external_id": "ATS-1"})
    assert created.status_code == 201 and created.json["external_ids"] == [{"source": ATS, "external_id": "ATS-1"}]
    again = as_user(ATS).post("/candidates", json={**PERSON, "name": "另一个", "external_id": "ATS-1"})
    assert again.status_code == 409 and again.json["type"].endswith(":external-id-exists")
    assert again.json["existing_id"] == created.json["id"]
    assert again.headers["Content-Type"].startswith("application/problem+json")

    path = f"/candidates/{created.json['id']}/declines"
    first = as_user(ATS).post(path, json={"reason": "salary", "external_id": "D-1"})
    resent = as_user(ATS).post(path, json={"reason": "salary", "external_id": "D-1"})   # no Idempotency-Key
    assert first.status_code == 201 and resent.status_code == 200 and resent.json["existing"] is True
    assert {k: resent.json[k] for k in ("decline_id", "instance_id")} == {
        k: first.json[k] for k in ("decline_id", "instance_id")}
    assert len(as_user(HR).get(f"/candidates/{created.json['id']}").json["declines"]) == 1
    bad = as_user(ATS).post("/candidates", json={"name": "x", "external_id": "X", "source": "hris"})
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "source"


def test_put_by_external_id_upserts_and_the_integrator_stays_in_its_scope(api):
    app, engine, as_user = api
    put = as_user(ATS).put("/candidates/by-external-id/ATS-9", json=PERSON)
    assert put.status_code == 201 and put.json["phone"] == PERSON["phone"]      # its own: contact fields
    assert put.headers["Location"].endswith(f"/candidates/{put.json['id']}")
    same = as_user(ATS).put("/candidates/by-external-id/ATS-9", json=PERSON)
    assert same.status_code == 200 and same.json["id"] == put.json["id"]
    assert same.json["updated_at"] == put.json["updated_at"]                    # nothing differed: nothing written
    notes = as_user(ATS).put("/candidates/by-external-id/ATS-9", json={"name": PERSON["name"], "notes": "夜间"})
    assert notes.status_code == 200 and notes.json["notes"] == "夜间" and notes.json["role_applied"] == "店长"
    nameless = as_user(ATS).put("/candidates/by-external-id/ATS-10", json={"phone": "1"})
    assert nameless.status_code == 422 and nameless.json["errors"][0]["field"] == "name"

    other = _other_integrator(app, engine)
    # another integrator's ATS-9 is its own (a new record would be a duplicate person: 409 listing ids only)
    dup = other.put("/candidates/by-external-id/ATS-9", json=PERSON)
    assert dup.status_code == 409 and dup.json["duplicates"][0]["id"] == put.json["id"]
    assert "phone" not in dup.json["duplicates"][0]
    # it may neither change nor erase the first integrator's candidate: not found for it
    assert other.patch(f"/candidates/{put.json['id']}", json={"notes": "x"}).status_code == 404
    assert other.delete(f"/candidates/{put.json['id']}").status_code == 404
    # an HR-made candidate an admin gives it: it changes it but never sees the contact fields
    hr_made = as_user(HR).post("/candidates", json={"name": "人事建HTTP", "phone": "13700009999"}).json["id"]
    assert as_user(ATS).patch(f"/candidates/{hr_made}", json={"notes": "x"}).status_code == 404
    given = as_user(ADMIN).patch(f"/candidates/{hr_made}", json={"external_id": "HR-1", "source": ATS})
    assert given.status_code == 200
    changed = as_user(ATS).put("/candidates/by-external-id/HR-1", json={"name": "人事建HTTP", "notes": "同步"})
    assert changed.status_code == 200 and changed.json["id"] == hr_made
    assert changed.json["contact_visible"] is False and "phone" not in changed.json and "name" not in changed.json
    withdrawn = as_user(ATS).patch(f"/candidates/{hr_made}", json={"consent": {"granted": False}})
    assert withdrawn.status_code == 200 and "phone" not in withdrawn.json
    erased = as_user(ATS).delete(f"/candidates/{hr_made}")
    assert erased.status_code == 200 and erased.json["candidate_id"] == hr_made


def test_bulk_over_the_limit_is_422_naming_it(api):
    _, _, as_user = api
    over = as_user(ATS).post("/candidates/bulk", json={"items": [{"external_id": str(n), "name": "x"}
                                                                 for n in range(501)]})
    assert over.status_code == 422 and over.json["errors"][0]["field"] == "items"
    assert "500" in over.json["errors"][0]["message"]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sync")
    with served_workflows(request.param, tmp) as (server, token):
        yield server, add_user(server.env["RECALL_DATABASE_URL"], "ats.bulk", "integrator"), token


def test_bulk_over_real_http_keeps_the_good_items_and_a_rerun_is_a_no_op(served):
    server, token, hr_token = served
    auth = {"Authorization": f"Bearer {token}"}
    items = [{"external_id": f"N-{n}", "name": f"夜间{n}", "role_applied": "floor-sync",
              "declines": [{"external_id": f"ND-{n}", "reason": "salary", "decline_date": "2026-01-02"}]}
             for n in range(20)]
    items[3]["declines"][0]["reason"] = "not-a-reason"           # refused by the engine
    items[7]["email"] = "not an email"                            # refused by the schema
    status, _, first = http("POST", f"{server.base}/candidates/bulk", {"items": items}, auth)
    assert status == 200, first
    assert first["counts"] == {"created": 18, "updated": 0, "unchanged": 0, "failed": 2}
    assert [r["index"] for r in first["items"]] == list(range(20))
    assert first["items"][3]["problem"]["errors"][0]["field"] == "declines[0].reason"
    assert first["items"][7]["problem"]["status"] == 422
    assert first["items"][7]["problem"]["errors"][0]["field"] == "email"
    assert first["items"][0]["declines"][0]["status"] == "created"

    items[3]["declines"][0]["reason"] = "commute"
    items[7]["email"] = "n7@example.com"
    status, _, second = http("POST", f"{server.base}/candidates/bulk", {"items": items}, auth)
    assert status == 200 and second["counts"] == {"created": 2, "updated": 0, "unchanged": 18, "failed": 0}
    assert [r["id"] for r in second["items"]][:3] == [r["id"] for r in first["items"]][:3]
    assert {d["status"] for r in second["items"] if r["index"] not in (3, 7) for d in r["declines"]} == {"existing"}
    # nothing twice: one case per decline
    status, _, found = http("GET", f"{server.base}/candidates?role=floor-sync&limit=100",
                            headers={"Authorization": f"Bearer {hr_token}"})
    assert status == 200 and len(found["items"]) == 20
    assert all(c["last_decline"] for c in found["items"])


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_server_killed_in_the_middle_of_a_bulk_chunk_leaves_nothing_and_a_rerun_completes_it(kind, tmp_path):
    """RECALL_FAULT_PAUSE=bulk_chunk holds `recall serve` in the middle of a chunk (half the items
    written in its transaction, uncommitted); SIGKILL there. Restarted: none of the call's items
    exists, and the same call then makes each once."""
    import threading
    import time

    from tests.servers import Server

    items = [{"external_id": f"K-{n}", "name": f"中断{n}", "role_applied": "floor-kill",
              "declines": [{"external_id": f"KD-{n}", "reason": "salary", "decline_date": "2026-01-02"}]}
             for n in range(10)]
    with served_workflows(kind, tmp_path, RECALL_FAULT_PAUSE="bulk_chunk:60") as (server, hr_token):
        url = server.env["RECALL_DATABASE_URL"]
        auth = {"Authorization": f"Bearer {add_user(url, 'ats.kill', 'integrator')}"}
        answer: list = []

        def send():
            try:
                answer.append(http("POST", f"{server.base}/candidates/bulk", {"items": items}, auth, timeout=90))
            except OSError as exc:      # the server died under the request: the connection is gone
                answer.append(exc)
        call = threading.Thread(target=send, daemon=True)
        call.start()
        deadline = time.monotonic() + 60
        while "fault-pause bulk_chunk" not in server.log_path.read_text(errors="replace"):
            assert time.monotonic() < deadline, "the bulk call never reached the middle of its chunk"
            time.sleep(0.1)
        server.proc.kill()
        server.stop()
        call.join(30)
        assert len(answer) == 1 and isinstance(answer[0], OSError), answer      # no answer came

        with Server(url, tmp_path / "again.log", RECALL_CLOCK="simulated") as again:
            hr = {"Authorization": f"Bearer {hr_token}"}
            status, _, found = http("GET", f"{again.base}/candidates?role=floor-kill&limit=100", headers=hr)
            assert status == 200 and found["items"] == []
            status, _, first = http("POST", f"{again.base}/candidates/bulk", {"items": items}, auth)
            assert status == 200 and first["counts"]["created"] == 10, first
            status, _, second = http("POST", f"{again.base}/candidates/bulk", {"items": items}, auth)
            assert status == 200 and second["counts"]["unchanged"] == 10, second
            status, _, found = http("GET", f"{again.base}/candidates?role=floor-kill&limit=100", headers=hr)
            assert status == 200 and len(found["items"]) == 10
