"""The email channel: sending through the company's SMTP server, and its settings.

A send (`send`, called by the outbox worker outside any transaction) builds one MIME message — UTF-8
subject and text, `From` with the sender's display name, `Reply-To` the mailbox the system reads
(engine/channels/email_inbound.py polls it), and a `Message-ID` made from the outbox row's id alone
(`message_id_for`), so a row sent again after a crash carries the same id. When a Sent folder is
configured, each accepted message is appended there, and a row sent again (attempts > 0) is looked
up in it first: found, it is not sent twice.

SMTP's answers decide the outcome: a refused recipient (5xx) fails the send as `bad_address` and
marks the address failing (no further sends to it until the candidate's address changes); 4xx
answers, timeouts and dropped connections are retried by the outbox; a refused sign-in is `auth`,
a TLS failure `tls`. Nothing is sent to an erased candidate, nor to an address known to fail.
"""
from __future__ import annotations

import hashlib
import imaplib
import logging
import re
import smtplib
import socket
import ssl
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.headerregistry import Address
from email.utils import format_datetime

from sqlalchemy import select

from ..archive_models import Candidate
from ..models import User
from . import registry
from .email_models import EmailFailingAddress
from .registry import ChannelError, Outcome, SettingField

log = logging.getLogger("recall.channels.email")

NAME = "email"
TIMEOUT_SECONDS = 30.0
SECURITY = ("starttls", "ssl", "none")
DEFAULT_SUBJECT = {"zh": "您好", "en": "Hello"}
_OUR_ID = re.compile(r"^<([0-9a-f-]{36})\.([0-9a-f]{16})@[^<>\s]+>$")

FIELDS = (
    SettingField("smtp_host", "SMTP 服务器", "SMTP server", help_zh="例如 smtp.exmail.qq.com",
                 help_en="e.g. smtp.exmail.qq.com"),
    SettingField("smtp_port", "SMTP 端口", "SMTP port", kind="int", default=587,
                 help_zh="STARTTLS 通常为 587,SSL 为 465", help_en="587 for STARTTLS, 465 for SSL"),
    SettingField("smtp_security", "SMTP 加密方式", "SMTP security", kind="choice", choices=SECURITY,
                 default="starttls"),
    SettingField("smtp_username", "SMTP 用户名", "SMTP user name", required=False),
    SettingField("smtp_password", "SMTP 密码", "SMTP password", secret=True, required=False,
                 help_zh="企业邮箱通常需要“客户端专用密码”", help_en="often an app-specific password"),
    SettingField("from_address", "发件地址", "From address", kind="email"),
    SettingField("from_name", "发件人名称", "From name", required=False, help_zh="收件人看到的名字",
                 help_en="the name recipients see"),
    SettingField("sender_display", "发件人显示", "Sender shown as", kind="choice", choices=("person", "company"),
                 required=False, default="company",
                 help_zh="person:显示确认发送的人的名字(如“李娜 · 某某公司招聘”);company:只显示发件人名称",
                 help_en="person: the name of the person who confirmed the send (\"Li Na · Acme Hiring\"); "
                         "company: the From name only"),
    SettingField("reply_to", "回复地址(系统读取的邮箱)", "Reply-To (the mailbox the system reads)", kind="email",
                 required=False, help_zh="候选人的回复发到这里;留空则用发件地址",
                 help_en="candidates' replies go here; empty: the From address"),
    SettingField("imap_host", "IMAP 服务器", "IMAP server", required=False,
                 help_zh="留空则不自动读取回复", help_en="empty: replies are not read automatically"),
    SettingField("imap_port", "IMAP 端口", "IMAP port", kind="int", required=False, default=993),
    SettingField("imap_security", "IMAP 加密方式", "IMAP security", kind="choice", choices=SECURITY,
                 required=False, default="ssl"),
    SettingField("imap_username", "IMAP 用户名", "IMAP user name", required=False),
    SettingField("imap_password", "IMAP 密码", "IMAP password", secret=True, required=False),
    SettingField("imap_folder", "收件文件夹", "Folder to read", required=False, default="INBOX"),
    SettingField("processed_folder", "已处理文件夹", "Folder for processed mail", required=False, default="",
                 help_zh="读取后移到此文件夹;留空则只标为已读",
                 help_en="read mail is moved here; empty: only marked as read"),
    SettingField("sent_folder", "已发送文件夹", "Sent folder", required=False, default="",
                 help_zh="每封发出的邮件存一份;重发前先查,避免重复",
                 help_en="a copy of each sent mail; checked before a resend so nothing goes twice"),
)


