"""Harness of the browser tests: a real `recall serve` on the simulated clock, users, and
headless Chromium (Debian's `chromium` package) driven by Playwright's Python API.

Playwright never downloads a browser here: it starts `/usr/bin/chromium` (or
RECALL_TEST_CHROMIUM) through `executable_path`. Without that browser the tests are skipped,
unless RECALL_TEST_UI=1 (set by .ci/run) makes its absence an error.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.servers import free_port, migrated_database
from tests.support import PEOPLE, ROOT
SCREENSHOTS = ROOT / "docs" / "screenshots"
# docs/screenshots/ is refreshed only when asked (RECALL_TEST_SCREENSHOTS=1); otherwise the same shots
# are taken into a temporary directory, so a test run leaves the tree as it was.
SHOTS_TO = SCREENSHOTS if os.environ.get("RECALL_TEST_SCREENSHOTS") == "1" else \
    Path(tempfile.gettempdir()) / "recall-screenshots"
CHROMIUM = os.environ.get("RECALL_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage",
]


def shot(page, name: str, *, full_page: bool = True, element: str | None = None) -> Path:
    """A screenshot of the page (or one element) as docs/screenshots/`name` shows it."""
    SHOTS_TO.mkdir(parents=True, exist_ok=True)
    page.evaluate("document.getElementById('toast').hidden = true")    # a passing toast is not the page
    target = page.locator(element) if element else page
    options = {"path": str(SHOTS_TO / name), "animations": "disabled"}
    if not element:
        options["full_page"] = full_page
    target.screenshot(**options)
    return SHOTS_TO / name


def sign_in(page, server, user: str) -> None:
    """Sign `user` in on the workspace's sign-in page (zh) with their API token, and wait for the landing."""
    page.goto("/app/")
    page.wait_for_url(re.compile(r"/app/signin"))
    page.get_by_label("API 令牌").fill(server.tokens[user])
    page.get_by_role("button", name="登录").click()
    page.wait_for_selector("main[data-ready]:not([data-ready=signin])")


def chromium_or_skip() -> str:
    if Path(CHROMIUM).exists():
        return CHROMIUM
    message = (f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium) "
               "or set RECALL_TEST_CHROMIUM")
    if os.environ.get("RECALL_TEST_UI") == "1":
        pytest.fail(message)
    pytest.skip(message)


class Server:
    """`recall serve` in a subprocess, on a fresh SQLite database with workflows/ deployed (or
    `workflows`, a changed copy whose forms are beside it in `forms/`; `module`: the command's module, one
    that adds to `cli`, e.g. a channel of the tests' own). `database="postgresql"`: a
    fresh schema of its own instead (tests/servers.py `migrated_database`, dropped by `stop()`; the
    test is skipped when PostgreSQL is unreachable)."""

    def __init__(self, tmp: Path, *, workflows: Path = ROOT / "workflows", database: str = "sqlite",
                 module: str = "cli"):
        from engine import users
        from engine.db import Database
        from engine.service import RecallEngine

        self._resources = ExitStack()
        self.database = database
        self.url_db = self._resources.enter_context(migrated_database(database, tmp))   # migrated
        env = {"RECALL_DATABASE_URL": self.url_db, "RECALL_CLOCK": "simulated",
               "RECALL_WORKER_POLL_SECONDS": "0.2"}
        engine = RecallEngine(Database(self.url_db))
        engine.deploy([workflows], forms_dir=workflows.parent / "forms")
        self.tokens = {name: users.add_user(engine.db, name, role, groups)[1]
                       for name, (role, groups) in PEOPLE.items()}
        engine.db.dispose()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp / "serve.log", "w+", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "serve", "--port", str(self.port)], cwd=ROOT,
            env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                if self.api("GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                output = self.stop()
                raise RuntimeError(f"recall serve did not come up:\n{output}")
            time.sleep(0.1)

    def api(self, method: str, path: str, body=None, *, user: str | None = None, headers=None):
        """(status, json) of a call to /api/v1 as `user`."""
        request = urllib.request.Request(
            f"{self.base}/api/v1{path}", method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json", **(headers or {}),
                     **({"Authorization": f"Bearer {self.tokens[user]}"} if user else {})})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            with error:
                return error.code, json.loads(error.read() or b"null")

    def ok(self, method: str, path: str, body=None, *, user: str):
        status, payload = self.api(method, path, body, user=user)
        assert status < 300, (method, path, status, payload)
        return payload

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
        output = self.output()
        self.log.close()
        self._resources.close()         # a PostgreSQL schema is dropped once nobody uses it
        return output


class Browser:
    """One headless Chromium; `page(user, width)` gives a signed-out page in a fresh context."""

    def __init__(self, executable: str):
        from playwright.sync_api import sync_playwright
        self._manager = sync_playwright()
        self.playwright = self._manager.start()
        self.browser = self.playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS,
                                                      headless=True)
        self.errors: list[str] = []
        self.contexts: list = []          # every page's context, in the order they were opened

    def page(self, base: str, *, width: int = 1280, height: int = 900, lang: str | None = None):
        context = self.browser.new_context(
            viewport={"width": width, "height": height}, locale="zh-CN", timezone_id="Asia/Shanghai",
            base_url=base, device_scale_factor=1)
        context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
        if lang:
            context.add_init_script(f"localStorage.setItem('recall.lang', {json.dumps(lang)})")
        context.set_default_timeout(15_000)
        self.contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        page.on("console", lambda message: message.type == "error" and "favicon" not in message.text
                and "the server responded with a status of" not in message.text
                and self.errors.append(f"{page.url}: console: {message.text}"))
        return page

    def close_since(self, count: int) -> None:
        """Close the pages opened after the first `count`: a page left open would go on polling or
        saving (the studio saves a changed draft every 30 s) against a server the next test stopped."""
        for context in self.contexts[count:]:
            context.close()
        del self.contexts[count:]

    def close(self) -> None:
        self.browser.close()
        self._manager.__exit__(None, None, None)
