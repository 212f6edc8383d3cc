"""Sign in with WeCom (OAuth web login) against the fake WeCom's auth/getuserinfo, on both databases:
the login URL and its state cookie, a session like a password's for the user whose WeCom id WeCom
vouches for, and one refusal for a foreign state, a used code, an unknown or deactivated person."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from engine import users
from engine.channels import registry
from engine.channels import settings as channel_settings
from engine.channels.wecom import CHANNEL, NAME
from engine.channels.wecom_signin import LOGIN_URL
from tests.channels.scripted import new_key
from tests.fakes.wecom_server import FakeWeCom
from tests.support import ADMIN, PREFIX, make_app

START, BACK = PREFIX + "/session/wecom", PREFIX + "/session/wecom/callback"


@pytest.fixture
def app(database_url):
    registry.register(CHANNEL)
    app = make_app(database_url, RECALL_SECRET_KEY=new_key())
    engine = app.extensions["recall"].engine
    users.add_user(engine.db, "li.na", "hr", wecom_user_id="LiNa")
    users.add_user(engine.db, "gone", "hr", wecom_user_id="Gone")
    users.set_active(engine.db, "gone", False)
    yield app, engine
    engine.db.dispose()


@pytest.fixture
def wecom(app):
    _, engine = app
    with FakeWeCom() as fake:
        channel_settings.install(engine)
        with engine.db.write_transaction() as s:
            channel_settings.save(s, NAME, fake.settings(), actor=ADMIN, ops=engine.ops, now=engine.clock.now())
        yield fake


def _start(client) -> dict:
    answer = client.get(START)
    assert answer.status_code == 200
    return answer.json


def test_off_until_wecom_is_set_up(app):
    client = app[0].test_client()
    assert _start(client) == {"enabled": False, "url": None}
    assert client.get_cookie("recall_wecom_state") is None


def test_the_login_url_carries_the_app_and_a_state_kept_in_a_lax_cookie(app, wecom):
    client = app[0].test_client()
    started = _start(client)
    url = urlsplit(started["url"])
    assert started["enabled"] and f"{url.scheme}://{url.netloc}{url.path}" == LOGIN_URL
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert (query["login_type"], query["appid"], query["agentid"]) == ("CorpApp", wecom.corp_id, str(wecom.agent_id))
    assert query["redirect_uri"] == "http://localhost" + BACK
    cookie = client.get_cookie("recall_wecom_state", path=START)
    assert cookie.value == query["state"] and cookie.http_only and cookie.same_site == "Lax"
    assert _start(client)["url"] != started["url"]          # a fresh state each time


def test_wecom_vouches_for_the_person_and_they_get_a_session(app, wecom):
    client = app[0].test_client()
    state = parse_qs(urlsplit(_start(client)["url"]).query)["state"][0]
    back = client.get(BACK, query_string={"code": wecom.oauth_code("LiNa"), "state": state})
    assert back.status_code == 302 and back.headers["Location"] == "/app/"
    session = client.get_cookie("recall_session", path=PREFIX)
    assert session is not None and session.same_site == "Strict" and session.http_only
    assert client.get_cookie("recall_wecom_state", path=START) is None
    me = client.get(PREFIX + "/session")
    assert me.status_code == 200 and me.json["user"]["name"] == "li.na"
    assert [r.query["code"] for r in wecom.calls("auth/getuserinfo")] and len(wecom.calls("gettoken")) == 1


@pytest.mark.parametrize("case", ["foreign_state", "no_cookie", "used_code", "unknown_person", "deactivated"])
def test_every_refusal_is_one_answer_and_no_session(app, wecom, case):
    client = app[0].test_client()
    state = parse_qs(urlsplit(_start(client)["url"]).query)["state"][0]
    code = wecom.oauth_code({"unknown_person": "Stranger", "deactivated": "Gone"}.get(case, "LiNa"))
    if case == "used_code":
        wecom.codes.clear()
    if case == "no_cookie":
        client.delete_cookie("recall_wecom_state", path=START)
    back = client.get(BACK, query_string={"code": code, "state": "forged" if case == "foreign_state" else state})
    assert back.status_code == 302 and back.headers["Location"] == "/app/signin#wecom=refused"
    assert client.get_cookie("recall_session", path=PREFIX) is None
    assert client.get(PREFIX + "/session").status_code == 401
    if case in ("foreign_state", "no_cookie"):
        assert wecom.calls("auth/getuserinfo") == []      # WeCom is not even asked


def test_the_return_without_code_or_state_is_a_422(app):
    assert app[0].test_client().get(BACK).status_code == 422
