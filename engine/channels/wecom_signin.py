"""Sign in with WeCom (企业微信 web login, OAuth): for people whose user record carries their WeCom user id.

1. The sign-in page asks `start()`: WeCom's web-login URL (login.work.weixin.qq.com, login_type CorpApp,
   the corp id, the app's agent id, our callback as redirect_uri) with a fresh random `state`, which the
   API also puts in a short-lived cookie (so a login started elsewhere cannot be finished here).
2. WeCom sends the browser back to the callback with `code` and `state`; `finish()` checks the state,
   asks WeCom who the code stands for (auth/getuserinfo, with the shared access token) and signs in
   the one active user with that WeCom user id (engine/signin.py `with_wecom`): a session like a
   password's. A code is single use (WeCom's rule); anything wrong is one `SigninRefused`.
"""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from urllib.parse import urlencode

from ..signin import SigninRefused
from .wecom import WeComNotConfigured, client_for, load_settings
from .wecom_client import WeComApiError, WeComUnreachable

LOGIN_URL = "https://login.work.weixin.qq.com/wwlogin/sso/login"
STATE_BYTES = 16


@dataclass(frozen=True)
class Start:
    url: str            # where the browser goes to sign in at WeCom
    state: str          # the same value goes into the state cookie


def enabled(engine) -> bool:
    """WeCom is configured with an agent id (web login needs the app)."""
    try:
        return bool(load_settings(engine).get("agent_id"))
    except WeComNotConfigured:
        return False


def start(engine, *, redirect_uri: str) -> Start:
    """The web-login URL with a fresh state; WeComNotConfigured when WeCom is not set up."""
    values = load_settings(engine)
    state = secrets.token_urlsafe(STATE_BYTES)
    query = urlencode({"login_type": "CorpApp", "appid": values["corp_id"], "agentid": values["agent_id"],
                       "redirect_uri": redirect_uri, "state": state})
    return Start(f"{LOGIN_URL}?{query}", state)


def finish(engine, signin, *, code: str, state: str, expected_state: str | None, address: str | None):
    """Sign in from WeCom's redirect: engine.signin.SignedIn, or SigninRefused (one answer for every cause)."""
    if not expected_state or not hmac.compare_digest(state.encode(), expected_state.encode()):
        raise SigninRefused("the WeCom sign-in did not start here (or took too long): start again")
    try:
        userid = client_for(engine).user_of_code(code)
    except (WeComApiError, WeComUnreachable, WeComNotConfigured):
        raise SigninRefused("WeCom did not confirm who signed in: start again") from None
    return signin.with_wecom(userid or "", address=address)
