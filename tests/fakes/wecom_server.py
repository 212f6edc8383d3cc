"""A local HTTP server that speaks WeCom's (企业微信) server API, for tests: WeCom cannot be reached
from here. It answers like qyapi.weixin.qq.com — JSON with `errcode`/`errmsg`, the same paths,
parameters and error codes — and keeps the state a real company's WeCom would:

- `GET /cgi-bin/gettoken`: tokens that expire after `token_ttl` seconds (40013 bad corp id, 40001 bad
  secret); every other call: 41001 without a token, 40014 for an unknown one, 42001 for an expired one;
- `externalcontact/add_msg_template`: a pending message task per sender — NOTHING reaches the customer
  until `confirm(sender, msgid)`, which stands for the employee confirming in their own WeCom app;
  then per customer: sent (1), not a contact of that sender (2), or over the limit of 4 per customer
  per calendar month, China time (3);
- `get_groupmsg_send_result`, `get_groupmsg_task`, `get_groupmsg_list_v2` (≤ 1 month window,
  API-made tasks have create_type 0 and no creator, as WeCom documents), `externalcontact/get`,
  `message/send` (app messages to employees, recorded), `auth/getuserinfo` (OAuth codes, single use);
- switches: `fail_next(errcode, times)` (45009 rate limit, -1 busy), `expire_tokens()` (now or
  `expire_tokens_after(calls)`),
  `drop_answer_of(path)` (does the work, then closes the connection unanswered: a crash between
  WeCom's answer and our record);
- `post_callback(url, ...)`: a change_external_contact event POSTed to our endpoint, signed and
  AES-encrypted exactly as WeCom does (engine/channels/wecom_crypto.py is checked against Tencent's
  published sample); `check_url(url)`: the URL verification GET.

Every request is recorded (`requests`) for assertions.
"""
from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from engine.channels.wecom_crypto import WeComCrypto

CHINA = timezone(timedelta(hours=8))
MONTHLY_LIMIT = 4
UNSENT, SENT, NOT_CONTACT, QUOTA = 0, 1, 2, 3


@dataclass
class Recorded:
    method: str
    path: str            # without the /cgi-bin/ prefix, e.g. "externalcontact/add_msg_template"
    query: dict
    body: dict | None


@dataclass
class MessageTask:
    msgid: str
    sender: str
    external_userids: list
    text: str
    create_time: int
    confirmed_at: int | None = None
    results: dict = field(default_factory=dict)     # external_userid -> status


