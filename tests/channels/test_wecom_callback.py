"""WeCom's callback URL over real HTTP (the app served by werkzeug on a free port), called by the fake
WeCom exactly as WeCom calls it (signed, AES-encrypted XML), on both databases: the URL check, a new
contact becoming a signal on the right candidate (by QR state, by phone, by HR's hand), a repeated
event changing nothing twice, deletion, bad signatures refused and audited without their payload,
WeCom's API down (503, WeCom retries), erasure taking the links with the person."""
from __future__ import annotations

import pytest
from sqlalchemy import select, text

from engine.channels import settings as channel_settings
from engine.channels.wecom import NAME
from engine.channels.wecom_models import CandidateWecomContact, CandidateWecomState
from engine.models import AuditEvent
from tests.channels.wecom_support import served_with_wecom
from tests.fakes.wecom_server import FakeWeCom
from tests.support import ADMIN, HR, MANAGER

CONSENT = {"granted": True, "scope": "similar_roles", "expires_at": "2027-06-30"}
PATH = "/api/v1/channels/wecom/callback"


@pytest.fixture
def served(database_url):
    """(base URL of the served app, engine, caller factory, fake WeCom) with WeCom configured."""
    with served_with_wecom(database_url) as served:
        yield served.base, served.engine, served.caller, served.wecom


def _candidate(caller, **fields) -> str:
    answer = caller(HR).post("/candidates", json={"name": "王伟", "consent": CONSENT, **fields})
    assert answer.status_code == 201, answer.json
    return answer.json["id"]


def _signals(caller, cid) -> list[str]:
    return [s["kind"] for s in caller(HR).get(f"/candidates/{cid}").json["signals"]]


def _contacts(engine) -> list[CandidateWecomContact]:
    with engine.db.read_transaction() as s:
        rows = s.scalars(select(CandidateWecomContact).order_by(CandidateWecomContact.id)).all()
        s.expunge_all()
        return rows


def _refusals(engine) -> list[dict]:
    with engine.db.read_transaction() as s:
        return [e.details for e in s.scalars(select(AuditEvent).where(AuditEvent.kind == "wecom_callback_refused"))]


def test_the_url_check_answers_the_decrypted_echo(served):
    base, engine, _, wecom = served
    status, body = wecom.check_url(base + PATH)
    assert (status, body) == (200, wecom.echo)
    status, body = wecom.check_url(base + PATH, signature="0" * 40)
    assert status == 403 and wecom.echo not in body
    assert _refusals(engine) == [{"reason": "signature", "step": "url_check", "address": "127.0.0.1"}]


def test_a_contact_added_by_the_candidates_qr_code_becomes_a_signal_on_that_candidate(served):
    base, engine, caller, wecom = served
    cid, other = _candidate(caller), _candidate(caller, name="李雷")
    state = caller(HR).post("/channels/wecom/states", json={"candidate_id": cid}).json["state"]
    assert caller(HR).post("/channels/wecom/states", json={"candidate_id": cid}).json["state"] == state
    assert cid not in state and len(state) <= 30
    wecom.add_contact("wm-wang", follow_userid="li.na", name="王伟", state=state)
    assert wecom.post_callback(base + PATH, "add_external_contact", external_userid="wm-wang", userid="li.na",
                               state=state) == (200, "success")
    assert _signals(caller, cid) == ["wecom_contact_added"] and _signals(caller, other) == []
    assert caller(HR).get(f"/candidates/{cid}").json["wecom_external_id"] == "wm-wang"
    [row] = _contacts(engine)
    assert (row.candidate_id, row.matched_by, row.follow_userid, row.name) == (cid, "state", "li.na", None)
    # WeCom sends an event again when it thinks we did not answer: nothing happens twice
    assert wecom.post_callback(base + PATH, "add_external_contact", external_userid="wm-wang", userid="li.na",
                               state=state) == (200, "success")
    assert _signals(caller, cid) == ["wecom_contact_added"] and len(_contacts(engine)) == 1


def test_a_contact_is_matched_by_the_phone_in_the_employees_remark(served):
    base, engine, caller, wecom = served
    cid = _candidate(caller, phone="+86 138-0000-1111")
    _candidate(caller, name="别人", phone="13900002222")
    wecom.add_contact("wm-phone", follow_userid="li.na", remark_mobiles=("0086 13800001111",))
    assert wecom.post_callback(base + PATH, "add_external_contact", external_userid="wm-phone",
                               userid="li.na")[0] == 200
    assert [(r.candidate_id, r.matched_by) for r in _contacts(engine)] == [(cid, "phone")]
    assert _signals(caller, cid) == ["wecom_contact_added"]


