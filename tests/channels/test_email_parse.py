"""Reading received mail (engine/channels/email_parse.py): the reply's own text without the quoted history
of the common clients (Gmail, Apple Mail, Outlook, QQ Mail/Foxmail) or the signature; HTML-only mail;
threading headers; bounces (DSN and MAILER-DAEMON) with the original's Message-ID; our Message-IDs."""
from __future__ import annotations

from email.message import EmailMessage

import pytest

from engine.channels import email as email_channel
from engine.channels.email_parse import html_to_text, parse, reply_text

QUOTED = [
    ("可以,下周聊。\n\nOn Mon, Feb 2, 2026 at 10:00 AM Li Na <hr@corp.test> wrote:\n> 您好\n> 最近好吗", "可以,下周聊。"),
    ("Sounds good.\n\nOn Mon, Feb 2, 2026 at 10:00 AM Li Na <\nhr@corp.test> wrote:\n> Hello", "Sounds good."),
    ("好的\n\n在 2026年2月2日 星期一 10:00,李娜 <hr@corp.test> 写道:\n> 您好", "好的"),
    ("好的\n在 2026-02-02 10:00:00,\"李娜\"<hr@corp.test> 写道：\n您好", "好的"),
    ("收到\n\n------------------ 原始邮件 ------------------\n发件人: 李娜\n您好", "收到"),
    ("Thanks\n\n-----Original Message-----\nFrom: Li Na\nSent: Monday\nHello", "Thanks"),
    ("谢谢\n\n发件人: 李娜 <hr@corp.test>\n发送时间: 2026年2月2日 10:00\n收件人: 我\n您好", "谢谢"),
    ("Thanks\n\nFrom: Li Na <hr@corp.test>\nSent: Monday, February 2, 2026 10:00\nTo: me\nHello", "Thanks"),
    ("我想了解薪资。\n\n-- \n周思远\n138 0000 0000", "我想了解薪资。"),
    ("> 您问我什么时候方便\n周二下午\n> 地点呢\n线上就行", "周二下午\n线上就行"),
]


@pytest.mark.parametrize("text,expected", QUOTED)
def test_the_quoted_history_and_the_signature_are_cut_off(text, expected):
    assert reply_text(text) == expected


def test_a_line_that_only_mentions_from_is_kept():
    assert reply_text("From: 我自己的想法\n我还在考虑") == "From: 我自己的想法\n我还在考虑"


def test_an_html_only_mail_becomes_text_without_its_quote():
    message = EmailMessage()
    message["From"], message["Subject"] = "周思远 <zhou@example.test>", "Re: 问候"
    message["Message-ID"], message["In-Reply-To"] = "<a1@client.test>", "<x.0123456789abcdef@corp.test>"
    message["References"] = "<first@corp.test> <x.0123456789abcdef@corp.test>"
    message["Date"] = "Tue, 03 Feb 2026 09:30:00 +0800"
    message.set_content("<html><head><style>p{color:red}</style></head><body><p>可以&amp;好的</p><div>下周见"
                        "</div><blockquote>您好,最近如何?</blockquote></body></html>", subtype="html")
    mail = parse(bytes(message))
    assert mail.text == "可以&好的\n\n下周见"
    assert (mail.from_address, mail.from_name, mail.subject) == ("zhou@example.test", "周思远", "Re: 问候")
    assert mail.answers == ["<x.0123456789abcdef@corp.test>", "<first@corp.test>"]
    assert mail.date.isoformat() == "2026-02-03T09:30:00+08:00" and not mail.is_bounce
    assert html_to_text("<p>a</p><script>alert(1)</script><p>b</p>") == "a\n\nb"


def test_a_dsn_and_a_daemons_plain_bounce_name_the_original():
    ours = email_channel.message_id_for("0b0f4e4e-1111-4c4c-9999-000000000001", "hr@corp.test")
    dsn = (f"From: MAILER-DAEMON@corp.test\r\nMessage-ID: <d1@corp.test>\r\nMIME-Version: 1.0\r\n"
           f"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n"
           f"--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\n"
           f"Reporting-MTA: dns; corp.test\r\n\r\nFinal-Recipient: rfc822; Gone@Example.test\r\nAction: failed\r\n"
           f"Status: 5.1.1\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: {ours}\r\nSubject: hi\r\n\r\n"
           f"body\r\n--b--\r\n").encode()
    mail = parse(dsn)
    assert (mail.is_bounce, mail.bounced_message_ids, mail.bounced_recipients, mail.bounce_status) == \
        (True, [ours], ["gone@example.test"], "5.1.1")
    plain = (f"From: Mail Delivery Subsystem <mailer-daemon@qq.test>\r\nMessage-ID: <d2@qq.test>\r\n\r\n"
             f"Your message {ours} could not be delivered to gone@example.test.\r\n").encode()
    assert parse(plain).bounced_message_ids == [ours] and parse(plain).is_bounce
    chatty = b"From: postmaster@qq.test\r\nMessage-ID: <d3@qq.test>\r\n\r\nWelcome to our service\r\n"
    assert not parse(chatty).is_bounce                  # a daemon's mail that bounces nothing is no bounce


def test_our_message_ids_name_their_outbox_row_and_nothing_else():
    send_id = "0b0f4e4e-1111-4c4c-9999-000000000001"
    ours = email_channel.message_id_for(send_id, "HR@Corp.Test")
    assert ours.endswith("@corp.test>") and email_channel.outbox_id_of(ours) == send_id
    assert email_channel.message_id_for(send_id, "hr@corp.test") == ours             # stable per row
    forged = ours.replace(ours.split(".")[1].split("@")[0], "0" * 16)
    assert email_channel.outbox_id_of(forged) is None
    assert email_channel.outbox_id_of("<CAF=abc@mail.gmail.com>") is None


def test_a_mail_without_message_id_gets_the_same_id_however_its_lines_end():
    raw = b"From: a@b.test\r\nSubject: x\r\n\r\nhello\r\n"
    assert parse(raw).message_id == parse(raw.replace(b"\r\n", b"\n")).message_id
    assert parse(raw).message_id != parse(raw.replace(b"hello", b"bye")).message_id


@pytest.mark.parametrize("header", ["Auto-Submitted: auto-replied", "X-Autoreply: yes", "Precedence: auto_reply",
                                    "Auto-Submitted: auto-generated"])
def test_automatic_answers_are_told_apart(header):
    raw = f"From: zhou@example.test\r\nMessage-ID: <ooo@x.test>\r\n{header}\r\nSubject: 自动回复\r\n\r\n我正在休假\r\n".encode()
    assert parse(raw).is_auto_reply
    person = b"From: zhou@example.test\r\nAuto-Submitted: no\r\nSubject: Re\r\n\r\nhi\r\n"
    assert not parse(person).is_auto_reply
