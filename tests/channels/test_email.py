"""The email channel against real servers (tests/fakes/mail.py: dovecot for IMAP, aiosmtpd for SMTP) on
both databases: a day-30 follow-up sent through the outbox arrives with the right headers and text; the
candidate's reply, sent through SMTP into the mailbox, is read by the poll and moves the real
offer_recall case to assess_reply with no one typing it (quoted history cut off, replied_at from the
Date header); unmatched mail waits for HR and is assigned by hand; a refusal and a bounce mark the
address failing; a crash between SMTP's answer and the record sends nothing twice; a restart of the
poll reads nothing twice; erasure deletes what was received."""
from __future__ import annotations

import smtplib
import time
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime

import pytest
from sqlalchemy import select

from engine.channels import email as email_channel
from engine.channels import email_inbound, outbox, registry
from engine.channels.builtin import channel_jobs
from engine.channels import settings as channel_settings
from engine.channels.email_models import EmailFailingAddress, EmailInbound
from engine.channels.models import OutboxMessage
from engine.worker import Worker
from tests.archive.archive_helpers import archive_decline, complete, task, wait
from tests.channels.scripted import new_key
from tests.fakes.mail import SMTP_PASSWORD, SMTP_USER, free_port
from tests.support import ATS, HR

CANDIDATE = "zhou.siyuan@example.test"
FOLLOW_UP = "周先生您好,一个月没联系了,最近一切都好吗?"


@pytest.fixture
def mail(recall, mail_servers):
    """(engine, servers, archive, candidate id, case id): email configured against the servers (with a
    Sent folder), a candidate with consent whose case waits at follow_up_day_30."""
    from engine.archive import TalentArchive
    object.__setattr__(recall, "settings", recall.settings.replacing(secret_key=new_key(), email_poll_seconds=0.01))
    channel_settings.install(recall)
    configure(recall, mail_servers.settings(sent_folder="Sent"))
    archive = TalentArchive(recall)
    candidate = archive.create_candidate({"name": "周思远", "email": CANDIDATE}, actor=HR)
    case = archive.record_decline(candidate.id, {"reason": "salary"}, actor=ATS).instance_id
    archive_decline(recall, case)
    wait(recall, days=31)
    task(recall, case, "follow_up_day_30")
    return recall, mail_servers, archive, candidate.id, case


def configure(engine, values: dict) -> None:
    with engine.db.write_transaction() as s:
        channel_settings.save(s, email_channel.NAME, values, actor="admin", ops=engine.ops, now=engine.clock.now())


def enqueue(engine, candidate_id, case, *, to=CANDIDATE, text=FOLLOW_UP, subject="问候") -> str:
    with engine.db.write_transaction() as s:
        return outbox.enqueue(s, channel="email", kind="candidate_message", recipient={"email": to, "name": "周思远"},
                              payload={"text": text, "subject": subject, "link": None, "language": "zh"},
                              actor=HR, candidate_id=candidate_id, instance_id=case, now=engine.clock.now(),
                              ops=engine.ops)


def row(engine, send_id) -> OutboxMessage:
    with engine.db.read_transaction() as s:
        found = s.get(OutboxMessage, send_id)
        s.expunge(found)
        return found


def reply(servers, *, text: str, in_reply_to: str | None = None, sender=CANDIDATE, date=None, subject="回复:问候"):
    """The candidate answers from their mail client: through SMTP into the mailbox the system reads."""
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = f"周思远 <{sender}>", servers.address, subject
    if in_reply_to:
        message["In-Reply-To"], message["References"] = in_reply_to, in_reply_to
    if date is not None:
        message["Date"] = format_datetime(date)
    message.set_content(text)
    with smtplib.SMTP(servers.host, servers.smtp_port, timeout=10) as smtp:
        smtp.login(SMTP_USER, SMTP_PASSWORD)
        smtp.send_message(message)
    return message


def inbound(engine) -> list[EmailInbound]:
    with engine.db.read_transaction() as s:
        rows = list(s.scalars(select(EmailInbound).order_by(EmailInbound.received_at, EmailInbound.id)))
        for r in rows:
            s.expunge(r)
        return rows


