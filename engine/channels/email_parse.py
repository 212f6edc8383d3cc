"""Reading a received mail: who sent it, what it answers, what the person wrote (quoted history cut
off), and whether it is a bounce. Pure functions of the raw MIME bytes; no database, no network.

What counts as quoted history (the reply's own text stays, everything from the first of these on goes):
"> " lines; "On … wrote:" (Gmail, Apple Mail, Thunderbird); "在 … 写道:" (QQ Mail, Foxmail, 163);
"-----原始邮件-----" / "-----Original Message-----" (Outlook, Foxmail); Outlook's header block
("From: … / Sent: …", "发件人: … / 发送时间: …"); and a signature after "-- ".
An HTML-only mail is turned into text first (blockquotes dropped, block elements as line breaks).
"""
from __future__ import annotations

import email
import email.policy
import email.utils
import hashlib
import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from html.parser import HTMLParser

MAX_TEXT = 10000                # candidate_replied's text (workflows/messages.json)
_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")
_QUOTE_HEADS = [
    re.compile(r"^\s*(On|Le|Am|El)\s.+(wrote|a écrit|schrieb|escribió)\s*:\s*$", re.I),
    re.compile(r"^\s*在.+写道\s*[:：]\s*$"),
    re.compile(r"^\s*-{2,}\s*(原始邮件|Original Message|Forwarded message|转发邮件)\s*-{2,}\s*$", re.I),
    re.compile(r"^\s*(From|发件人)\s*[:：].+$", re.I),      # Outlook's block, when "Sent:/发送时间:" follows
]
_OUTLOOK_NEXT = re.compile(r"^\s*(Sent|Date|发送时间|时间|日期|To|收件人)\s*[:：]", re.I)
_SIGNATURE = re.compile(r"^-- ?$")
_DAEMONS = re.compile(r"^(mailer-daemon|postmaster)@", re.I)


@dataclass
class ParsedMail:
    message_id: str                 # the Message-ID header, or one made from the bytes' digest
    from_address: str | None        # lower-cased
    from_name: str | None
    subject: str
    date: datetime | None           # the Date header, aware; None when missing or unreadable
    in_reply_to: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    text: str = ""                  # what the person wrote, quoted history and signature cut off
    is_bounce: bool = False
    is_auto_reply: bool = False     # an out-of-office or other automatic answer (RFC 3834 and common headers)
    bounced_message_ids: list[str] = field(default_factory=list)    # the original's Message-ID(s)
    bounced_recipients: list[str] = field(default_factory=list)     # Final-Recipient addresses
    bounce_status: str | None = None                                 # e.g. "5.1.1"

    @property
    def answers(self) -> list[str]:
        """The Message-IDs this mail refers to: In-Reply-To first, then References newest first."""
        seen, out = set(), []
        for mid in [*self.in_reply_to, *reversed(self.references)]:
            if mid not in seen:
                seen.add(mid)
                out.append(mid)
        return out


def message_ids(value) -> list[str]:
    return _MESSAGE_ID.findall(str(value or ""))


