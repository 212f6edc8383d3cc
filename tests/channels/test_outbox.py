"""The outbox on both databases: a send leased, sent outside a transaction and recorded once; a lease
that expired mid-send sends again with the same id (attempts + 1, the sender told); backoff doubling;
giving up after the last attempt; following a send that awaits confirmation; consent withdrawn or the
person erased before the worker gets to it -> cancelled, nothing sent; erasure empties the text."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.channels import outbox, registry
from engine.channels import settings as channel_settings
from engine.channels.models import OutboxMessage
from engine.config import Settings
from tests.channels.scripted import TEST_CHANNEL, new_key
from tests.support import HR

CONSENT = {"granted": True, "scope": "similar_roles", "expires_at": "2027-01-05"}
VALUES = {"host": "smtp.example.com", "user": "hr", "password": "correct horse battery"}


@pytest.fixture
def channels(engine, scripted):
    """The engine with the test channel configured and a candidate with consent: (engine, fake, candidate id)."""
    from engine.archive import TalentArchive
    object.__setattr__(engine, "settings", engine.settings.replacing(secret_key=new_key()))
    channel_settings.install(engine)
    with engine.db.write_transaction() as s:
        channel_settings.save(s, TEST_CHANNEL, VALUES, actor="admin", ops=engine.ops, now=engine.clock.now())
    archive = TalentArchive(engine)
    candidate = archive.create_candidate({"name": "周思远", "email": "zhou@example.com", "consent": CONSENT}, actor=HR)
    return engine, scripted, candidate.id, archive


def _enqueue(engine, candidate_id, text="您好,最近怎么样?", **more) -> str:
    with engine.db.write_transaction() as s:
        return outbox.enqueue(s, channel=TEST_CHANNEL, kind="candidate_message",
                              recipient={"email": "zhou@example.com", "name": "周思远"},
                              payload={"text": text, "subject": None, "link": None, "language": "zh"},
                              actor=HR, candidate_id=candidate_id, now=engine.clock.now(), ops=engine.ops, **more)


def _row(engine, send_id) -> OutboxMessage:
    with engine.db.read_transaction() as s:
        row = s.get(OutboxMessage, send_id)
        s.expunge(row)
        return row


def test_a_send_is_sent_once_and_recorded_with_the_provider_id(channels):
    engine, fake, cid, _ = channels
    send_id = _enqueue(engine, cid)
    report = outbox.send_due(engine)
    assert (report.claimed, report.sent) == (1, 1)
    assert [(o.id, o.attempts, o.payload["text"], o.created_by) for o in fake.sent] == [(send_id, 0, "您好,最近怎么样?", HR)]
    row = _row(engine, send_id)
    assert (row.status, row.provider_id, row.attempts, row.lease_token) == ("sent", "p-1", 1, None)
    assert row.sent_at == engine.clock.now()
    assert outbox.send_due(engine).claimed == 0 and len(fake.sent) == 1
    assert engine.metrics.channel_sends.value(channel=TEST_CHANNEL, status="sent") == 1


def test_the_same_dedupe_key_writes_one_row(channels):
    engine, _, cid, _ = channels
    assert _enqueue(engine, cid, dedupe_key="k-1") == _enqueue(engine, cid, dedupe_key="k-1")
    with engine.db.read_transaction() as s:
        assert len(s.scalars(select(OutboxMessage)).all()) == 1


def test_a_lease_that_expired_mid_send_sends_again_with_the_same_id_and_the_sender_knows(channels):
    engine, fake, cid, _ = channels
    send_id = _enqueue(engine, cid)
    token, sends, _ = outbox._claim(engine, limit=10)     # a worker leased it and died before recording
    assert [s.id for s in sends] == [send_id] and _row(engine, send_id).status == "sending"
    assert outbox.send_due(engine).claimed == 0          # hidden while the lease runs
    engine.clock.advance(timedelta(seconds=engine.settings.channel_lease_seconds + 1))
    outbox.send_due(engine)
    assert [(o.id, o.attempts) for o in fake.sent] == [(send_id, 1)]
    row = _row(engine, send_id)
    assert (row.status, row.attempts) == ("sent", 2)
    # the dead worker's late record is not its to make any more
    outbox._record(engine, token, sends[0], registry.Outcome("failed", reason="bad_address"), following=False,
                   report=outbox.OutboxReport())
    assert _row(engine, send_id).status == "sent"


def test_retries_back_off_doubling_then_give_up(channels):
    engine, fake, cid, _ = channels
    s = engine.settings
    fake.default = registry.Outcome("retry", reason="unavailable", detail="451 try later")
    send_id = _enqueue(engine, cid)
    waits = []
    for _ in range(s.channel_max_attempts):
        before = engine.clock.now()
        outbox.send_due(engine)
        row = _row(engine, send_id)
        if row.status == "failed":
            break
        waits.append((row.next_attempt_at - before).total_seconds())
        engine.clock.advance(row.next_attempt_at - before)
    assert waits == [min(s.channel_retry_seconds * 2 ** i, s.channel_retry_max_seconds)
                     for i in range(s.channel_max_attempts - 1)]
    assert (row.status, row.reason, row.detail, row.attempts) == ("failed", "gave_up", "451 try later",
                                                                  s.channel_max_attempts)
    assert len(fake.sent) == s.channel_max_attempts
    with engine.db.write_transaction() as ss:
        outbox.retry(engine, ss, ss.get(OutboxMessage, send_id), actor=HR)
    fake.default = registry.Outcome("sent", provider_id="p-2")
    outbox.send_due(engine)
    assert _row(engine, send_id).status == "sent" and fake.sent[-1].id == send_id


def test_an_exception_in_the_sender_is_a_retry_with_its_message(channels):
    engine, fake, cid, _ = channels
    fake.answers = [registry.ChannelError("SMTP server said 421 busy")]
    send_id = _enqueue(engine, cid)
    outbox.send_due(engine)
    row = _row(engine, send_id)
    assert (row.status, row.detail) == ("pending", "SMTP server said 421 busy")


def test_awaiting_confirmation_is_followed_until_the_person_confirms(channels):
    engine, fake, cid, _ = channels
    fake.default = registry.Outcome("awaiting_confirmation", provider_id="msg-77")
    fake.follow_answers = [registry.Outcome("awaiting_confirmation"), registry.Outcome("retry", detail="timeout")]
    send_id = _enqueue(engine, cid)
    outbox.send_due(engine)
    assert _row(engine, send_id).status == "awaiting_confirmation"
    assert outbox.send_due(engine).claimed == 0                           # not before the follow interval
    for _ in range(3):
        engine.clock.advance(timedelta(seconds=engine.settings.channel_follow_seconds))
        outbox.send_due(engine)
    assert [(o.id, o.provider_id) for o in fake.followed] == [(send_id, "msg-77")] * 3
    row = _row(engine, send_id)
    assert (row.status, row.provider_id, len(fake.sent)) == ("sent", "msg-77", 1)


@pytest.mark.parametrize("how", ["withdrawn_first", "withdrawn_in_db"])
def test_consent_withdrawn_before_the_worker_sends_cancels_and_sends_nothing(channels, how):
    engine, fake, cid, archive = channels
    send_id = _enqueue(engine, cid)
    if how == "withdrawn_first":         # through the archive: the open send ends at once
        archive.update_candidate(cid, {"consent": {"withdraw": True}}, actor=HR)
    else:                                # behind the archive's back: the worker's own check still holds
        from engine.archive_models import Candidate
        with engine.db.write_transaction() as s:
            s.get(Candidate, cid).consent_withdrawn_at = engine.clock.now()
    outbox.send_due(engine)
    row = _row(engine, send_id)
    assert (row.status, row.reason) == ("cancelled", "consent_withdrawn") and fake.sent == []


def test_erasure_cancels_open_sends_and_empties_every_text(channels):
    engine, fake, cid, archive = channels
    done = _enqueue(engine, cid, text="第一条")
    outbox.send_due(engine)
    waiting = _enqueue(engine, cid, text="第二条")
    archive.erase(cid, actor=HR)
    outbox.send_due(engine)
    assert len(fake.sent) == 1
    for send_id, status in ((done, "sent"), (waiting, "cancelled")):
        row = _row(engine, send_id)
        assert (row.status, row.recipient, row.payload) == (status, {}, {})


def test_a_channel_not_configured_fails_the_send_with_a_reason(channels):
    engine, fake, cid, _ = channels
    with engine.db.write_transaction() as s:
        channel_settings.save(s, TEST_CHANNEL, {}, actor="admin", enabled=False, now=engine.clock.now())
    send_id = _enqueue(engine, cid)
    outbox.send_due(engine)
    row = _row(engine, send_id)
    assert (row.status, row.reason) == ("failed", "not_configured") and fake.sent == []


def test_settings_keep_secrets_sealed_and_describe_never_returns_them(channels):
    engine, _, _, _ = channels
    with engine.db.read_transaction() as s:
        raw = s.execute(select(channel_settings.ChannelSettings.values)).scalar_one()
        assert raw["password"].startswith("sealed:v1:") and "correct horse" not in str(raw)
        assert channel_settings.load(s, TEST_CHANNEL)["password"] == "correct horse battery"
        view = channel_settings.describe(s, TEST_CHANNEL)
    assert view.values["password"] == {"set": True, "hint": "tery"}          # the last 4 only
    assert view.values["host"] == "smtp.example.com" and view.values["port"] == 25
    with engine.db.write_transaction() as s:
        channel_settings.save(s, TEST_CHANNEL, {"host": "mail.example.com", "password": None}, actor="admin",
                              now=engine.clock.now())
        assert channel_settings.load(s, TEST_CHANNEL)["password"] == "correct horse battery"   # kept
        assert s.execute(select(channel_settings.ChannelSettings.values)).scalar_one()["password"] == raw["password"]


def test_rotation_reseals_stored_secrets_with_the_new_key(channels):
    from engine.channels import secrets
    engine, _, _, _ = channels
    old = engine.settings.secret_key
    object.__setattr__(engine, "settings", engine.settings.replacing(secret_key=new_key(), secret_key_old=old))
    ring = channel_settings.install(engine)
    assert secrets.rotate(engine) == 1
    object.__setattr__(engine, "settings", Settings(secret_key=engine.settings.secret_key))
    channel_settings.install(engine)
    with engine.db.read_transaction() as s:
        assert channel_settings.load(s, TEST_CHANNEL)["password"] == "correct horse battery"
        assert ring.current_id in s.execute(select(channel_settings.ChannelSettings.values)).scalar_one()["password"]
