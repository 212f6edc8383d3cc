"""The WeCom (企业微信) channel: its settings, its sender and follower, registered at import.

- A candidate message becomes a customer message task (externalcontact/add_msg_template, chat_type
  single, the candidate's external_userid, the person's own WeCom user id as sender, their text):
  WeCom asks that person to confirm in their own WeCom app, so the outcome is `awaiting_confirmation`
  with the task's msgid; `follow` reads get_groupmsg_send_result: sent, not a contact any more
  (`not_contact`), over WeCom's 4 per customer per month (`quota`), or not confirmed yet.
- Never twice: before asking WeCom, the send is written down (wecom_message_tasks, with its start);
  a send tried again (the worker died between WeCom's answer and the outbox's record) adopts the task
  WeCom made then — its msgid if recorded, else the task with the same text for the same sender and
  candidate made since that start (get_groupmsg_list_v2, then its send results) — instead of making a
  second one; only a person's retry of a task that failed for good (not a contact, the month's limit)
  asks for a new one.
- A notification (to an employee) is an app message (message/send): text, or markdown with a link.
- 45009 (rate limit) and -1 (busy), or no answer: `retry`, the outbox backs off. Wrong secret, corp
  id or agent: `failed` with reason `auth`.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

from . import settings as channel_settings
from .registry import Channel, ChannelError, Outcome, Outgoing, SettingField
from .wecom_client import AUTH_ERRORS, DEFAULT_API_BASE, WeComApiError, WeComBusy, WeComClient, WeComUnreachable
from .wecom_contacts import contact_of, is_removed
from .wecom_crypto import aes_key
from .wecom_models import WecomMessageTask

NAME = "wecom"
MONTHLY_LIMIT = 4                        # WeCom: 4 customer messages per customer per calendar month
BUSY_RETRY_AFTER = 60.0
LOOK_BACK = timedelta(minutes=2)         # clocks differ: look for an earlier task a little before its start
UNSENT, SENT, NOT_CONTACT, QUOTA = 0, 1, 2, 3

FIELDS = (
    SettingField("corp_id", "企业ID", "Corp ID", help_zh="我的企业 → 企业信息 → 企业ID",
                 help_en="My Company → Company Information → Corp ID"),
    SettingField("agent_id", "应用 AgentId", "App AgentId", kind="int",
                 help_zh="自建应用的 AgentId（需开通“客户联系”权限）",
                 help_en="the AgentId of the self-built app that has Customer Contact access"),
    SettingField("secret", "应用 Secret", "App secret", secret=True),
    SettingField("callback_token", "回调 Token", "Callback token", secret=True,
                 help_zh="接收事件服务器的 Token", help_en="the Token of the event-receiving server"),
    SettingField("encoding_aes_key", "回调 EncodingAESKey", "Callback EncodingAESKey", secret=True,
                 help_zh="43 位，与 Token 一起在企业微信管理后台生成",
                 help_en="43 characters, generated with the Token in WeCom's admin console"),
    SettingField("api_base", "API 地址", "API base URL", kind="url", required=False, default=DEFAULT_API_BASE,
                 help_zh="默认 https://qyapi.weixin.qq.com", help_en="https://qyapi.weixin.qq.com unless told otherwise"),
)


class WeComNotConfigured(ChannelError):
    """No WeCom settings saved, or the channel is disabled."""


def _wall() -> datetime:
    return datetime.now(timezone.utc)


def load_settings(engine) -> dict:
    """The company's WeCom settings (secrets unsealed); ChannelError when WeCom is not set up."""
    channel_settings.install(engine)
    with engine.db.read_statements() as s:
        values = channel_settings.load(s, NAME)
    if not values:
        raise WeComNotConfigured("WeCom is not configured (or is disabled): an admin sets it up under Channels")
    return values


def client_for(engine) -> WeComClient:
    return WeComClient(engine.db, load_settings(engine))


# ---------------------------------------------------------------- send
def send(engine, out: Outgoing) -> Outcome:
    """The outbox's sender for WeCom (registry.Channel.send)."""
    return _guarded(lambda: _notify(client_for(engine), out) if out.kind == "notification"
                    else _candidate_message(engine, out))


def follow(engine, out: Outgoing) -> Outcome:
    """Where a customer message task stands (registry.Channel.follow)."""
    return _guarded(lambda: _follow(client_for(engine), out))


def _guarded(step) -> Outcome:
    try:
        return step()
    except WeComBusy as error:
        return Outcome("retry", reason="busy", detail=str(error), retry_after=BUSY_RETRY_AFTER)
    except WeComUnreachable as error:
        return Outcome("retry", reason="unreachable", detail=str(error))
    except WeComApiError as error:
        reason = "auth" if error.errcode in AUTH_ERRORS else f"wecom_{error.errcode}"
        return Outcome("failed", reason=reason, detail=str(error))


