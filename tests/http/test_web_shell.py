"""The workspace shell over a real `recall serve` (api/web/__init__.py): boot.js is inlined, and the
shell's Content-Security-Policy allows exactly that script by its SHA-256, no other inline script;
it preloads the modules the inbox needs and not the other pages', and is never stored by a cache.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import re

import pytest

from api.web import STATIC_DIR, boot_script
from tests.servers import served_workflows

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory):
    with served_workflows(request.param, tmp_path_factory.mktemp("shell")) as (server, token):
        yield server, token


def get(server, path: str):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        connection.request("GET", path, headers={"Accept-Encoding": "identity"})
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        connection.close()


def test_the_shell_inlines_boot_js_allowed_by_its_hash_alone(served):
    server, _ = served
    status, headers, html = get(server, "/app/tasks/anything")
    assert status == 200 and headers["Cache-Control"] == "no-store"
    inline = re.findall(r"<script>(.*?)</script>", html, re.DOTALL)
    assert inline == [(STATIC_DIR / "boot.js").read_text(encoding="utf-8")]
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    script_src = re.search(r"script-src ([^;]*)", headers["Content-Security-Policy"]).group(1).split()
    assert script_src == ["'self'", f"'sha256-{digest}'"]          # no 'unsafe-inline', no other hash
    preloaded = {href.rsplit("/v/", 1)[1].split("/", 1)[1]
                 for href in re.findall(r'<link rel="modulepreload" href="([^"]+)">', html)}
    assert {"app.js", "api.js", "i18n.js", "pages/inbox.js", "views.js"} <= preloaded
    assert not preloaded & {"pages/task.js", "pages/case.js", "form.js", "diagram.js", "boot.js"}, preloaded
    # the API's own answers keep their policy: no script at all
    assert "script-src" not in get(server, "/api/v1/health")[1].get("Content-Security-Policy", "script-src")


def test_boot_js_may_not_close_its_script_element(tmp_path):
    for bad in ('const x = "</script><script>alert(1)";\n', "// <!-- <script>\n"):
        (tmp_path / "boot.js").write_text(bad, encoding="utf-8")
        with pytest.raises(ValueError, match="boot.js"):
            boot_script(tmp_path)
    (tmp_path / "boot.js").write_text("performance.mark('boot');\n", encoding="utf-8")
    source, allowed = boot_script(tmp_path)
    assert source == "performance.mark('boot');\n" and allowed.startswith("'sha256-")