# ---------------------------------------------------------------- settings and ids
def load_settings(engine) -> dict | None:
    """The company's email settings (secrets unsealed), None when not configured or disabled."""
    from . import settings as channel_settings
    with engine.db.read_transaction() as s:
        return channel_settings.load(s, NAME)


def _digest(outbox_id: str) -> str:
    return hashlib.sha256(f"offer-recall-email:{outbox_id}".encode()).hexdigest()[:16]


def message_id_for(outbox_id: str, from_address: str) -> str:
    """The Message-ID of an outbox row's mail: the same for every attempt of that row."""
    domain = from_address.rsplit("@", 1)[-1].strip().lower() or "offer-recall.invalid"
    return f"<{outbox_id}.{_digest(outbox_id)}@{domain}>"


def outbox_id_of(message_id: str) -> str | None:
    """The outbox row a Message-ID of ours was made for (`message_id_for`); None for anyone else's."""
    found = _OUR_ID.match(message_id.strip().lower())
    return found.group(1) if found and found.group(2) == _digest(found.group(1)) else None


def build_message(settings: dict, outgoing: registry.Outgoing, message_id: str, *,
                  now: datetime | None = None, sender_name: str | None = None) -> EmailMessage:
    """The MIME message of one outbox row (UTF-8; From with the display name, Reply-To, Message-ID).
    `sender_name`: the display name of the person who confirmed the send (sender_display "person")."""
    payload, recipient = outgoing.payload or {}, outgoing.recipient or {}
    language = payload.get("language") if payload.get("language") in DEFAULT_SUBJECT else "zh"
    message = EmailMessage()
    message["Subject"] = (payload.get("subject") or "").strip() or DEFAULT_SUBJECT[language]
    # Address quotes a display name as needed ("李娜 (HR)" keeps its parentheses; formataddr would not)
    company = (settings.get("from_name") or "").strip()
    shown = f"{sender_name} · {company}" if sender_name and company else (sender_name or company)
    message["From"] = Address(display_name=shown, addr_spec=settings["from_address"])
    message["To"] = Address(display_name=recipient.get("name") or "", addr_spec=recipient["email"])
    message["Reply-To"] = settings.get("reply_to") or settings["from_address"]
    message["Message-ID"] = message_id
    message["Date"] = format_datetime(now or datetime.now(timezone.utc))
    if outgoing.kind == "notification":
        message["Auto-Submitted"] = "auto-generated"     # RFC 3834: out-of-office replies stay away
    text = payload.get("text") or ""
    if payload.get("link"):
        text = f"{text}\n\n{payload['link']}"
    message.set_content(text, charset="utf-8")
    return message


# ---------------------------------------------------------------- connections
def _tls() -> ssl.SSLContext:
    return ssl.create_default_context()


@contextmanager
def smtp_connection(settings: dict, *, timeout: float = TIMEOUT_SECONDS):
    """An SMTP session with STARTTLS/SSL as configured, signed in when a user name is set."""
    host, port = settings["smtp_host"], int(settings.get("smtp_port") or 587)
    security = settings.get("smtp_security") or "starttls"
    if security == "ssl":
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=_tls())
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
    try:
        if security == "starttls":
            smtp.starttls(context=_tls())
        if settings.get("smtp_username"):
            smtp.login(settings["smtp_username"], settings.get("smtp_password") or "")
        yield smtp
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


@contextmanager
def imap_connection(settings: dict, *, timeout: float = TIMEOUT_SECONDS):
    """A signed-in IMAP session with SSL/STARTTLS as configured."""
    host, port = settings["imap_host"], int(settings.get("imap_port") or 993)
    security = settings.get("imap_security") or "ssl"
    if security == "ssl":
        imap = imaplib.IMAP4_SSL(host, port, ssl_context=_tls(), timeout=timeout)
    else:
        imap = imaplib.IMAP4(host, port, timeout=timeout)
    try:
        if security == "starttls":
            imap.starttls(ssl_context=_tls())
        imap.login(settings.get("imap_username") or "", settings.get("imap_password") or "")
        yield imap
    finally:
        try:
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            imap.shutdown()


