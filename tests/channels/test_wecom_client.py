"""The WeCom client against the fake WeCom server (tests/fakes/wecom_server.py) on both databases:
one token for every engine and process, refreshed before expiry and on 40014/42001, busy answers
raised for the sender to retry, the token sealed at rest."""
from __future__ import annotations

import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import text

from engine.channels.wecom_client import WeComApiError, WeComBusy, WeComClient
from engine.db import Database
from tests.fakes.wecom_server import FakeWeCom
from tests.support import ROOT


@pytest.fixture
def wecom():
    with FakeWeCom() as fake:
        fake.add_contact("wm-ext-1", follow_userid="li.na", name="王伟", remark_mobiles=("13800001111",))
        yield fake


def test_one_token_for_engines_in_threads_and_another_process(database_url, wecom):
    """Five engines (each its own Database, as five workers would) ask for the token at the same moment:
    WeCom is asked once; a separate process then uses the stored token without asking again."""
    engines = [Database(database_url) for _ in range(5)]
    start = threading.Barrier(len(engines))
    tokens, errors = [], []

    def work(db):
        try:
            start.wait()
            client = WeComClient(db, wecom.settings())
            tokens.append(client.tokens.get(client.fetch_token))
            client.external_contact("wm-ext-1")
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(db,)) for db in engines]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for db in engines:
        db.dispose()
    assert errors == [] and len(set(tokens)) == 1
    assert len(wecom.calls("gettoken")) == 1

    script = ("import sys, json; from engine.db import Database; from engine.channels.wecom_client import WeComClient;"
              "db = Database(sys.argv[1]); c = WeComClient(db, json.loads(sys.argv[2]));"
              "print(c.external_contact('wm-ext-1')['external_contact']['name'])")
    import json
    done = subprocess.run([sys.executable, "-c", script, database_url, json.dumps(wecom.settings())], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "王伟"
    assert len(wecom.calls("gettoken")) == 1
    assert {r.query["access_token"] for r in wecom.calls("externalcontact/get")} == set(tokens)


def test_token_expiring_in_the_middle_of_a_batch_is_refreshed_once_and_the_batch_goes_on(db, wecom):
    clients = [WeComClient(db, wecom.settings()) for _ in range(2)]
    for client in clients:
        client.external_contact("wm-ext-1")
    wecom.expire_tokens()                    # WeCom's clock says the token is over; ours does not know yet
    names = [clients[i % 2].external_contact("wm-ext-1")["external_contact"]["name"] for i in range(4)]
    assert names == ["王伟"] * 4
    assert len(wecom.calls("gettoken")) == 2       # the first, and one refresh for both clients
    calls = wecom.calls("externalcontact/get")
    assert len(calls) == 2 + 1 + 4                  # one refused with 42001, retried once with the new token


def test_an_invalid_token_40014_is_refreshed_and_the_call_retried(db, wecom):
    client = WeComClient(db, wecom.settings())
    client.external_contact("wm-ext-1")
    wecom.tokens.clear()                     # WeCom no longer knows the token: 40014
    assert client.external_contact("wm-ext-1")["external_contact"]["name"] == "王伟"
    assert len(wecom.calls("gettoken")) == 2


def test_the_token_is_refreshed_before_it_expires(db, wecom):
    wecom.token_ttl = 40                      # a quarter of its life before expiry: refreshed at 30 s
    offset = {"s": 0}
    client = WeComClient(db, wecom.settings(),
                         wall=lambda: datetime.now(timezone.utc) + timedelta(seconds=offset["s"]))
    client.external_contact("wm-ext-1")
    offset["s"] = 25
    client.external_contact("wm-ext-1")
    assert len(wecom.calls("gettoken")) == 1
    offset["s"] = 31
    client.external_contact("wm-ext-1")
    assert len(wecom.calls("gettoken")) == 2
    assert all(r.query["access_token"] in wecom.tokens for r in wecom.calls("externalcontact/get"))


def test_rate_limit_and_busy_are_raised_for_a_retry(db, wecom):
    client = WeComClient(db, wecom.settings())
    for errcode in (45009, -1):
        wecom.fail_next(errcode, path="externalcontact/get")
        with pytest.raises(WeComBusy) as busy:
            client.external_contact("wm-ext-1")
        assert busy.value.errcode == errcode
    assert client.external_contact("wm-ext-1")["external_contact"]["name"] == "王伟"


def test_a_wrong_secret_is_named_and_does_not_block_the_next_try(db, wecom):
    client = WeComClient(db, wecom.settings(secret="wrong"))
    with pytest.raises(WeComApiError) as refused:
        client.external_contact("wm-ext-1")
    assert refused.value.errcode == 40001 and "wrong" not in str(refused.value)
    started = datetime.now(timezone.utc)
    with pytest.raises(WeComApiError):
        client.external_contact("wm-ext-1")       # the lease was released: no wait for it to run out
    assert datetime.now(timezone.utc) - started < timedelta(seconds=5)
    assert WeComClient(db, wecom.settings()).external_contact("wm-ext-1")["external_contact"]["name"] == "王伟"


def test_the_stored_token_is_sealed_and_a_new_secret_fetches_its_own(db, wecom):
    client = WeComClient(db, wecom.settings())
    token = client.tokens.get(client.fetch_token)
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT token_sealed, key_id FROM channel_tokens")).one()
    assert token not in stored[0] and wecom.secret not in stored[0] + stored[1]
    wecom.secret = "rotated-secret"           # the admin rotated the app secret in WeCom and in our settings
    rotated = WeComClient(db, wecom.settings())
    assert rotated.tokens.get(rotated.fetch_token) != token
    assert len(wecom.calls("gettoken")) == 2