def test_an_unmatched_contact_waits_for_hr_to_link_it_by_hand(served):
    base, engine, caller, wecom = served
    cid = _candidate(caller)
    wecom.add_contact("wm-unknown", follow_userid="li.na", name="微信昵称")
    assert wecom.post_callback(base + PATH, "add_external_contact", external_userid="wm-unknown",
                               userid="li.na")[0] == 200
    assert _signals(caller, cid) == []
    [waiting] = caller(HR).get("/channels/wecom/contacts").json["items"]
    assert (waiting["external_userid"], waiting["name"], waiting["candidate_id"]) == ("wm-unknown", "微信昵称", None)
    assert caller(MANAGER).get("/channels/wecom/contacts").status_code == 403
    linked = caller(HR).post(f"/channels/wecom/contacts/{waiting['id']}/link", json={"candidate_id": cid})
    assert linked.status_code == 200 and (linked.json["candidate_id"], linked.json["matched_by"]) == (cid, "hand")
    assert linked.json["name"] is None
    assert _signals(caller, cid) == ["wecom_contact_added"]
    assert caller(HR).get("/channels/wecom/contacts").json["items"] == []
    again = caller(HR).post(f"/channels/wecom/contacts/{waiting['id']}/link", json={"candidate_id": cid})
    assert again.status_code == 200 and _signals(caller, cid) == ["wecom_contact_added"]     # nothing twice
    other = _candidate(caller, name="另一个人")
    moved = caller(HR).post(f"/channels/wecom/contacts/{waiting['id']}/link", json={"candidate_id": other})
    assert moved.status_code == 409 and "another candidate" in moved.json["detail"]
    assert caller(HR).post("/channels/wecom/contacts/999999/link", json={"candidate_id": cid}).status_code == 404


def test_a_deletion_marks_the_link_removed_and_becomes_a_signal_once(served):
    base, engine, caller, wecom = served
    cid = _candidate(caller, phone="13800001111")
    wecom.add_contact("wm-gone", follow_userid="li.na", remark_mobiles=("13800001111",))
    wecom.post_callback(base + PATH, "add_external_contact", external_userid="wm-gone", userid="li.na")
    wecom.remove_contact("wm-gone", "li.na")
    for _ in range(2):
        assert wecom.post_callback(base + PATH, "del_follow_user", external_userid="wm-gone",
                                   userid="li.na") == (200, "success")
    assert _signals(caller, cid) == ["wecom_contact_added", "wecom_contact_removed"]
    [row] = _contacts(engine)
    assert row.removed_at is not None and row.removed_by == "del_follow_user"
    from engine.channels.wecom_contacts import contact_of
    with engine.db.read_transaction() as s:
        assert contact_of(s, cid) is None


@pytest.mark.parametrize("forgery", ["signature", "corp"])
def test_a_forged_event_is_refused_audited_without_its_payload_and_changes_nothing(served, forgery):
    base, engine, caller, wecom = served
    cid = _candidate(caller, phone="13800001111")
    wecom.add_contact("wm-forged", follow_userid="li.na", remark_mobiles=("13800001111",))
    if forgery == "signature":
        status, body = wecom.post_callback(base + PATH, "add_external_contact", external_userid="wm-forged",
                                           userid="li.na", signature="f" * 40)
    else:                       # signed with the right token, but encrypted for another company
        with FakeWeCom(corp_id="ww-another-corp", callback_token=wecom.crypto.token) as other:
            status, body = other.post_callback(base + PATH, "add_external_contact", external_userid="wm-forged",
                                               userid="li.na")
    assert status == 403 and "failed verification" in body
    assert _contacts(engine) == [] and _signals(caller, cid) == []
    [refusal] = _refusals(engine)
    assert refusal == {"reason": "signature" if forgery == "signature" else "receive_id", "step": "event",
                       "address": "127.0.0.1"}
    with engine.db.engine.connect() as conn:
        audit = " ".join(str(r) for r in conn.execute(text("SELECT details FROM audit_events")).all())
    assert "wm-forged" not in audit