def test_a_follow_up_goes_out_by_smtp_and_the_reply_moves_the_case_by_itself(mail):
    engine, servers, archive, cid, case = mail
    worker = Worker(engine, jobs=channel_jobs(engine.settings))     # the outbox and the mailbox poll
    send_id = enqueue(engine, cid, case)
    worker.run_once()
    [received] = servers.received
    sent = received.message
    message_id = email_channel.message_id_for(send_id, "hr@mail.test")
    assert received.rcpt_tos == [CANDIDATE] and received.mail_from == "hr@mail.test"
    assert sent["Message-ID"] == message_id and email_channel.outbox_id_of(message_id) == send_id
    assert (sent["Subject"], sent["Reply-To"], sent["To"].addresses[0].display_name) == ("问候", servers.address, "周思远")
    assert sent["From"].addresses[0].display_name == "李娜 (Offer Recall)"
    assert sent.get_content().strip() == FOLLOW_UP and sent.get_content_charset() == "utf-8"
    assert (row(engine, send_id).status, row(engine, send_id).provider_id) == ("sent", message_id)
    assert len(servers.folder_files("Sent")) == 1                   # the copy a mail client would keep
    complete(engine, case, "follow_up_day_30", outcome="sent", channel="email", message_sent=FOLLOW_UP)

    written = engine.clock.now() - timedelta(hours=2)
    reply(servers, in_reply_to=message_id, date=written,
          text="谢谢惦记!下周二下午可以电话聊。\n\n-- \n周思远\n\n在 2026年2月5日 17:00,李娜 写道:\n> " + FOLLOW_UP)
    assert [task.element_id for task in engine.list_tasks(instance_id=case)] == []     # nobody typed anything
    time.sleep(0.02)
    worker.run_once()
    assess = task(engine, case, "assess_reply")
    assert assess.data["reply"]["text"] == "谢谢惦记!下周二下午可以电话聊。"
    assert assess.data["reply"]["channel"] == "email"
    assert assess.data["reply"]["replied_at"] == written.isoformat()
    [got] = inbound(engine)
    assert (got.status, got.candidate_id, got.matched_by, got.outbox_id, got.delivered_to) == \
        ("recorded", cid, "reply_to_message", send_id, [case])
    assert all(f.parent.name == "cur" and f.name.endswith(",S") for f in servers.folder_files())   # \Seen
    messages = archive.get_candidate(cid, viewer=_hr()).messages
    assert any("下周二下午可以电话聊" in str(vars(m)) for m in messages), messages
    assert email_inbound.poll_mailbox(engine).read == 0
    assert "email_poll" in {j.name for j in worker.jobs}


def _hr():
    from engine.archive import Viewer
    return Viewer(HR, "hr")


def test_unmatched_mail_waits_for_hr_and_is_assigned_by_hand(mail):
    engine, servers, archive, cid, case = mail
    archive.create_candidate({"name": "另一个人", "email": "shared@example.test"}, actor=HR)
    archive.create_candidate({"name": "又一个人", "email": "Shared@Example.test"}, actor=HR)
    reply(servers, sender="stranger@elsewhere.test", text="请问你们还招人吗?")
    reply(servers, sender="shared@example.test", text="两个人共用这个地址")        # not unique: not guessed
    assert email_inbound.poll_mailbox(engine).unmatched == 2
    queue = sorted(email_inbound.unmatched(engine), key=lambda q: q.from_address, reverse=True)
    assert [(q.from_address, q.text) for q in queue] == [("stranger@elsewhere.test", "请问你们还招人吗?"),
                                                          ("shared@example.test", "两个人共用这个地址")]
    assert engine.list_tasks(instance_id=case, element_id="assess_reply") == []
    view = email_inbound.assign(engine, queue[0].id, cid, actor=HR)
    assert (view.status, view.candidate_id, view.matched_by, view.delivered_to) == ("assigned", cid, "hand", [case])
    assert task(engine, case, "assess_reply").data["reply"]["text"] == "请问你们还招人吗?"
    from engine.errors import InvalidState, NotFound
    with pytest.raises(InvalidState):
        email_inbound.assign(engine, queue[0].id, cid, actor=HR)           # once
    with pytest.raises(NotFound):
        email_inbound.assign(engine, queue[1].id, "no-such-candidate", actor=HR)
    assert [q.id for q in email_inbound.unmatched(engine)] == [queue[1].id]


def test_an_out_of_office_answer_does_not_move_the_case(mail):
    engine, servers, archive, cid, case = mail
    send_id = enqueue(engine, cid, case)
    outbox.send_due(engine)
    complete(engine, case, "follow_up_day_30", outcome="sent", channel="email", message_sent=FOLLOW_UP)
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = CANDIDATE, servers.address, "自动回复: 问候"
    message["In-Reply-To"] = row(engine, send_id).provider_id
    message["Auto-Submitted"] = "auto-replied"
    message.set_content("我正在休假,2 月 20 日返回。")
    servers.deliver(bytes(message))
    assert email_inbound.poll_mailbox(engine).unmatched == 1
    assert engine.list_tasks(instance_id=case, element_id="assess_reply") == []
    [queued] = email_inbound.unmatched(engine)
    assert queued.text == "我正在休假,2 月 20 日返回。"


