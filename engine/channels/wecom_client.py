"""WeCom's server API (qyapi.weixin.qq.com) as the channel uses it, and the access token shared by
every process through the database.

The token (valid `expires_in`, 7200 s, and limited in how often it may be fetched) lives in one row
of `channel_tokens` (engine/channels/wecom_models.py, sealed with a key derived from the app secret).
A process uses it until `REFRESH_MARGIN` before expiry; then ONE process refreshes it: it takes a
lease on the row by compare-and-set (`version`), fetches outside any transaction, and stores the new
token; the others wait for that row instead of fetching too. A call answered 40014 (invalid token) or
42001 (expired) refreshes the token the same way — unless another process already did — and is
retried once. 45009 (rate limit) and -1 (busy) raise `WeComBusy`, which the sender turns into an
Outcome "retry" with backoff. Nothing here logs or raises the secret or a token.
"""
from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from .registry import ChannelError
from .wecom_models import ChannelToken

log = logging.getLogger("recall.channels.wecom")

DEFAULT_API_BASE = "https://qyapi.weixin.qq.com"
CHANNEL = "wecom"
REFRESH_MARGIN = timedelta(minutes=5)     # refresh this long before expiry (a quarter of a shorter life)
LEASE = timedelta(seconds=20)             # a refresher's claim on the row: longer than one gettoken call
WAIT_STEP = 0.05
TIMEOUT = 10.0
TOKEN_ERRORS = frozenset({40014, 42001})  # invalid / expired access token: refresh and retry once
BUSY_ERRORS = frozenset({45009, -1, 45033})   # rate limited / system busy / too many concurrent calls
AUTH_ERRORS = frozenset({40001, 40013, 40056, 40091, 48002, 60020, 301002})  # secret, corp id, agent, ip...


class WeComApiError(ChannelError):
    """WeCom answered an errcode (`errcode`, `errmsg`, `api` name the call; never a token)."""

    def __init__(self, api: str, errcode: int, errmsg: str):
        self.api, self.errcode, self.errmsg = api, errcode, errmsg
        super().__init__(f"WeCom {api} answered errcode {errcode}: {errmsg}")


class WeComBusy(WeComApiError):
    """Rate limited (45009) or busy (-1): try again later."""


class WeComUnreachable(ChannelError):
    """No answer from WeCom (network, timeout, not JSON): the request may or may not have been carried out."""


def _wall() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class TokenKey:
    """Seals the stored token with a key derived from the app secret (see the module docstring)."""

    key: bytes

    @classmethod
    def for_app(cls, corp_id: str, secret: str) -> "TokenKey":
        return cls(hashlib.sha256(f"recall:wecom:access-token:{corp_id}:{secret}".encode("utf-8")).digest())

    @property
    def key_id(self) -> str:
        return hashlib.sha256(self.key).hexdigest()[:16]

    def seal(self, token: str) -> str:
        nonce = os.urandom(12)
        return base64.b64encode(nonce + AESGCM(self.key).encrypt(nonce, token.encode("utf-8"), b"wecom")).decode()

    def unseal(self, sealed: str) -> str | None:
        try:
            raw = base64.b64decode(sealed)
            return AESGCM(self.key).decrypt(raw[:12], raw[12:], b"wecom").decode("utf-8")
        except (InvalidTag, ValueError):
            return None


