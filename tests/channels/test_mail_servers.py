"""The mail servers the email channel's tests use (tests/fakes/mail.py) behave like real ones: what
SMTP accepts for the mailbox is in dovecot's INBOX over IMAP, a scripted refusal is an SMTP error,
a wrong password is refused by both."""
from __future__ import annotations

import email
import email.policy
import imaplib
import smtplib
from email.message import EmailMessage

import pytest

from tests.fakes.mail import MAILBOX_PASSWORD, SMTP_PASSWORD, SMTP_USER


def _message(to: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "cand@example.test", to, "回复:你好"
    message.set_content("可以再聊聊。")
    return message


def test_smtp_delivers_into_the_mailbox_imap_reads(mail_servers):
    with smtplib.SMTP(mail_servers.host, mail_servers.smtp_port, timeout=10) as smtp:
        smtp.login(SMTP_USER, SMTP_PASSWORD)
        smtp.send_message(_message(mail_servers.address))
        smtp.send_message(_message("someone@else.test"))
    assert [r.rcpt_tos for r in mail_servers.received] == [[mail_servers.address], ["someone@else.test"]]
    imap = imaplib.IMAP4(mail_servers.host, mail_servers.imap_port, timeout=10)
    try:
        imap.login(mail_servers.address, MAILBOX_PASSWORD)
        assert imap.select("INBOX")[1] == [b"1"]            # only the one addressed to the mailbox
        _, data = imap.fetch(b"1", "(BODY.PEEK[HEADER])")
        assert email.message_from_bytes(data[0][1], policy=email.policy.default)["Subject"] == "回复:你好"
        assert imap.select("Sent")[0] == "OK"
    finally:
        imap.logout()


def test_refusals_and_wrong_passwords(mail_servers):
    mail_servers.refuse["gone@example.test"] = (550, "5.1.1 no such mailbox")
    with smtplib.SMTP(mail_servers.host, mail_servers.smtp_port, timeout=10) as smtp:
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login(SMTP_USER, "wrong")
        smtp.login(SMTP_USER, SMTP_PASSWORD)
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            smtp.send_message(_message("gone@example.test"))
    assert refused.value.recipients["gone@example.test"][0] == 550
    assert mail_servers.received == []
    imap = imaplib.IMAP4(mail_servers.host, mail_servers.imap_port, timeout=10)
    try:
        with pytest.raises(imaplib.IMAP4.error):
            imap.login(mail_servers.address, "wrong")
    finally:
        imap.shutdown()


def test_with_tls_smtp_requires_starttls_and_imap_speaks_tls(mail_servers_tls):
    import ssl
    servers = mail_servers_tls
    with smtplib.SMTP(servers.host, servers.smtp_port, timeout=10) as smtp:
        smtp.ehlo()
        assert not smtp.has_extn("auth")                        # no sign-in in the clear
        smtp.starttls(context=ssl.create_default_context())     # trusts the servers' certificate (SSL_CERT_FILE)
        smtp.login(SMTP_USER, SMTP_PASSWORD)
        smtp.send_message(_message(servers.address))
    imap = imaplib.IMAP4_SSL(servers.host, servers.imaps_port, ssl_context=ssl.create_default_context(), timeout=10)
    try:
        imap.login(servers.address, MAILBOX_PASSWORD)
        assert imap.select("INBOX")[1] == [b"1"]
    finally:
        imap.logout()