def parse(raw: bytes) -> ParsedMail:
    """Read `raw` (RFC 5322 bytes); never raises on a malformed mail (fields left empty instead)."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    own_id = next(iter(message_ids(_header(msg, "Message-ID"))), None)
    if own_id is None:
        # the same mail read by IMAP (CRLF) and from a file or a push (LF) gets the same id
        digest = hashlib.sha256(raw.replace(b"\r\n", b"\n").rstrip(b"\n")).hexdigest()[:40]
        own_id = f"<sha256.{digest}@no-message-id>"
    name, address = email.utils.parseaddr(_header(msg, "From"))
    parsed = ParsedMail(message_id=own_id, from_address=address.strip().lower() or None, from_name=name or None,
                        subject=_header(msg, "Subject"), date=_date(_header(msg, "Date")),
                        in_reply_to=message_ids(_header(msg, "In-Reply-To")),
                        references=message_ids(_header(msg, "References")))
    _read_bounce(msg, parsed)
    parsed.is_auto_reply = not parsed.is_bounce and _automatic(msg)
    if not parsed.is_bounce:
        parsed.text = reply_text(body_text(msg))
    return parsed


def _header(msg, name: str) -> str:
    try:
        value = msg.get(name)
    except (ValueError, TypeError, IndexError):     # a header the policy cannot parse
        value = msg.get_all(name, failobj=[None])[0] if hasattr(msg, "get_all") else None
    return str(value or "").strip()


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _automatic(msg) -> bool:
    """Sent by a program, not the person: Auto-Submitted other than "no", X-Autoreply/X-Autorespond,
    Precedence auto_reply/bulk/junk (Outlook, Exchange, QQ Mail and Gmail's vacation replies set one)."""
    submitted = _header(msg, "Auto-Submitted").lower()
    precedence = _header(msg, "Precedence").lower()
    return (bool(submitted) and submitted != "no") or bool(_header(msg, "X-Autoreply") or
                                                           _header(msg, "X-Autorespond")) \
        or precedence in ("auto_reply", "bulk", "junk")


# ---------------------------------------------------------------- bounces
def _read_bounce(msg: EmailMessage, parsed: ParsedMail) -> None:
    """A DSN (multipart/report; report-type=delivery-status), or a mail from MAILER-DAEMON/postmaster
    that quotes the original's Message-ID."""
    dsn = msg.get_content_type() == "multipart/report" and \
        (msg.get_param("report-type") or "").lower() == "delivery-status"
    daemon = bool(parsed.from_address and _DAEMONS.match(parsed.from_address))
    if not dsn and not daemon:
        return
    ids: list[str] = []
    for part in msg.walk():
        kind = part.get_content_type()
        if kind == "message/delivery-status":
            for block in part.get_payload() or []:
                recipient = str(block.get("Final-Recipient") or block.get("Original-Recipient") or "")
                if ";" in recipient:
                    parsed.bounced_recipients.append(recipient.split(";", 1)[1].strip().lower())
                status = str(block.get("Status") or "").strip()
                if status and not parsed.bounce_status:
                    parsed.bounce_status = status
        elif kind in ("message/rfc822", "text/rfc822-headers"):
            inner = part.get_payload()
            if isinstance(inner, list):
                inner = inner[0] if inner else None
            if isinstance(inner, str):
                inner = email.message_from_string(inner, policy=email.policy.default)
            if inner is not None:
                ids += message_ids(inner.get("Message-ID"))
    if not ids:                     # a plain-text bounce: the original's id quoted in the body
        ids = [m for m in message_ids(body_text(msg)) if m != parsed.message_id]
    parsed.bounced_message_ids = list(dict.fromkeys(ids))
    parsed.is_bounce = dsn or bool(parsed.bounced_message_ids)


# ---------------------------------------------------------------- text
def body_text(msg: EmailMessage) -> str:
    """The mail's text: its text/plain part, else its HTML as text; attachments ignored."""
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except (KeyError, TypeError):
        part = None
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):                # an unknown charset: bytes as UTF-8, best effort
        content = (part.get_payload(decode=True) or b"").decode("utf-8", "replace")
    if not isinstance(content, str):
        return ""
    return html_to_text(content) if part.get_content_type() == "text/html" else content


class _Text(HTMLParser):
    BLOCKS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "hr"}
    SKIP = {"script", "style", "head", "title", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.skipping:
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(markup: str) -> str:
    """Visible text of an HTML mail: quoted parts (<blockquote>), scripts and styles left out."""
    parser = _Text()
    parser.feed(markup)
    parser.close()
    lines = [line.strip() for line in html.unescape("".join(parser.out)).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def reply_text(text: str) -> str:
    """What the person wrote above the quoted history and their signature."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for i, line in enumerate(lines):
        if _SIGNATURE.match(line):
            break
        if line.lstrip().startswith(">"):
            continue            # quoted lines (an answer written between them stays)
        if any(p.match(line) for p in _QUOTE_HEADS[:3]):
            break
        if i + 1 < len(lines) and _QUOTE_HEADS[0].match(f"{line} {lines[i + 1]}"):
            break               # "On …, Name <address>" wrapped before "wrote:"
        if _QUOTE_HEADS[3].match(line) and i + 1 < len(lines) and _OUTLOOK_NEXT.match(lines[i + 1]):
            break
        kept.append(line.rstrip())
    out = "\n".join(kept).strip()
    if not out:             # a reply that is only a quote (a forward): keep what is there
        out = text.strip()
    return out[:MAX_TEXT]