def _quoted(mailbox: str) -> str:
    return '"' + mailbox.replace("\\", "\\\\").replace('"', '\\"') + '"'


def in_sent_folder(settings: dict, message_id: str) -> bool:
    """Whether the Sent folder holds a mail with this Message-ID (raises OSError/IMAP4.error when unsure)."""
    with imap_connection(settings) as imap:
        typ, _ = imap.select(_quoted(settings["sent_folder"]), readonly=True)
        if typ != "OK":
            raise imaplib.IMAP4.error(f"cannot open the Sent folder {settings['sent_folder']!r}")
        typ, data = imap.uid("SEARCH", "HEADER", "Message-ID", _quoted(message_id))
        return typ == "OK" and bool(data and data[0] and data[0].split())


def keep_in_sent_folder(settings: dict, raw: bytes) -> None:
    with imap_connection(settings) as imap:
        imap.append(_quoted(settings["sent_folder"]), r"(\Seen)", imaplib.Time2Internaldate(time.time()), raw)


# ---------------------------------------------------------------- sending
def send(engine, outgoing: registry.Outgoing) -> Outcome:
    """Send one outbox row by SMTP (see the module's docstring for the outcomes)."""
    settings = load_settings(engine)
    if settings is None:
        return Outcome("failed", reason="not_configured", detail="email is not set up (ask an admin)")
    address = ((outgoing.recipient or {}).get("email") or "").strip()
    if not address:
        return Outcome("failed", reason="bad_address", detail="the recipient has no email address")
    refused = _refusal_before_send(engine, outgoing, address)
    if refused is not None:
        return refused
    message_id = message_id_for(outgoing.id, settings["from_address"])
    if outgoing.attempts > 0 and settings.get("sent_folder") and settings.get("imap_host"):
        try:
            if in_sent_folder(settings, message_id):
                return Outcome("sent", provider_id=message_id,
                               detail="already sent before (found in the Sent folder): not sent again")
        except (imaplib.IMAP4.error, OSError) as exc:
            return Outcome("retry", provider_id=message_id,
                           detail=f"could not check the Sent folder before sending again: {_describe(exc)}")
    try:
        raw = build_message(settings, outgoing, message_id,
                            sender_name=_sender_name(engine, settings, outgoing)).as_bytes(policy=SMTP_POLICY)
    except (ValueError, IndexError, TypeError) as exc:        # an address the header cannot hold
        return Outcome("failed", reason="bad_address", detail=f"{address!r} is not a usable address: {exc}"[:300])
    try:
        with smtp_connection(settings) as smtp:
            smtp.sendmail(settings["from_address"], [address], raw)
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()), (0, b""))
        if code >= 500:
            mark_failing(engine, address, candidate_id=outgoing.candidate_id, reason="refused",
                         detail=f"{code} {_text(text)}")
            return Outcome("failed", provider_id=message_id, reason="bad_address",
                           detail=f"the mail server refused {address}: {code} {_text(text)}")
        return Outcome("retry", provider_id=message_id, detail=f"the mail server said try later: {code} {_text(text)}")
    except smtplib.SMTPAuthenticationError as exc:
        return Outcome("failed", reason="auth", detail=f"the SMTP server refused the sign-in: {exc.smtp_code}")
    except smtplib.SMTPNotSupportedError as exc:      # no STARTTLS, or no AUTH before TLS
        return Outcome("failed", reason="tls", detail=f"the SMTP server does not offer this: {exc}; "
                                                      "check the security setting")
    except ssl.SSLError as exc:
        return Outcome("failed", reason="tls", detail=f"TLS with the SMTP server failed: {exc.reason or exc}")
    except smtplib.SMTPResponseException as exc:
        if exc.smtp_code >= 500:
            return Outcome("failed", provider_id=message_id, reason="rejected",
                           detail=f"the mail server rejected the mail: {exc.smtp_code} {_text(exc.smtp_error)}")
        return Outcome("retry", provider_id=message_id,
                       detail=f"the mail server said try later: {exc.smtp_code} {_text(exc.smtp_error)}")
    except (smtplib.SMTPException, OSError) as exc:        # connection refused, dropped, timed out
        return Outcome("retry", provider_id=message_id, detail=f"could not reach the SMTP server: {_describe(exc)}")
    if settings.get("sent_folder") and settings.get("imap_host"):
        try:
            keep_in_sent_folder(settings, raw)
        except (imaplib.IMAP4.error, OSError) as exc:    # sent all the same: the copy is a convenience
            log.warning("email %s sent, but not kept in the Sent folder: %s", message_id, _describe(exc))
    return Outcome("sent", provider_id=message_id, detail=f"accepted by {settings['smtp_host']}")