class FakeWeCom:
    """The fake WeCom; `with FakeWeCom(...) as wecom:` serves on 127.0.0.1 (`wecom.base_url`)."""

    def __init__(self, *, corp_id: str = "ww-fake-corp", secret: str = "app-secret", agent_id: int = 1000002,
                 token_ttl: int = 7200, callback_token: str = "cb-token",
                 encoding_aes_key: str = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"):
        self.corp_id, self.secret, self.agent_id = corp_id, secret, agent_id
        self.token_ttl = token_ttl
        self.crypto = WeComCrypto(callback_token, encoding_aes_key, corp_id)
        self.lock = threading.RLock()
        self.requests: list[Recorded] = []
        self.tokens: dict[str, float] = {}                 # token -> expiry (time.time())
        self.contacts: dict[str, dict] = {}                # external_userid -> {name, follow_user: [...]}
        self.employees: set[str] = set()
        self.tasks: dict[str, MessageTask] = {}
        self.received: dict[tuple[str, str], int] = {}     # (external_userid, "YYYY-MM") -> messages received
        self.delivered: list[tuple[str, str, str]] = []    # (sender, external_userid, text) that reached them
        self.app_messages: list[dict] = []
        self.codes: dict[str, str] = {}                    # OAuth code -> userid
        self._failures: list[tuple[int, str | None]] = []
        self._drop: set[str] = set()
        self._expire_after: int | None = None
        self.now = time.time                               # WeCom's clock (a test may move it)
        self.echo: str | None = None                       # the plaintext of the last URL check's echostr
        self._server: ThreadingHTTPServer | None = None

    # ---------------------------------------------------------------- lifecycle
    def __enter__(self) -> "FakeWeCom":
        self.start()
        return self

    def __exit__(self, *_exc):
        self.stop()

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                fake._handle(self, "GET")

            def do_POST(self):
                fake._handle(self, "POST")

            def log_message(self, *_args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def settings(self, **overrides) -> dict:
        """The channel settings a company would save to reach this WeCom."""
        return {"corp_id": self.corp_id, "agent_id": self.agent_id, "secret": self.secret,
                "callback_token": self.crypto.token, "encoding_aes_key": self.crypto.encoding_aes_key,
                "api_base": self.base_url, **overrides}

    # ---------------------------------------------------------------- what happens in WeCom itself
    def add_contact(self, external_userid: str, *, follow_userid: str, name: str = "客户",
                    remark_mobiles: tuple = (), state: str | None = None) -> None:
        """A customer adds employee `follow_userid` (the callback is separate: `post_callback`)."""
        with self.lock:
            self.employees.add(follow_userid)
            contact = self.contacts.setdefault(external_userid, {"name": name, "follow_user": []})
            contact["follow_user"] = [f for f in contact["follow_user"] if f["userid"] != follow_userid]
            contact["follow_user"].append({"userid": follow_userid, "remark": "", "createtime": int(self.now()),
                                           "remark_mobiles": list(remark_mobiles), "add_way": 1,
                                           "oper_userid": external_userid, **({"state": state} if state else {})})

    def remove_contact(self, external_userid: str, follow_userid: str) -> None:
        with self.lock:
            contact = self.contacts.get(external_userid)
            if contact:
                contact["follow_user"] = [f for f in contact["follow_user"] if f["userid"] != follow_userid]

    def is_contact(self, external_userid: str, userid: str) -> bool:
        contact = self.contacts.get(external_userid)
        return bool(contact) and any(f["userid"] == userid for f in contact["follow_user"])

    def confirm(self, sender: str, msgid: str) -> dict:
        """The employee `sender` confirms the message task in their WeCom app: it goes out now, to each
        customer that is still their contact and has room in this month's limit. Returns the results."""
        with self.lock:
            task = self.tasks[msgid]
            if task.sender != sender:
                raise AssertionError(f"{sender} has no message task {msgid} to confirm")
            if task.confirmed_at is None:
                task.confirmed_at = int(self.now())
                month = datetime.fromtimestamp(task.confirmed_at, CHINA).strftime("%Y-%m")
                for ext in task.external_userids:
                    if task.results.get(ext) != UNSENT:
                        continue
                    if not self.is_contact(ext, sender):
                        task.results[ext] = NOT_CONTACT
                    elif self.received.get((ext, month), 0) >= MONTHLY_LIMIT:
                        task.results[ext] = QUOTA
                    else:
                        self.received[(ext, month)] = self.received.get((ext, month), 0) + 1
                        task.results[ext] = SENT
                        self.delivered.append((sender, ext, task.text))
            return dict(task.results)

    def oauth_code(self, userid: str) -> str:
        """The `code` WeCom puts on the redirect after `userid` signed in (single use)."""
        code = secrets.token_hex(8)
        with self.lock:
            self.codes[code] = userid
        return code

    # ---------------------------------------------------------------- switches
    def fail_next(self, errcode: int, times: int = 1, *, path: str | None = None) -> None:
        """The next `times` API calls (to `path` only, if given) answer `errcode` (45009, -1 ...)."""
        with self.lock:
            self._failures += [(errcode, path)] * times

    def expire_tokens(self) -> None:
        """Every token issued so far expires now (WeCom's clock and ours differ; a token may be revoked)."""
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = 0

    def expire_tokens_after(self, calls: int) -> None:
        """The tokens expire once `calls` more API calls were answered (in the middle of a batch)."""
        with self.lock:
            self._expire_after = calls

    def drop_answer_of(self, path: str) -> None:
        """The next call to `path` is carried out, then the connection closes without an answer."""
        with self.lock:
            self._drop.add(path)

    def calls(self, path: str) -> list[Recorded]:
        with self.lock:
            return [r for r in self.requests if r.path == path]

    # ---------------------------------------------------------------- callbacks to our endpoint
    def post_callback(self, url: str, change_type: str, *, external_userid: str, userid: str,
                      state: str | None = None, signature: str | None = None, timeout: float = 10) -> tuple[int, str]:
        """POST a change_external_contact event to `url` as WeCom does; (status, body) of the answer.
        `signature` overrides the computed msg_signature (a forged request)."""
        now = int(self.now())
        xml = ("<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
               "<CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
               "<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[{change}]]></ChangeType>"
               "<UserID><![CDATA[{userid}]]></UserID><ExternalUserID><![CDATA[{ext}]]></ExternalUserID>"
               "{state}</xml>").format(corp=self.corp_id, now=now, change=change_type, userid=userid,
                                       ext=external_userid,
                                       state=f"<State><![CDATA[{state}]]></State>" if state else "")
        nonce = str(secrets.randbelow(10 ** 10))
        body, sig = self.crypto.seal(xml, timestamp=str(now), nonce=nonce)
        query = urllib.parse.urlencode({"msg_signature": signature or sig, "timestamp": now, "nonce": nonce})
        request = urllib.request.Request(f"{url}?{query}", data=body.encode("utf-8"), method="POST",
                                         headers={"Content-Type": "text/xml"})
        return _open(request, timeout)

    def check_url(self, url: str, *, signature: str | None = None, timeout: float = 10) -> tuple[int, str]:
        """The URL verification GET WeCom sends when an admin saves the callback URL: (status, body)."""
        now = str(int(self.now()))
        nonce = str(secrets.randbelow(10 ** 10))
        self.echo = secrets.token_hex(8)
        echostr = self.crypto.encrypt(self.echo)
        query = urllib.parse.urlencode({"msg_signature": signature or self.crypto.sign(now, nonce, echostr),
                                        "timestamp": now, "nonce": nonce, "echostr": echostr})
        return _open(urllib.request.Request(f"{url}?{query}"), timeout)

    # ---------------------------------------------------------------- the HTTP side
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parsed = urllib.parse.urlsplit(handler.path)
        path = parsed.path.removeprefix("/cgi-bin/")
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
            answer = _error(47001, "data format error")
        else:
            answer = None
        with self.lock:
            self.requests.append(Recorded(method, path, query, body))
            if answer is None:
                answer = self._answer(method, path, query, body)
            drop = path in self._drop
            self._drop.discard(path)
        if drop:
            handler.close_connection = True
            handler.connection.close()
            return
        data = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        handler.send_response(200)          # WeCom answers errors with 200 and an errcode
        handler.send_header("Content-Type", "application/json; charset=UTF-8")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _answer(self, method: str, path: str, query: dict, body: dict | None) -> dict:
        if path == "gettoken":
            return self._gettoken(query)
        if self._expire_after is not None:
            if self._expire_after <= 0:
                self.expire_tokens()
                self._expire_after = None
            else:
                self._expire_after -= 1
        failure = next((f for f in self._failures if f[1] in (None, path)), None)
        if failure is not None:
            self._failures.remove(failure)
            return _error(failure[0], {45009: "api freq out of limit", -1: "system busy"}.get(failure[0], "error"))
        token = query.get("access_token")
        if not token:
            return _error(41001, "access_token missing")
        if token not in self.tokens:
            return _error(40014, "invalid access_token")
        if self.tokens[token] <= self.now():
            return _error(42001, "access_token expired")
        route = {("POST", "externalcontact/add_msg_template"): self._add_msg_template,
                 ("POST", "externalcontact/get_groupmsg_send_result"): self._send_result,
                 ("POST", "externalcontact/get_groupmsg_task"): self._task_list,
                 ("POST", "externalcontact/get_groupmsg_list_v2"): self._list_v2,
                 ("GET", "externalcontact/get"): self._external_contact,
                 ("POST", "message/send"): self._message_send,
                 ("GET", "auth/getuserinfo"): self._getuserinfo}.get((method, path))
        if route is None:
            return _error(404, f"no such api: {method} {path}")
        return route(body if method == "POST" else query)

    def _gettoken(self, query: dict) -> dict:
        if query.get("corpid") != self.corp_id:
            return _error(40013, "invalid corpid")
        if query.get("corpsecret") != self.secret:
            return _error(40001, "invalid credential")
        token = secrets.token_urlsafe(32)
        self.tokens[token] = self.now() + self.token_ttl
        return {"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": self.token_ttl}

    def _add_msg_template(self, body: dict | None) -> dict:
        body = body or {}
        if body.get("chat_type", "single") != "single":
            return _error(40058, "only chat_type single is faked")
        externals, sender = body.get("external_userid") or [], body.get("sender")
        text = (body.get("text") or {}).get("content")
        if not externals and not sender:
            return _error(40058, "external_userid and sender cannot both be empty")
        if not text:
            return _error(41053, "text and attachments cannot both be empty")
        if len(text.encode("utf-8")) > 4000:
            return _error(40058, "text.content over 4000 bytes")
        fail = [e for e in externals if not sender or not self.is_contact(e, sender)]
        msgid = "msg" + secrets.token_hex(12)
        self.tasks[msgid] = MessageTask(msgid=msgid, sender=sender, external_userids=list(externals), text=text,
                                        create_time=int(self.now()),
                                        results={e: (NOT_CONTACT if e in fail else UNSENT) for e in externals})
        return {"errcode": 0, "errmsg": "ok", "fail_list": fail, "msgid": msgid}

    def _send_result(self, body: dict | None) -> dict:
        body = body or {}
        task = self.tasks.get(body.get("msgid"))
        if task is None:
            return _error(41063, "msgid not found")
        if body.get("userid") != task.sender:
            return {"errcode": 0, "errmsg": "ok", "send_list": [], "next_cursor": ""}
        send_list = []
        for ext, status in task.results.items():
            entry = {"external_userid": ext, "userid": task.sender, "status": status}
            if status == SENT:
                entry["send_time"] = task.confirmed_at
            send_list.append(entry)
        return {"errcode": 0, "errmsg": "ok", "send_list": send_list, "next_cursor": ""}

    def _task_list(self, body: dict | None) -> dict:
        task = self.tasks.get((body or {}).get("msgid"))
        if task is None:
            return _error(41063, "msgid not found")
        entry = {"userid": task.sender, "status": 2 if task.confirmed_at else 0}
        if task.confirmed_at:
            entry["send_time"] = task.confirmed_at
        return {"errcode": 0, "errmsg": "ok", "task_list": [entry], "next_cursor": ""}

    def _list_v2(self, body: dict | None) -> dict:
        body = body or {}
        start, end = body.get("start_time"), body.get("end_time")
        if not isinstance(start, int) or not isinstance(end, int) or end < start:
            return _error(40058, "start_time and end_time are required")
        if end - start > 31 * 86400:
            return _error(40058, "the time range cannot exceed one month")
        if body.get("creator"):         # API-made tasks have no creator: a creator filter never finds them
            return {"errcode": 0, "errmsg": "ok", "group_msg_list": [], "next_cursor": ""}
        if body.get("filter_type", 2) == 1:
            return {"errcode": 0, "errmsg": "ok", "group_msg_list": [], "next_cursor": ""}
        found = sorted((t for t in self.tasks.values() if start <= t.create_time <= end),
                       key=lambda t: (t.create_time, t.msgid))
        offset = int(body.get("cursor") or 0)
        limit = min(int(body.get("limit") or 50), 100)
        page = found[offset:offset + limit]
        nxt = str(offset + limit) if offset + limit < len(found) else ""
        return {"errcode": 0, "errmsg": "ok", "next_cursor": nxt,
                "group_msg_list": [{"msgid": t.msgid, "create_time": str(t.create_time), "create_type": 0,
                                    "text": {"content": t.text}} for t in page]}

    def _external_contact(self, query: dict) -> dict:
        ext = query.get("external_userid")
        contact = self.contacts.get(ext)
        if contact is None:
            return _error(84061, "not external contact")
        return {"errcode": 0, "errmsg": "ok",
                "external_contact": {"external_userid": ext, "name": contact["name"], "type": 1, "gender": 0},
                "follow_user": [dict(f) for f in contact["follow_user"]]}

    def _message_send(self, body: dict | None) -> dict:
        body = body or {}
        if body.get("agentid") != self.agent_id:
            return _error(40056, "invalid agentid")
        msgtype = body.get("msgtype")
        if msgtype not in ("text", "markdown") or not (body.get(msgtype) or {}).get("content"):
            return _error(41006 if msgtype else 41008, "content missing")
        users = [u for u in (body.get("touser") or "").split("|") if u]
        invalid = [u for u in users if u not in self.employees]
        msgid = secrets.token_hex(8)
        for user in users:
            if user not in invalid:
                self.app_messages.append({"touser": user, "msgtype": msgtype, "content": body[msgtype]["content"],
                                          "msgid": msgid})
        return {"errcode": 0, "errmsg": "ok", "invaliduser": "|".join(invalid), "msgid": msgid}

    def _getuserinfo(self, query: dict) -> dict:
        userid = self.codes.pop(query.get("code") or "", None)
        if userid is None:
            return _error(40029, "invalid code")
        return {"errcode": 0, "errmsg": "ok", "userid": userid, "user_ticket": secrets.token_hex(8)}


def _error(code: int, message: str) -> dict:
    return {"errcode": code, "errmsg": message}


def _open(request: urllib.request.Request, timeout: float) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return answer.status, answer.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8")
