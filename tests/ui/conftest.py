"""The browser suite's two fixtures, one per test module: a real `recall serve` on a fresh SQLite
database with workflows/ deployed (tests/ui/ui_harness.py `Server`), and one Chromium (`Browser`).

Both check on the way out that nothing went wrong unseen: no traceback in the server's output, no
console or page error in the browser. A module that needs another bundle defines its own `server`.
"""
from __future__ import annotations

import pytest

from tests.ui.ui_harness import Browser, Server, chromium_or_skip


@pytest.fixture(scope="module")
def server(request, tmp_path_factory):
    chromium_or_skip()
    srv = Server(tmp_path_factory.mktemp(f"ui-{request.module.__name__.rsplit('.', 1)[-1]}"))
    yield srv
    output = srv.stop()
    assert "Traceback" not in output, output


@pytest.fixture(scope="module")
def browser():
    b = Browser(chromium_or_skip())
    yield b
    b.close()
    assert not b.errors, b.errors