def test_a_refused_recipient_and_a_bounce_mark_the_address_failing(mail):
    engine, servers, archive, cid, case = mail
    servers.refuse["gone@example.test"] = (550, "5.1.1 mailbox unavailable")
    servers.refuse["busy@example.test"] = (451, "4.3.0 try again later")
    refused = enqueue(engine, cid, case, to="gone@example.test")
    later = enqueue(engine, cid, case, to="busy@example.test")
    outbox.send_due(engine)
    assert (row(engine, refused).status, row(engine, refused).reason) == ("failed", "bad_address")
    assert (row(engine, later).status, row(engine, later).attempts) == ("pending", 1)      # retried later
    assert servers.received == []

    bounced = enqueue(engine, cid, case)
    outbox.send_due(engine)
    message_id = row(engine, bounced).provider_id
    assert row(engine, bounced).status == "sent"
    servers.deliver(dsn(message_id, CANDIDATE))
    assert email_inbound.poll_mailbox(engine).bounces == 1
    assert (row(engine, bounced).status, row(engine, bounced).reason) == ("failed", "bounced")
    with engine.db.read_transaction() as s:
        failing = {r.address: (r.reason, r.candidate_id) for r in s.scalars(select(EmailFailingAddress))}
    assert failing == {"gone@example.test": ("refused", cid), CANDIDATE: ("bounced", cid)}
    again = enqueue(engine, cid, case)
    outbox.send_due(engine)
    assert (row(engine, again).status, row(engine, again).reason) == ("failed", "bad_address")
    assert len(servers.received) == 1                                  # nothing more went out
    assert engine.list_tasks(instance_id=case, element_id="assess_reply") == []    # a bounce is no reply


def dsn(message_id: str, recipient: str) -> bytes:
    return (f"From: Mail Delivery System <MAILER-DAEMON@mail.test>\r\nTo: hr@mail.test\r\n"
            f"Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@mail.test>\r\n"
            f"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n"
            f"--B\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
            f"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mail.test\r\n\r\n"
            f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
            f"--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {message_id}\r\nSubject: x\r\n\r\n"
            f"--B--\r\n").encode()


@pytest.mark.parametrize("sent_folder", ["Sent", ""])
def test_a_crash_between_smtps_answer_and_the_record_sends_nothing_twice(mail, sent_folder):
    engine, servers, archive, cid, case = mail
    if not sent_folder:
        configure(engine, {"sent_folder": ""})
    send_id = enqueue(engine, cid, case)
    _, leased, _ = outbox._claim(engine, limit=10)       # a worker leased it, sent it and died before recording
    assert email_channel.send(engine, leased[0]).status == "sent" and len(servers.received) == 1
    engine.clock.advance(timedelta(seconds=engine.settings.channel_lease_seconds + 1))
    outbox.send_due(engine)
    sent = row(engine, send_id)
    message_id = email_channel.message_id_for(send_id, "hr@mail.test")
    assert (sent.status, sent.provider_id, sent.attempts) == ("sent", message_id, 2)
    if sent_folder:         # found in the Sent folder: not sent again, one copy kept
        assert len(servers.received) == 1 and len(servers.folder_files("Sent")) == 1
        assert "not sent again" in sent.detail
    else:                   # no Sent folder to ask: sent again, with the same Message-ID for the client to merge
        assert [r.message["Message-ID"] for r in servers.received] == [message_id, message_id]


def test_the_poll_reads_nothing_twice_across_a_restart(mail):
    engine, servers, archive, cid, case = mail
    configure(engine, {"processed_folder": ""})
    reply(servers, sender="a@elsewhere.test", text="第一封")
    reply(servers, sender="b@elsewhere.test", text="第二封")
    assert email_inbound.poll_mailbox(engine).read == 2
    restarted = _restart(engine)
    import imaplib
    with email_channel.imap_connection(servers.settings()) as imap:      # a person marks them unread again
        imap.select("INBOX")
        imap.uid("STORE", "1:*", "-FLAGS", r"(\Seen)")
    assert email_inbound.poll_mailbox(restarted).read == 0
    reply(servers, sender="c@elsewhere.test", text="第三封")
    assert email_inbound.poll_mailbox(restarted).read == 1
    assert sorted(r.text for r in inbound(restarted)) == sorted(["第一封", "第二封", "第三封"])
    # the same mail pushed as well (POST /channels/email/inbound) is not recorded twice
    again = email_inbound.receive(restarted, servers.folder_files()[0].read_bytes(), source="push")
    assert again.duplicate and len(inbound(restarted)) == 3
    assert imaplib is not None


