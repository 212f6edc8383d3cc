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


@pytest.fixture(autouse=True)
def _pages_closed_after_each_test(request):
    """A test's pages end with it: left open, a page (the studio's autosave, a list's refresh) would
    call a server a later fixture has stopped, and its console error would fail another test."""
    if "browser" not in request.fixturenames:
        yield
        return
    browser = request.getfixturevalue("browser")
    opened = len(browser.contexts)
    yield
    browser.close_since(opened)


@pytest.fixture(scope="module")
def browser():
    b = Browser(chromium_or_skip())
    yield b
    b.close()
    assert not b.errors, b.errors