class TokenStore:
    """The one access token of a channel, shared by every process through `channel_tokens`."""

    def __init__(self, db, key: TokenKey, *, channel: str = CHANNEL, wall: Callable[[], datetime] = _wall,
                 lease: timedelta = LEASE):
        self.db, self.key, self.channel, self.wall, self.lease = db, key, channel, wall, lease

    def get(self, fetch: Callable[[], tuple[str, int]], *, stale: str | None = None) -> str:
        """A token valid for a while yet (not `stale`, the one WeCom just refused); fetched with
        `fetch() -> (token, expires_in)` by this process only if no other is refreshing it."""
        deadline = time.monotonic() + self.lease.total_seconds() * 2
        while True:
            token, version, leased = self._read(stale)
            if token is not None:
                return token
            if not leased and self._claim(version):
                return self._refresh(fetch, version + 1)
            if time.monotonic() > deadline:
                raise ChannelError("the WeCom access token is being refreshed by another process that has not "
                                   "finished; try again")
            time.sleep(WAIT_STEP)

    def forget(self) -> None:
        """Drop the stored token (the settings changed)."""
        with self.db.write_transaction() as s:
            s.execute(update(ChannelToken).where(ChannelToken.channel == self.channel)
                      .values(token_sealed=None, key_id=None, expires_at=None, version=ChannelToken.version + 1))

    def _read(self, stale: str | None) -> tuple[str | None, int, bool]:
        """(usable token or None, the row's version (-1: no row), whether someone holds a live lease)."""
        now = self.wall()
        with self.db.read_statements() as s:
            row = s.get(ChannelToken, self.channel)
            if row is None:
                return None, -1, False
            leased = row.refresh_until is not None and row.refresh_until > now
            if row.token_sealed and row.key_id == self.key.key_id and row.expires_at is not None:
                life = row.expires_at - (row.fetched_at or row.expires_at)
                margin = min(REFRESH_MARGIN, life / 4)
                token = self.key.unseal(row.token_sealed)
                if token is not None and token != stale and row.expires_at - margin > now:
                    return token, row.version, leased
            return None, row.version, leased

    def _claim(self, version: int) -> bool:
        """Take the refresh lease if the row is still at `version` (compare-and-set); True if taken."""
        now = self.wall()
        try:
            with self.db.write_transaction() as s:
                if version < 0:
                    s.add(ChannelToken(channel=self.channel, version=0, refresh_until=now + self.lease))
                    s.flush()
                    return True
                done = s.execute(update(ChannelToken)
                                 .where(ChannelToken.channel == self.channel, ChannelToken.version == version,
                                        (ChannelToken.refresh_until.is_(None)) | (ChannelToken.refresh_until <= now))
                                 .values(refresh_until=now + self.lease, version=version + 1)
                                 .execution_options(synchronize_session=False))
                return done.rowcount == 1
        except IntegrityError:          # another process made the row first
            return False

    def _refresh(self, fetch: Callable[[], tuple[str, int]], version: int) -> str:
        version = max(version, 0)
        try:
            token, expires_in = fetch()
        except BaseException:
            with self.db.write_transaction() as s:        # let the next one try at once
                s.execute(update(ChannelToken).where(ChannelToken.channel == self.channel,
                                                     ChannelToken.version == version)
                          .values(refresh_until=None).execution_options(synchronize_session=False))
            raise
        now = self.wall()
        with self.db.write_transaction() as s:
            s.execute(update(ChannelToken).where(ChannelToken.channel == self.channel, ChannelToken.version == version)
                      .values(token_sealed=self.key.seal(token), key_id=self.key.key_id, fetched_at=now,
                              expires_at=now + timedelta(seconds=int(expires_in)), refresh_until=None,
                              version=version + 1)
                      .execution_options(synchronize_session=False))
        log.info("WeCom access token refreshed (valid %s s)", expires_in)
        return token