def test_read_mail_is_moved_to_the_processed_folder(mail):
    engine, servers, archive, cid, case = mail
    configure(engine, {"processed_folder": "Processed"})
    reply(servers, sender="a@elsewhere.test", text="移走我")
    assert email_inbound.poll_mailbox(engine).read == 1
    assert servers.folder_files() == [] and len(servers.folder_files("Processed")) == 1


def _restart(engine):
    """A new engine on the same database (a worker process started again)."""
    from engine.archive import install
    from engine.service import RecallEngine
    again = RecallEngine(engine.db, clock=engine.clock, settings=engine.settings)
    install(again)
    channel_settings.install(again)
    return again


def test_erasure_deletes_what_was_received_from_and_about_the_person(mail):
    engine, servers, archive, cid, case = mail
    send_id = enqueue(engine, cid, case)
    outbox.send_due(engine)
    reply(servers, in_reply_to=row(engine, send_id).provider_id, text="好的")
    reply(servers, sender=CANDIDATE.upper(), text="另一个", subject="无关")   # matched by From
    email_channel.mark_failing(engine, CANDIDATE, candidate_id=cid, reason="bounced", detail="5.1.1")
    reply(servers, sender="stranger@elsewhere.test", text="别人的")
    email_inbound.poll_mailbox(engine)
    assert {r.from_address for r in inbound(engine)} == {CANDIDATE, "stranger@elsewhere.test"}
    archive.erase(cid, actor=HR)
    assert [r.from_address for r in inbound(engine)] == ["stranger@elsewhere.test"]
    with engine.db.read_transaction() as s:
        assert s.scalars(select(EmailFailingAddress)).all() == []
    nothing = enqueue(engine, cid, case)
    outbox.send_due(engine)
    assert row(engine, nothing).status == "cancelled" and len(servers.messages_to(CANDIDATE)) == 1


def test_the_settings_pages_test_signs_in_to_both_servers_and_says_which_failed(mail_servers):
    from engine.channels.registry import ChannelError
    good = mail_servers.settings()
    assert email_channel.test_connection(None, good) == \
        "SMTP 127.0.0.1: signed in; IMAP 127.0.0.1: signed in, INBOX holds 0 mails"
    with pytest.raises(ChannelError, match="^SMTP: the server refused the user name or password$"):
        email_channel.test_connection(None, {**good, "smtp_password": "wrong"})
    with pytest.raises(ChannelError, match="^IMAP: .*uthentication failed"):
        email_channel.test_connection(None, {**good, "imap_password": "wrong"})
    with pytest.raises(ChannelError, match="^IMAP: no folder 'Nowhere'"):
        email_channel.test_connection(None, {**good, "imap_folder": "Nowhere"})
    closed = free_port()
    with pytest.raises(ChannelError, match=f"^SMTP 127.0.0.1:{closed}: ConnectionRefusedError"):
        email_channel.test_connection(None, {**good, "smtp_port": closed})
    for secret in ("wrong", good["smtp_password"], good["imap_password"]):
        try:
            email_channel.test_connection(None, {**good, "smtp_password": secret, "imap_password": "wrong"})
        except ChannelError as exc:
            assert secret not in str(exc)