def test_a_body_that_is_not_xml_or_not_signed_is_refused(served):
    import urllib.request
    from urllib.error import HTTPError

    base, engine, _, _ = served
    request = urllib.request.Request(base + PATH + "?msg_signature=x&timestamp=1&nonce=2", data=b"<xml>oops",
                                     method="POST", headers={"Content-Type": "text/xml"})
    with pytest.raises(HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    refused.value.close()
    assert refused.value.code == 403
    assert [r["reason"] for r in _refusals(engine)] == ["xml"]


def test_wecom_down_answers_503_so_that_wecom_sends_the_event_again(served):
    base, engine, caller, wecom = served
    cid = _candidate(caller, phone="13800001111")
    wecom.add_contact("wm-later", follow_userid="li.na", remark_mobiles=("13800001111",))
    wecom.fail_next(-1, path="externalcontact/get")
    status, _ = wecom.post_callback(base + PATH, "add_external_contact", external_userid="wm-later", userid="li.na")
    assert status == 503 and _contacts(engine) == []
    assert wecom.post_callback(base + PATH, "add_external_contact", external_userid="wm-later",
                               userid="li.na")[0] == 200
    assert _signals(caller, cid) == ["wecom_contact_added"]


def test_not_configured_answers_404(served):
    base, engine, _, wecom = served
    with engine.db.write_transaction() as s:
        channel_settings.save(s, NAME, {}, actor=ADMIN, enabled=False, ops=engine.ops, now=engine.clock.now())
    assert wecom.check_url(base + PATH)[0] == 404


def test_erasure_takes_the_persons_wecom_links_and_state(served):
    base, engine, caller, wecom = served
    cid = _candidate(caller, phone="13800001111")
    caller(HR).post("/channels/wecom/states", json={"candidate_id": cid})
    wecom.add_contact("wm-erase", follow_userid="li.na", remark_mobiles=("13800001111",))
    wecom.post_callback(base + PATH, "add_external_contact", external_userid="wm-erase", userid="li.na")
    assert caller(HR).delete(f"/candidates/{cid}").status_code == 200
    with engine.db.read_transaction() as s:
        assert s.scalars(select(CandidateWecomContact)).all() == []
        assert s.scalars(select(CandidateWecomState)).all() == []


def test_a_merge_moves_the_absorbed_records_wecom_link_to_the_survivor(served):
    base, engine, caller, wecom = served
    survivor, absorbed = _candidate(caller), _candidate(caller, name="王伟（重复）", phone="13800001111")
    state = caller(HR).post("/channels/wecom/states", json={"candidate_id": absorbed}).json["state"]
    wecom.add_contact("wm-dup", follow_userid="li.na", remark_mobiles=("13800001111",))
    wecom.post_callback(base + PATH, "add_external_contact", external_userid="wm-dup", userid="li.na")
    assert caller(HR).post(f"/candidates/{survivor}/merge", json={"from": absorbed}).status_code == 200
    from engine.channels.wecom_contacts import contact_of
    with engine.db.read_transaction() as s:
        assert contact_of(s, survivor) == {"external_userid": "wm-dup", "follow_userid": "li.na"}
        assert s.get(CandidateWecomState, state).candidate_id == survivor


def test_copies_of_one_event_arriving_together_make_one_link_and_one_signal(served):
    from tests.support import race

    base, engine, caller, wecom = served
    cid = _candidate(caller, phone="13800001111")
    wecom.add_contact("wm-race", follow_userid="li.na", remark_mobiles=("13800001111",))
    answers = race(4, lambda: wecom.post_callback(base + PATH, "add_external_contact", external_userid="wm-race",
                                                  userid="li.na"))
    assert answers == [(200, "success")] * 4
    assert len(_contacts(engine)) == 1 and _signals(caller, cid) == ["wecom_contact_added"]


def test_contacts_nobody_linked_are_purged_after_30_days(served):
    from datetime import timedelta

    from engine.channels.wecom_contacts import purge_unmatched

    base, engine, caller, wecom = served
    cid = _candidate(caller, phone="13800001111")
    wecom.add_contact("wm-linked", follow_userid="li.na", remark_mobiles=("13800001111",))
    wecom.add_contact("wm-nobody", follow_userid="li.na", name="陌生人")
    for ext in ("wm-linked", "wm-nobody"):
        wecom.post_callback(base + PATH, "add_external_contact", external_userid=ext, userid="li.na")
    assert purge_unmatched(engine) == 0
    engine.clock.advance(timedelta(days=31))
    assert purge_unmatched(engine) == 1
    assert [(r.external_userid, r.candidate_id) for r in _contacts(engine)] == [("wm-linked", cid)]