def _candidate_message(engine, out: Outgoing) -> Outcome:
    ext, sender = out.recipient.get("external_userid"), out.recipient.get("sender_userid")
    text = (out.payload or {}).get("text") or ""
    if not ext:
        return Outcome("failed", reason="not_contact", detail="the candidate has no WeCom contact linked")
    if not sender:
        return Outcome("failed", reason="no_sender",
                       detail="the person sending has no WeCom user id in the user directory")
    with engine.db.read_statements() as s:
        if is_removed(s, ext):
            return Outcome("failed", reason="not_contact", detail="the candidate removed the WeCom contact")
        asked = s.get(WecomMessageTask, out.id)
        asked = (asked.msgid, asked.started_at) if asked is not None else None
    client = client_for(engine)
    if asked is not None or out.provider_id:    # asked before: maybe a crash lost WeCom's answer
        msgid = out.provider_id or asked[0] or _earlier_task(client, sender=sender, ext=ext, text=text,
                                                             since=asked[1])
        if msgid:
            _record_task(engine, out.id, msgid)
            earlier = _follow(client, replace(out, provider_id=msgid))
            if earlier.status != "failed":
                return earlier if earlier.status == "sent" else _awaiting(msgid, sender, adopted=True)
            # that task failed for good (not a contact then, or the month's limit): a person's retry
            # asks for a new one
    _record_task(engine, out.id, None)
    answer = client.add_msg_template(sender=sender, external_userids=[ext], text=text)
    msgid = answer.get("msgid")
    _record_task(engine, out.id, msgid)
    if ext in (answer.get("fail_list") or []):
        return Outcome("failed", provider_id=msgid, reason="not_contact",
                       detail=f"the candidate is not a WeCom contact of {sender}")
    return _awaiting(msgid, sender)


def _awaiting(msgid: str, sender: str, *, adopted: bool = False) -> Outcome:
    detail = (f"等待 {sender} 在企业微信中确认发送 / waiting for {sender} to confirm the message in WeCom"
              + (" (the task made before a restart)" if adopted else ""))
    return Outcome("awaiting_confirmation", provider_id=msgid, reason="unsent", detail=detail)


def _record_task(engine, outbox_id: str, msgid: str | None) -> None:
    """Write down (before asking WeCom) that a task is asked for this send, and later its msgid."""
    with engine.db.write_transaction() as s:
        row = s.get(WecomMessageTask, outbox_id, with_for_update=True)
        if row is None:
            s.add(WecomMessageTask(outbox_id=outbox_id, msgid=msgid, started_at=_wall()))
        elif msgid:
            row.msgid = msgid


def _earlier_task(client: WeComClient, *, sender: str, ext: str, text: str, since: datetime) -> str | None:
    """The msgid of a task with this text for `sender` and `ext` made since `since`, the newest; or None.
    (API-made tasks carry no creator in the list: the sender is checked through its send results.)"""
    found = None
    for task in client.message_tasks(since - LOOK_BACK, _wall() + LOOK_BACK):
        if (task.get("text") or {}).get("content") != text:
            continue
        if any(r.get("external_userid") == ext for r in client.send_results(task["msgid"], sender)):
            found = task["msgid"]
    return found


def _follow(client: WeComClient, out: Outgoing) -> Outcome:
    if out.kind != "candidate_message" or not out.provider_id:
        return Outcome("failed", reason="unsent", detail="no WeCom message task to follow")
    ext, sender = out.recipient.get("external_userid"), out.recipient.get("sender_userid")
    entry = next((r for r in client.send_results(out.provider_id, sender) if r.get("external_userid") == ext), None)
    status = entry.get("status") if entry else NOT_CONTACT
    if status == SENT:
        return Outcome("sent", provider_id=out.provider_id, detail="已通过企业微信发送 / sent through WeCom")
    if status == NOT_CONTACT:
        return Outcome("failed", provider_id=out.provider_id, reason="not_contact",
                       detail=f"not sent: the candidate is not (any more) a WeCom contact of {sender}")
    if status == QUOTA:
        return Outcome("failed", provider_id=out.provider_id, reason="quota",
                       detail=f"not sent: the candidate already received {MONTHLY_LIMIT} messages this month "
                              "(WeCom's limit)")
    return _awaiting(out.provider_id, sender)


def _notify(client: WeComClient, out: Outgoing) -> Outcome:
    userid = out.recipient.get("userid")
    if not userid:
        return Outcome("failed", reason="bad_address", detail="the employee has no WeCom user id in the directory")
    payload = out.payload or {}
    text, link = payload.get("text") or "", payload.get("link")
    content = f"{text}\n\n[打开 / Open]({link})" if link else text
    answer = client.send_app_message(userid, content, markdown=bool(link))
    if userid in (answer.get("invaliduser") or "").split("|"):
        return Outcome("failed", reason="bad_address", detail=f"WeCom does not know the user id {userid}")
    return Outcome("sent", provider_id=answer.get("msgid"), detail="app message sent")


# ---------------------------------------------------------------- test connection
def test(engine, values: dict) -> str:
    """The settings page's "test": the EncodingAESKey's form, then a token fetched with the secret."""
    if values.get("encoding_aes_key"):
        aes_key(values["encoding_aes_key"])
    try:
        _token, expires_in = WeComClient(engine.db, values).fetch_token()
    except WeComApiError as error:
        raise ChannelError(f"WeCom refused: {error}") from None
    except WeComUnreachable as error:
        raise ChannelError(str(error)) from None
    return f"连接成功：企业微信发放了访问令牌（{expires_in} 秒有效）/ Connected: WeCom issued an access token ({expires_in} s)"


CHANNEL = Channel(name=NAME, label_zh="企业微信", label_en="WeCom", fields=FIELDS, send=send, follow=follow,
                  test=test, monthly_limit_per_candidate=MONTHLY_LIMIT)      # registered by engine.channels.builtin

__all__ = ["CHANNEL", "WeComNotConfigured", "contact_of", "load_settings", "client_for", "send", "follow", "test"]
