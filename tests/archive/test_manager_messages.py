"""Issue 15: the hiring manager holding a hand-off records what the candidate told them through the
same POST /messages an integrator uses, for the candidate of their own hand-off only."""
from __future__ import annotations

from tests.archive.test_recorded_by_people import _at_the_hand_off
from tests.archive.test_api import _complete
from tests.support import MANAGER, OTHER_MANAGER


def test_a_manager_records_for_the_candidate_of_their_hand_off_only(api):
    _, _, as_user = api
    cid, instance_id = _at_the_hand_off(as_user)
    body = {"name": "candidate_replied", "correlation": {"candidate_id": cid},
            "payload": {"text": "周末再打给我", "channel": "phone"}, "message_id": "mgr-call-1"}
    refused = as_user(OTHER_MANAGER).post("/messages", json=body)
    assert refused.status_code == 403 and refused.json["type"].endswith("not-assignee"), refused.json
    first = as_user(MANAGER).post("/messages", json=body)
    assert first.status_code in (200, 202), first.json
    second = as_user(MANAGER).post("/messages", json=body)            # the double click: the first answer again
    assert (second.status_code, second.json) == (first.status_code, first.json)
    assert second.headers.get("Message-Replayed") == "true"
    unknown = as_user(MANAGER).post("/messages", json={**body, "correlation": {"candidate_id": "someone-else"},
                                                       "message_id": "mgr-call-2"})
    assert unknown.status_code == 403
    _complete(as_user, MANAGER, instance_id, "manager_contact_candidate", contact_outcome="ready_for_offer")
    late = as_user(MANAGER).post("/messages", json={**body, "message_id": "mgr-call-3"})
    assert late.status_code == 403                                     # the hand-off is done: no longer theirs
