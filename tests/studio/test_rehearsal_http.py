"""POST /studio/rehearsals and GET /studio/rehearsals/{id} (api/resources/studio_rehearsal.py): a draft
rehearsed in the background against the deployed version; limits named; roles refused (both DBs)."""
from __future__ import annotations

import time
from pathlib import Path

from engine.studio.drafts import from_folder
from tests.support import ADMIN, HR, OWNER

ROOT = Path(__file__).resolve().parents[2]
DAY_90 = 'add_duration(decline_date, "P90D")'
DAY_60 = 'add_duration(decline_date, "P60D")'


def _wait(client, rid, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.get(f"/studio/rehearsals/{rid}")
        assert answer.status_code == 200, answer.json
        if answer.json["status"] in ("done", "failed"):
            return answer.json
        time.sleep(0.2)
    raise AssertionError("the rehearsal did not finish")


def test_a_draft_is_rehearsed_beside_the_deployed_version(api):
    _, _, caller = api
    owner = caller(OWNER)
    files, forms = from_folder(ROOT / "workflows", ROOT / "forms")
    files["offer_recall.bpmn"] = files["offer_recall.bpmn"].replace(DAY_90, DAY_60)
    draft = owner.post("/studio/drafts", json={"title": "day 60", "source": "files", "files": files, "forms": forms})
    assert draft.status_code == 201, draft.json
    started = owner.post("/studio/rehearsals", json={"draft_id": draft.json["id"], "candidates": 4, "days": 120,
                                                     "seed": 3, "reasons": ["salary"]})
    assert started.status_code == 202, started.json
    assert started.json["status"] in ("queued", "running", "done")
    done = _wait(owner, started.json["id"])
    assert done["status"] == "done", done["error"]
    report = done["report"]
    assert report["options"]["reason_mix"] == {"salary": 1}
    assert report["difference"]["calendar"], "day 60 moves tasks to other weeks"
    assert "end_retained" in report["rehearsal"]["never_reached_ends"]
    # someone else (not admin) does not see it; an admin does; HR is refused
    assert caller(ADMIN).get(f"/studio/rehearsals/{started.json['id']}").status_code == 200
    assert caller(HR).get(f"/studio/rehearsals/{started.json['id']}").status_code == 403
    assert caller(HR).post("/studio/rehearsals", json={"draft_id": "deployed"}).status_code == 403


def test_limits_and_strange_input_name_the_field(api):
    _, _, caller = api
    owner = caller(OWNER)
    for body, field in (({"draft_id": "deployed", "candidates": 2001}, "candidates"),
                        ({"draft_id": "deployed", "candidates": 0}, "candidates"),
                        ({"draft_id": "deployed", "days": 5000}, "days"),
                        ({"draft_id": "deployed", "candidates": "many"}, "candidates"),
                        ({"draft_id": "deployed", "seed": 1.5}, "seed"),
                        ({"draft_id": "deployed", "reasons": ["money"]}, "reasons"),
                        ({"draft_id": "deployed", "reply_probabilities": {"follow_up_day_30": 2}},
                         "reply_probabilities"),
                        ({"draft_id": "deployed", "extra": 1}, "extra"), ({}, "draft_id")):
        answer = owner.post("/studio/rehearsals", json=body)
        assert answer.status_code == 422, (body, answer.json)
        assert any(e["field"].startswith(field) for e in answer.json["errors"]), (body, answer.json)
    assert owner.post("/studio/rehearsals", json={"draft_id": "nope"}).status_code == 404
    assert owner.get("/studio/rehearsals/nope").status_code == 404


def test_the_deployed_version_alone(api):
    _, _, caller = api
    owner = caller(OWNER)
    started = owner.post("/studio/rehearsals", json={"draft_id": "deployed", "candidates": 2, "days": 10})
    done = _wait(owner, started.json["id"])
    assert done["status"] == "done", done["error"]
    assert "deployed" not in done["report"] and done["report"]["rehearsal"]["past_timers"] == []
