"""The WeCom channel driven through the outbox (engine/channels/outbox.py) against the fake WeCom server,
on both databases: nothing reaches the candidate before the sender confirms in their WeCom app; WeCom's
fifth message of a month is refused and shown as `quota`; a crash between WeCom's answer and the
outbox's record never makes a second message task; a token expiring in the middle of a batch is
refreshed and the batch goes on; busy answers back off; app messages to employees."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.channels import outbox, registry
from engine.channels import settings as channel_settings
from engine.channels.models import OutboxMessage
from engine.channels.registry import ChannelError
from engine.channels.wecom import CHANNEL, NAME
from engine.channels.wecom_client import WeComClient
from engine.channels.wecom_contacts import contact_of, handle_event, state_for
from tests.channels.scripted import new_key
from tests.fakes.wecom_server import QUOTA, SENT, FakeWeCom
from tests.support import HR

CONSENT = {"granted": True, "scope": "similar_roles", "expires_at": "2027-06-30"}
TEXT = "王先生您好，好久不见，最近怎么样？"


@pytest.fixture
def wecom():
    with FakeWeCom() as fake:
        fake.employees |= {"li.na", "wang.li"}
        yield fake


@pytest.fixture
def setup(engine, wecom):
    """(engine, fake WeCom, candidate id, external_userid): WeCom configured, a consenting candidate who
    added li.na by the QR code of their own state (linked through the real event path)."""
    from engine.archive import TalentArchive

    registry.register(CHANNEL)          # a test elsewhere may have replaced the registry's entries
    object.__setattr__(engine, "settings", engine.settings.replacing(secret_key=new_key()))
    channel_settings.install(engine)
    with engine.db.write_transaction() as s:
        channel_settings.save(s, NAME, wecom.settings(), actor="admin", ops=engine.ops, now=engine.clock.now())
    candidate = TalentArchive(engine).create_candidate({"name": "王伟", "consent": CONSENT}, actor=HR)
    with engine.db.write_transaction() as s:
        state = state_for(s, candidate.id, now=engine.clock.now())
    wecom.add_contact("wm-wang-wei", follow_userid="li.na", name="王伟", state=state)
    outcome = handle_event(engine, WeComClient(engine.db, wecom.settings()),
                           {"Event": "change_external_contact", "ChangeType": "add_external_contact",
                            "ExternalUserID": "wm-wang-wei", "UserID": "li.na", "State": state})
    assert outcome == "linked"
    return engine, wecom, candidate.id, "wm-wang-wei"


def _enqueue(engine, candidate_id, ext, text=TEXT, *, sender="li.na") -> str:
    with engine.db.write_transaction() as s:
        return outbox.enqueue(s, channel=NAME, kind="candidate_message",
                              recipient={"external_userid": ext, "sender_userid": sender},
                              payload={"text": text, "subject": None, "link": None, "language": "zh"},
                              actor=HR, candidate_id=candidate_id, now=engine.clock.now(), ops=engine.ops)


def _row(engine, send_id) -> OutboxMessage:
    with engine.db.read_transaction() as s:
        row = s.get(OutboxMessage, send_id)
        s.expunge(row)
        return row


def _later(engine, seconds: float | None = None) -> None:
    engine.clock.advance(timedelta(seconds=seconds or engine.settings.channel_follow_seconds + 1))


def test_contact_of_names_the_linked_contact(setup):
    engine, _, cid, ext = setup
    with engine.db.read_transaction() as s:
        assert contact_of(s, cid) == {"external_userid": ext, "follow_userid": "li.na"}


def test_nothing_is_sent_before_the_sender_confirms_in_wecom(setup):
    engine, wecom, cid, ext = setup
    send_id = _enqueue(engine, cid, ext)
    outbox.send_due(engine)
    row = _row(engine, send_id)
    assert row.status == "awaiting_confirmation" and row.provider_id in wecom.tasks
    task = wecom.tasks[row.provider_id]
    assert (task.sender, task.external_userids, task.text) == ("li.na", [ext], TEXT)
    assert wecom.delivered == []
    for _ in range(2):                               # followed, still unconfirmed: still waiting, nothing sent
        _later(engine)
        outbox.send_due(engine)
        assert _row(engine, send_id).status == "awaiting_confirmation" and wecom.delivered == []
    assert wecom.confirm("li.na", row.provider_id) == {ext: SENT}
    _later(engine)
    outbox.send_due(engine)
    assert _row(engine, send_id).status == "sent"
    assert wecom.delivered == [("li.na", ext, TEXT)]
    assert len(wecom.calls("externalcontact/add_msg_template")) == 1


def test_the_fifth_message_of_a_month_is_refused_with_the_reason(setup):
    engine, wecom, cid, ext = setup
    for n in range(5):
        send_id = _enqueue(engine, cid, ext, text=f"{TEXT} ({n + 1})")
        outbox.send_due(engine)
        results = wecom.confirm("li.na", _row(engine, send_id).provider_id)
        _later(engine)
        outbox.send_due(engine)
        row = _row(engine, send_id)
        if n < 4:
            assert results == {ext: SENT} and row.status == "sent"
    assert results == {ext: QUOTA}
    assert (row.status, row.reason) == ("failed", "quota") and "4 messages this month" in row.detail
    assert len(wecom.delivered) == 4


def test_a_lost_answer_of_add_msg_template_never_makes_a_second_task(setup):
    """WeCom made the task, but its answer never reached us (the crash between WeCom's answer and the
    record): the retry finds that task (get_groupmsg_list_v2 and its send results) and adopts it."""
    engine, wecom, cid, ext = setup
    earlier = _enqueue(engine, cid, ext, text="另一条消息")       # another task of li.na's with other text
    outbox.send_due(engine)
    send_id = _enqueue(engine, cid, ext)
    wecom.drop_answer_of("externalcontact/add_msg_template")
    outbox.send_due(engine)
    row = _row(engine, send_id)
    assert (row.status, row.reason, row.provider_id) == ("pending", "unreachable", None)
    assert len(wecom.tasks) == 2
    _later(engine, engine.settings.channel_retry_max_seconds + 1)
    outbox.send_due(engine)
    row = _row(engine, send_id)
    assert row.status == "awaiting_confirmation" and len(wecom.tasks) == 2
    assert wecom.tasks[row.provider_id].text == TEXT and row.provider_id != _row(engine, earlier).provider_id
    assert len(wecom.calls("externalcontact/add_msg_template")) == 2
    assert wecom.calls("externalcontact/get_groupmsg_list_v2")


def test_a_worker_dying_after_wecom_answered_does_not_make_a_second_task(setup):
    """The sender got WeCom's msgid, then the worker died before the outbox recorded it: the lease runs
    out, the row is sent again with attempts + 1, and the sender adopts the msgid it wrote down."""
    from engine.channels import wecom as channel

    engine, wecom, cid, ext = setup
    send_id = _enqueue(engine, cid, ext)
    _token, sends, _ = outbox._claim(engine, limit=10)
    assert channel.send(engine, sends[0]).status == "awaiting_confirmation"     # ... and then the worker died
    _later(engine, engine.settings.channel_lease_seconds + 1)
    outbox.send_due(engine)
    row = _row(engine, send_id)
    assert row.status == "awaiting_confirmation" and row.attempts == 2
    assert len(wecom.tasks) == 1 and row.provider_id in wecom.tasks


def test_a_token_expiring_in_the_middle_of_a_batch_is_refreshed_and_the_batch_goes_on(setup):
    engine, wecom, cid, ext = setup
    sends = [_enqueue(engine, cid, ext, text=f"{TEXT} #{n}") for n in range(4)]
    wecom.expire_tokens_after(2)
    report = outbox.send_due(engine)
    assert report.awaiting == 4
    assert {_row(engine, s).status for s in sends} == {"awaiting_confirmation"}
    assert len(wecom.tasks) == 4 and len(wecom.calls("gettoken")) == 2
    assert len(wecom.calls("externalcontact/add_msg_template")) == 5     # one refused with 42001, retried


def test_rate_limited_sends_back_off_and_then_go(setup):
    engine, wecom, cid, ext = setup
    send_id = _enqueue(engine, cid, ext)
    wecom.fail_next(45009, path="externalcontact/add_msg_template")
    outbox.send_due(engine)
    row = _row(engine, send_id)
    assert (row.status, row.reason) == ("pending", "busy")
    assert row.next_attempt_at >= engine.clock.now() + timedelta(seconds=60)
    _later(engine, 3600)
    outbox.send_due(engine)
    assert _row(engine, send_id).status == "awaiting_confirmation" and len(wecom.tasks) == 1


def test_a_contact_who_removed_us_is_not_sent_to(setup):
    engine, wecom, cid, ext = setup
    client = WeComClient(engine.db, wecom.settings())
    assert handle_event(engine, client, {"Event": "change_external_contact", "ChangeType": "del_follow_user",
                                         "ExternalUserID": ext, "UserID": "li.na"}) == "removed"
    send_id = _enqueue(engine, cid, ext)
    outbox.send_due(engine)
    assert (_row(engine, send_id).status, _row(engine, send_id).reason) == ("failed", "not_contact")
    assert wecom.calls("externalcontact/add_msg_template") == []
    with engine.db.read_transaction() as s:
        assert contact_of(s, cid) is None


def test_a_sender_whose_contact_the_candidate_is_not_gets_not_contact(setup):
    engine, wecom, cid, ext = setup
    send_id = _enqueue(engine, cid, ext, sender="wang.li")
    outbox.send_due(engine)
    row = _row(engine, send_id)
    assert (row.status, row.reason) == ("failed", "not_contact") and wecom.delivered == []


def test_notifications_are_app_messages_with_a_link(setup):
    engine, wecom, _, _ = setup
    with engine.db.write_transaction() as s:
        ids = [outbox.enqueue(s, channel=NAME, kind="notification", recipient={"userid": user, "user": user},
                              payload={"text": "待办：跟进王伟", "subject": None, "link": "https://recall.example/app/t/1",
                                       "language": "zh"}, actor=None, now=engine.clock.now())
               for user in ("wang.li", "nobody")]
    outbox.send_due(engine)
    assert [_row(engine, i).status for i in ids] == ["sent", "failed"]
    assert _row(engine, ids[1]).reason == "bad_address"
    assert wecom.app_messages == [{"touser": "wang.li", "msgtype": "markdown", "msgid": wecom.app_messages[0]["msgid"],
                                   "content": "待办：跟进王伟\n\n[打开 / Open](https://recall.example/app/t/1)"}]


def test_the_connection_test_fetches_a_token_and_names_a_wrong_secret(setup):
    engine, wecom, _, _ = setup
    assert "Connected" in CHANNEL.test(engine, wecom.settings())
    with pytest.raises(ChannelError) as refused:
        CHANNEL.test(engine, wecom.settings(secret="not-the-secret"))
    assert "40001" in str(refused.value) and "not-the-secret" not in str(refused.value)
    with pytest.raises(ChannelError, match="EncodingAESKey"):
        CHANNEL.test(engine, wecom.settings(encoding_aes_key="too-short"))


def test_no_outbox_row_without_a_recorded_task(setup):
    """Every task WeCom made is written down against its outbox row (what a retry looks at)."""
    from engine.channels.wecom_models import WecomMessageTask

    engine, wecom, cid, ext = setup
    send_id = _enqueue(engine, cid, ext)
    outbox.send_due(engine)
    with engine.db.read_transaction() as s:
        assert s.scalars(select(WecomMessageTask.msgid).where(WecomMessageTask.outbox_id == send_id)).all() == \
            [_row(engine, send_id).provider_id]


def test_a_persons_retry_of_a_send_refused_for_the_months_limit_asks_wecom_again(setup):
    """The task failed for good (quota); next month HR retries the send: a new message task, not the old
    failed one adopted again."""
    from datetime import datetime

    from tests.fakes.wecom_server import CHINA

    engine, wecom, cid, ext = setup
    wecom.received[(ext, datetime.now(CHINA).strftime("%Y-%m"))] = 4       # four came this month already
    send_id = _enqueue(engine, cid, ext)
    outbox.send_due(engine)
    first = _row(engine, send_id).provider_id
    assert wecom.confirm("li.na", first) == {ext: QUOTA}
    _later(engine)
    outbox.send_due(engine)
    assert (_row(engine, send_id).status, _row(engine, send_id).reason) == ("failed", "quota")
    wecom.received.clear()                                                  # a new month
    with engine.db.write_transaction() as s:
        outbox.retry(engine, s, outbox.load(s, send_id, for_update=True), actor=HR)
    outbox.send_due(engine)
    row = _row(engine, send_id)
    assert row.status == "awaiting_confirmation" and row.provider_id != first and len(wecom.tasks) == 2
    assert wecom.confirm("li.na", row.provider_id) == {ext: SENT}
    _later(engine)
    outbox.send_due(engine)
    assert _row(engine, send_id).status == "sent" and wecom.delivered == [("li.na", ext, TEXT)]