def _sender_name(engine, settings: dict, outgoing: registry.Outgoing) -> str | None:
    """The display name of the person who confirmed a candidate message, when the company shows people
    as senders (one shared mailbox, each mail from the HR person or manager who wrote it)."""
    if settings.get("sender_display") != "person" or outgoing.kind != "candidate_message" or not outgoing.created_by:
        return None
    with engine.db.read_transaction() as s:
        name = s.execute(select(User.display_name).where(User.name == outgoing.created_by)).scalar()
    return (name or "").strip()[:100] or None


def _refusal_before_send(engine, outgoing: registry.Outgoing, address: str) -> Outcome | None:
    with engine.db.read_transaction() as s:
        if outgoing.candidate_id is not None:
            candidate = s.get(Candidate, outgoing.candidate_id)
            if candidate is None or candidate.anonymised_at is not None:
                return Outcome("failed", reason="erased", detail="the candidate's data was erased: nothing is sent")
        failing = s.get(EmailFailingAddress, address.lower())
        if failing is not None:
            return Outcome("failed", reason="bad_address",
                           detail=f"{address} {failing.reason} mail before ({failing.detail or 'no detail'}); "
                                  "correct the candidate's address")
    return None


def mark_failing(engine, address: str, *, candidate_id: str | None, reason: str, detail: str | None,
                 session=None) -> None:
    """Remember that mail to `address` fails (audited `email_address_failing`, without the address)."""
    def write(s):
        now = engine.clock.now()
        row = s.get(EmailFailingAddress, address.lower())
        if row is None:
            s.add(EmailFailingAddress(address=address.lower(), candidate_id=candidate_id, reason=reason,
                                      detail=(detail or "")[:500], failed_at=now))
        else:
            row.reason, row.detail, row.failed_at = reason, (detail or "")[:500], now
            row.candidate_id = row.candidate_id or candidate_id
        engine.ops.audit(s, None, "email_address_failing", f"channel:{NAME}", None, None,
                         {"candidate_id": candidate_id, "reason": reason})
    if session is not None:
        write(session)
        return
    with engine.db.write_transaction() as s:
        write(s)


def _text(value) -> str:
    return (value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value or "")).strip()[:300]


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"[:300]


# ---------------------------------------------------------------- the settings page's "test"
def test_connection(engine, settings: dict) -> str:
    """Sign in to SMTP and, when set, IMAP (and open its folder); ChannelError saying which step failed."""
    steps = []
    try:
        with smtp_connection(settings, timeout=15):
            steps.append(f"SMTP {settings['smtp_host']}: signed in" if settings.get("smtp_username")
                         else f"SMTP {settings['smtp_host']}: connected")
    except smtplib.SMTPAuthenticationError:
        raise ChannelError("SMTP: the server refused the user name or password") from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise ChannelError(f"SMTP {settings.get('smtp_host')}:{settings.get('smtp_port')}: {_describe(exc)}") from None
    if settings.get("imap_host"):
        folder = settings.get("imap_folder") or "INBOX"
        try:
            with imap_connection(settings, timeout=15) as imap:
                typ, data = imap.select(_quoted(folder), readonly=True)
                if typ != "OK":
                    raise ChannelError(f"IMAP: no folder {folder!r}")
                steps.append(f"IMAP {settings['imap_host']}: signed in, {folder} holds {int(data[0] or 0)} mails")
        except imaplib.IMAP4.error as exc:
            raise ChannelError(f"IMAP: {_text(str(exc))}") from None
        except (ssl.SSLError, OSError) as exc:
            raise ChannelError(f"IMAP {settings.get('imap_host')}:{settings.get('imap_port')}: {_describe(exc)}") from None
    return "; ".join(steps)


CHANNEL = registry.Channel(NAME, "邮件", "Email", FIELDS, send=send, test=test_connection)   # engine.channels.builtin
