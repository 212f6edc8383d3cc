"""The app served over real HTTP (werkzeug, a free port) with WeCom configured against the fake WeCom:
what the WeCom tests that need WeCom to call us share."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator, NamedTuple

from werkzeug.serving import make_server

from engine.channels import registry
from engine.channels import settings as channel_settings
from engine.channels.wecom import CHANNEL, NAME
from tests.channels.scripted import new_key
from tests.fakes.wecom_server import FakeWeCom
from tests.support import ADMIN, app_with_workflows


class Served(NamedTuple):
    base: str           # http://127.0.0.1:<port>
    engine: object
    caller: object      # caller(name) -> a test-client Caller (tests.support)
    wecom: FakeWeCom

    @property
    def callback(self) -> str:
        return f"{self.base}/api/v1/channels/wecom/callback"


@contextmanager
def served_with_wecom(database_url: str) -> Iterator[Served]:
    registry.register(CHANNEL)          # a test elsewhere may have replaced the registry's entry
    app, engine, caller = app_with_workflows(database_url, RECALL_SECRET_KEY=new_key())
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with FakeWeCom() as wecom:
            channel_settings.install(engine)
            with engine.db.write_transaction() as s:
                channel_settings.save(s, NAME, wecom.settings(), actor=ADMIN, ops=engine.ops,
                                      now=engine.clock.now())
            yield Served(f"http://127.0.0.1:{server.server_port}", engine, caller, wecom)
    finally:
        server.shutdown()
        server.server_close()
        engine.db.dispose()