class WeComClient:
    """The calls the channel makes, with the shared token; `settings`: corp_id, secret, agent_id, api_base."""

    def __init__(self, db, settings: dict, *, timeout: float = TIMEOUT, wall: Callable[[], datetime] = _wall):
        self.corp_id = str(settings["corp_id"])
        self.secret = str(settings["secret"])
        self.agent_id = int(settings["agent_id"]) if settings.get("agent_id") not in (None, "") else None
        self.api_base = (settings.get("api_base") or DEFAULT_API_BASE).rstrip("/")
        self.timeout = timeout
        self.tokens = TokenStore(db, TokenKey.for_app(self.corp_id, self.secret), wall=wall)

    # ---------------------------------------------------------------- transport
    def fetch_token(self) -> tuple[str, int]:
        """A new token from gettoken: (token, expires_in). Not stored (TokenStore does that)."""
        answer = self._request("GET", "gettoken", {"corpid": self.corp_id, "corpsecret": self.secret})
        return answer["access_token"], int(answer.get("expires_in") or 7200)

    def call(self, method: str, api: str, *, query: dict | None = None, body: dict | None = None) -> dict:
        """One API call with the shared token; refreshed and retried once on 40014/42001."""
        token = self.tokens.get(self.fetch_token)
        try:
            return self._request(method, api, {**(query or {}), "access_token": token}, body)
        except WeComApiError as error:
            if error.errcode not in TOKEN_ERRORS:
                raise
            log.info("WeCom %s: token refused (%s), refreshing and trying once more", api, error.errcode)
        token = self.tokens.get(self.fetch_token, stale=token)
        return self._request(method, api, {**(query or {}), "access_token": token}, body)

    def _request(self, method: str, api: str, query: dict, body: dict | None = None) -> dict:
        url = f"{self.api_base}/cgi-bin/{api}?{urllib.parse.urlencode(query)}"
        data = json.dumps(body, ensure_ascii=False).encode("utf-8") if body is not None else None
        request = urllib.request.Request(url, data=data, method=method,
                                         headers={"Content-Type": "application/json; charset=utf-8"} if data else {})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            raise WeComUnreachable(f"WeCom {api} answered HTTP {error.code}") from None
        except (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise WeComUnreachable(f"WeCom {api} did not answer: {type(reason).__name__}") from None
        except ValueError:
            raise WeComUnreachable(f"WeCom {api} answered something that is not JSON") from None
        errcode = int(answer.get("errcode") or 0)
        if errcode:
            kind = WeComBusy if errcode in BUSY_ERRORS else WeComApiError
            raise kind(api, errcode, str(answer.get("errmsg") or ""))
        return answer

    # ---------------------------------------------------------------- the calls
    def add_msg_template(self, *, sender: str, external_userids: list[str], text: str) -> dict:
        """A customer message task for `sender` to confirm in their WeCom app: {msgid, fail_list}."""
        return self.call("POST", "externalcontact/add_msg_template",
                         body={"chat_type": "single", "external_userid": external_userids, "sender": sender,
                               "text": {"content": text}})

    def send_results(self, msgid: str, userid: str) -> list[dict]:
        """get_groupmsg_send_result for one sender, every page."""
        results, cursor = [], ""
        while True:
            answer = self.call("POST", "externalcontact/get_groupmsg_send_result",
                               body={"msgid": msgid, "userid": userid, "limit": 1000, "cursor": cursor})
            results += answer.get("send_list") or []
            cursor = answer.get("next_cursor") or ""
            if not cursor:
                return results

    def message_tasks(self, start: datetime, end: datetime, *, max_pages: int = 20) -> Iterator[dict]:
        """get_groupmsg_list_v2: the company's (create_type 0) customer message tasks made in [start, end]."""
        cursor = ""
        for _ in range(max_pages):
            answer = self.call("POST", "externalcontact/get_groupmsg_list_v2",
                               body={"chat_type": "single", "start_time": int(start.timestamp()),
                                     "end_time": int(end.timestamp()), "filter_type": 0, "limit": 100,
                                     "cursor": cursor})
            yield from answer.get("group_msg_list") or []
            cursor = answer.get("next_cursor") or ""
            if not cursor:
                return

    def external_contact(self, external_userid: str) -> dict:
        """externalcontact/get: {external_contact, follow_user: [...]}."""
        return self.call("GET", "externalcontact/get", query={"external_userid": external_userid})

    def send_app_message(self, userid: str, content: str, *, markdown: bool = False) -> dict:
        """message/send to one employee from the app: {msgid, invaliduser}."""
        if self.agent_id is None:
            raise ChannelError("the WeCom agent id is not set: app messages need it")
        kind = "markdown" if markdown else "text"
        return self.call("POST", "message/send", body={"touser": userid, "msgtype": kind, "agentid": self.agent_id,
                                                       kind: {"content": content}, "safe": 0})

    def user_of_code(self, code: str) -> str | None:
        """auth/getuserinfo: the company member an OAuth `code` stands for (None: not a member)."""
        return self.call("GET", "auth/getuserinfo", query={"code": code}).get("userid") or None
