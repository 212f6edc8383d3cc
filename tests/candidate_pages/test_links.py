"""Signed candidate links (engine/candidate_pages/links.py, service.py): issued with a hash only, resolved
with the reasons of the contract (expired on the simulated clock, revoked, consent withdrawn, erased, wrong
kind, tampered), moved by a merge, every change audited. SQLite and PostgreSQL."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.candidate_pages import links as L
from engine.candidate_pages.models import CandidateLink
from tests.support import HR


def _refused(links, token, kind=None) -> str:
    with pytest.raises(L.LinkRefused) as caught:
        links.resolve(token, kind=kind)
    return caught.value.reason


def _audits(recall, kind):
    from engine.models import AuditEvent
    with recall.db.read_transaction() as s:
        return [e.details for e in s.scalars(select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id))]


def test_a_link_keeps_only_its_hash_and_resolves_until_it_expires(recall, links, consenting):
    issued = links.issue(consenting.id, kind="growth", actor=HR, lang="en", ttl_days=2)
    assert issued.url_path == f"/p/{issued.token}" and len(issued.token) == 43
    assert consenting.id not in issued.url_path and "林" not in issued.url_path
    with recall.db.read_transaction() as s:
        row = s.get(CandidateLink, issued.id)
        assert row.token_hash == L.token_hash(issued.token) and issued.token not in row.token_hash
    link = links.resolve(issued.token, kind="growth")
    assert (link.candidate_id, link.kind, link.lang, link.status) == (consenting.id, "growth", "en", "active")
    assert link.expires_at == recall.clock.now() + timedelta(days=2)
    recall.clock.advance(timedelta(days=2) - timedelta(seconds=1))
    assert links.resolve(issued.token).status == "active"
    recall.clock.advance(timedelta(seconds=1))
    assert _refused(links, issued.token) == "expired"
    assert [x.status for x in links.list(consenting.id)] == ["expired"]
    assert _audits(recall, "candidate_link_issued")[0] == {
        "candidate_id": consenting.id, "link_id": issued.id, "kind": "growth", "lang": "en",
        "expires_at": link.expires_at.isoformat()}


def test_the_default_lifetime_is_the_setting(recall, consenting):
    from engine.candidate_pages.service import CandidateLinks
    assert CandidateLinks(recall).default_days == 30
    issued = CandidateLinks(recall, default_days=7).issue(consenting.id, kind="growth", actor=HR)
    assert issued.expires_at == recall.clock.now() + timedelta(days=7)


def test_tampered_unknown_and_wrong_kind_links_are_refused(links, consenting):
    issued = links.issue(consenting.id, kind="growth", actor=HR)
    flipped = issued.token[:-1] + ("A" if issued.token[-1] != "A" else "B")
    for token in (flipped, issued.token[:-1], issued.token + "x", "", "../../etc/passwd", "é" * 43, "x" * 5000):
        assert _refused(links, token) == "unknown"
    assert _refused(links, issued.token, kind="goals") == "wrong_kind"
    assert links.resolve(issued.token, kind="growth").id == issued.id


def test_revoked_by_hand_once(recall, links, consenting):
    issued = links.issue(consenting.id, kind="growth", actor=HR)
    assert links.revoke(issued.id, actor="hr.wang").status == "revoked"
    assert links.revoke(issued.id, actor="hr.wang").revoked_by == "hr.wang"      # again: unchanged
    assert _refused(links, issued.token) == "revoked"
    assert len(_audits(recall, "candidate_link_revoked")) == 1
    with pytest.raises(L.LinkRefused):
        links.revoke("no-such-link", actor=HR)


def test_consent_withdrawn_revokes_and_refuses_neutrally(archive, links, consenting):
    issued = links.issue(consenting.id, kind="growth", actor=HR)
    goals = links.issue(consenting.id, kind="goals", actor=HR)
    archive.update_candidate(consenting.id, {"consent": {"granted": False, "withdraw": True}}, actor=HR)
    assert _refused(links, issued.token) == "no_consent" and _refused(links, goals.token) == "no_consent"
    assert {(x.status, x.revoked_reason) for x in links.list(consenting.id)} == {("revoked", "consent_withdrawn")}
    with pytest.raises(L.LinkRefused) as caught:
        links.issue(consenting.id, kind="growth", actor=HR)
    assert caught.value.reason == "no_consent"


def test_a_growth_link_needs_a_consent_in_force(recall, archive, links):
    without = archive.create_candidate({"name": "林三"}, actor=HR)
    with pytest.raises(L.LinkRefused) as caught:
        links.issue(without.id, kind="growth", actor=HR)
    assert caught.value.reason == "no_consent"
    assert links.issue(without.id, kind="goals", actor=HR).token    # a new hire's goals need no talent pool
    short = archive.create_candidate({"name": "林四", "consent": {
        "granted": True, "scope": "same_role", "expires_at": "2026-01-20"}}, actor=HR)
    issued = links.issue(short.id, kind="growth", actor=HR, ttl_days=30)
    recall.clock.advance(timedelta(days=16))
    assert _refused(links, issued.token) == "no_consent"        # the consent ended before the link


def test_erasure_deletes_the_links(recall, archive, links, consenting):
    issued = links.issue(consenting.id, kind="growth", actor=HR)
    archive.erase(consenting.id, actor="root")
    assert _refused(links, issued.token) == "unknown" and links.list(consenting.id) == []
    with recall.db.read_transaction() as s:
        assert s.scalars(select(CandidateLink)).all() == []


def test_an_erased_candidate_gets_no_link(archive, links, consenting):
    archive.erase(consenting.id, actor="root")
    with pytest.raises(L.LinkRefused) as caught:
        links.issue(consenting.id, kind="goals", actor=HR)
    assert caught.value.reason == "erased"


def test_a_merge_moves_the_links(archive, links, consenting):
    other = archive.create_candidate({"name": "林一", "phone": "13800000000", "consent": {
        "granted": True, "scope": "similar_roles", "expires_at": "2027-01-05"}}, actor=HR)
    issued = links.issue(other.id, kind="growth", actor=HR)
    archive.merge(consenting.id, other.id, actor=HR)
    assert links.resolve(issued.token).candidate_id == consenting.id
    assert [x.id for x in links.list(consenting.id)] == [issued.id]


@pytest.mark.parametrize("field, value", [("kind", "salary"), ("kind", None), ("lang", "fr"), ("ttl_days", 0),
                                          ("ttl_days", 366), ("ttl_days", True), ("ttl_days", "7"),
                                          ("ttl_days", 10 ** 30)])
def test_bad_input_names_the_field(links, consenting, field, value):
    args = {"kind": "growth", "lang": "zh", "ttl_days": 7, field: value}
    with pytest.raises(L.InvalidLink) as caught:
        links.issue(consenting.id, actor=HR, **args)
    assert caught.value.field == field
    assert links.list(consenting.id) == []


def test_an_unknown_candidate_is_named(links):
    with pytest.raises(L.InvalidLink) as caught:
        links.issue("nobody", kind="goals", actor=HR)
    assert caught.value.field == "candidate_id"


def test_nonces_are_bound_to_the_token_and_age(recall, links, consenting):
    token = links.issue(consenting.id, kind="growth", actor=HR).token
    now = recall.clock.now()
    nonce = L.make_nonce(token, now)
    assert nonce != L.make_nonce(token, now)                     # one per render
    assert L.check_nonce(token, nonce, now) and L.check_nonce(token, nonce, now + timedelta(hours=11))
    assert not L.check_nonce(token, nonce, now + timedelta(hours=13))
    assert not L.check_nonce("B" * 43, nonce, now)
    tampered = nonce[:-1] + ("1" if nonce[-1] == "0" else "0")         # its MAC's last digit changed
    for bad in ("", "1.2", "x.y.z", tampered, None, 12, "9" * 200):
        assert not L.check_nonce(token, bad, now)


def test_pages_register_by_kind():
    with pytest.raises(ValueError):
        L.register_page("salary", lambda request: L.Page("x.html"))


def test_talk_without_a_case_is_kept_as_a_signal(recall, archive, links, consenting):
    from engine.archive import Viewer
    issued = links.issue(consenting.id, kind="growth", actor=HR)
    link, delivered = links.talk(issued.token)
    assert delivered and link.replied_at is not None
    assert links.talk(issued.token)[1] is False                          # a second press: nothing more
    signals = archive.get_candidate(consenting.id, viewer=Viewer(HR, "hr")).signals
    assert [(s.kind, s.source) for s in signals] == [("page_talk_requested", "growth_page")]
    assert _audits(recall, "candidate_link_replied")[0]["delivered_to"] == []