def test_starttls_and_imaps_against_servers_that_require_them(recall, mail_servers_tls, monkeypatch):
    """SMTP with STARTTLS and auth (the server refuses auth without TLS), IMAP over implicit TLS; a
    certificate the client does not trust fails as `tls`, never sends in the clear."""
    servers = mail_servers_tls
    object.__setattr__(recall, "settings", recall.settings.replacing(secret_key=new_key()))
    channel_settings.install(recall)
    secure = servers.settings(smtp_security="starttls", imap_security="ssl", imap_port=servers.imaps_port,
                              sent_folder="Sent")
    configure(recall, secure)
    assert email_channel.test_connection(recall, secure).startswith("SMTP 127.0.0.1: signed in; IMAP 127.0.0.1")
    outgoing = registry.Outgoing(id="5b0c3f0e-0000-4000-8000-000000000001", channel="email", kind="notification",
                                 recipient={"email": "li.na@corp.test", "name": "李娜", "user": HR},
                                 payload={"text": "有一个新的跟进任务", "subject": None, "link": "https://recall.test/app/",
                                          "language": "zh"},
                                 candidate_id=None, task_id=None, instance_id=None, provider_id=None, attempts=0,
                                 created_by=None)
    assert email_channel.send(recall, outgoing).status == "sent"
    [got] = servers.received
    assert got.message["Auto-Submitted"] == "auto-generated" and got.message["Subject"] == "您好"
    assert got.message.get_content().replace("\r\n", "\n").strip() == "有一个新的跟进任务\n\nhttps://recall.test/app/"
    assert len(servers.folder_files("Sent")) == 1                  # appended over IMAPS
    servers.deliver(bytes(reply_message(servers, "谢谢")))
    assert email_inbound.poll_mailbox(recall).unmatched == 1
    configure(recall, {"smtp_security": "none"})        # in the clear: the server offers no sign-in before TLS
    outcome = email_channel.send(recall, outgoing)
    assert (outcome.status, outcome.reason) == ("failed", "tls") and "security setting" in outcome.detail
    configure(recall, {"smtp_security": "starttls"})
    monkeypatch.delenv("SSL_CERT_FILE")                              # a certificate nobody vouches for
    outcome = email_channel.send(recall, outgoing)
    assert (outcome.status, outcome.reason) == ("failed", "tls") and "CERTIFICATE_VERIFY_FAILED" in outcome.detail
    assert len(servers.received) == 1


def reply_message(servers, text: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "someone@elsewhere.test", servers.address, "hi"
    message.set_content(text)
    return message


def test_two_workers_polling_at_once_record_each_mail_once(mail):
    from tests.support import race
    engine, servers, archive, cid, case = mail
    for n in range(6):
        reply(servers, sender=f"p{n}@elsewhere.test", text=f"第{n}封")
    reports = race(2, lambda: email_inbound.poll_mailbox(_restart(engine)))      # two worker processes
    assert sum(r.read for r in reports) == 6
    assert sorted(r.text for r in inbound(engine)) == sorted(f"第{n}封" for n in range(6))


def test_a_mailbox_that_cannot_be_reached_is_one_warning_line_not_a_traceback_each_poll(mail, caplog):
    """The worker polls every RECALL_EMAIL_POLL_SECONDS: an IMAP host that is down (here: a closed port)
    must not fill the log with a traceback per poll, nor stop the worker's other jobs."""
    import logging
    engine, servers, archive, cid, case = mail
    configure(engine, {"imap_host": "127.0.0.1", "imap_port": free_port(), "imap_security": "none"})
    caplog.set_level(logging.INFO, logger="recall.channels.email")
    for _ in range(3):
        assert email_inbound.run_poll(engine) is None
        time.sleep(0.02)                                     # past the engine's poll interval (0.01 s)
    failures = [r for r in caplog.records if "email_poll_failed" in r.getMessage()]
    assert len(failures) == 1 and failures[0].levelno == logging.WARNING and failures[0].exc_info is None
    assert "ConnectionRefusedError" in failures[0].getMessage()
    configure(engine, servers.settings())                    # the mailbox is back
    time.sleep(0.02)
    assert email_inbound.run_poll(engine) is not None
    assert any("email_poll_recovered" in r.getMessage() for r in caplog.records)


def test_with_people_shown_as_senders_a_mail_is_from_the_person_who_confirmed_it(mail):
    """One shared mailbox, each candidate mail from the person who wrote it ("李娜 · 某某公司招聘"); a person
    without a display name goes out under the company's From name."""
    from sqlalchemy import update
    from engine.models import User
    from engine.users import add_user
    engine, servers, archive, cid, case = mail
    add_user(engine.db, HR, "hr", ())
    configure(engine, {"sender_display": "person", "from_name": "某某公司招聘"})
    with engine.db.write_transaction() as s:
        s.execute(update(User).where(User.name == HR).values(display_name="李娜"))
    enqueue(engine, cid, case)
    outbox.send_due(engine)
    with engine.db.write_transaction() as s:
        s.execute(update(User).where(User.name == HR).values(display_name=None))
    enqueue(engine, cid, case, text="第二封")
    outbox.send_due(engine)
    shown = [r.message["From"].addresses[0] for r in servers.received]
    assert [(a.display_name, a.addr_spec) for a in shown] == [("李娜 · 某某公司招聘", "hr@mail.test"),
                                                              ("某某公司招聘", "hr@mail.test")]
