"""The HR web workspace: one HTML shell and its static files, served under `/app/`.

Every page (`/app/`, `/app/tasks/<id>`, `/app/candidates/<id>`, ...) answers the same shell;
`static/app.js` reads the path and draws the page from the JSON API (`/api/v1`). People sign
in with a user name and password or a one-time link (`POST /api/v1/session`): the API sets an
HttpOnly, SameSite=Strict session cookie scoped to its prefix, and every write the page sends
carries the session's `X-CSRF-Token` (the API refuses a cookie-authenticated write without it,
api/auth.py), so no other site can act for the user. Administrators and integrators may paste
an API token instead, kept in the tab's `sessionStorage` and sent as `Authorization: Bearer`.
The Content-Security-Policy below allows only this origin's own scripts, and in the shell the
one inline script, `static/boot.js`, by its SHA-256: it sends the page's first reads (who is
signed in, the vocabulary, the inbox) while the modules are still on their way. No build step, no
CDN: the files in `static/` are served as they are (bpmn-js's viewer is vendored, with its
license, in `static/vendor/bpmn-js/`).

Static files are served twice. The shell points at `/app/static/v/<version>/...`, where
`<version>` is a hash of every file under `static/` computed once when the app is made:
those answers may be cached for a year (`immutable`), and a changed file gives a new
version, so a new shell loads new files. The ES modules import each other by relative
URL, so versioning the directory versions them all without a list of files. The plain
`/app/static/...` URLs (bookmarks, tests, a page drawn by an older shell) keep working
with a short cache. The shell itself is `no-store`. It preloads (`modulepreload`) what `app.js`
imports, i.e. the inbox's modules; other pages' modules are imported when first drawn.
"""
from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

from flask import Blueprint, current_app, render_template, request, send_from_directory, url_for
from markupsafe import Markup

from ..state import EXTENSION_KEY

web_bp = Blueprint("recall_web", __name__, template_folder="templates", static_folder="static",
                   static_url_path="/static")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")
STATIC_DIR = Path(__file__).with_name("static")
VERSION_KEY = "recall_web.static_version"
MODULES_KEY = "recall_web.modules"
BOOT_KEY = "recall_web.boot"
LONG_CACHE = "public, max-age=31536000, immutable"
SHORT_CACHE = "public, max-age=300"


def static_version(directory: Path = STATIC_DIR) -> str:
    """A hash of the names and bytes of every file under `directory`: it changes when any file does."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


STATIC_IMPORT = re.compile(r'^\s*(?:import|export)\b[^;"\']*?\bfrom\s*["\'](\.{1,2}/[^"\']+)["\']|^\s*import\s*["\'](\.{1,2}/[^"\']+)["\']',
                           re.MULTILINE)


def static_imports(entry: str = "app.js", directory: Path = STATIC_DIR) -> list[str]:
    """The modules `entry` loads before it runs: its static imports, theirs, and so on (paths relative
    to `directory`). A dynamic `import()` is left out: that module is loaded when a page needs it."""
    seen, todo = set(), [entry]
    while todo:
        name = todo.pop()
        if name in seen or not (directory / name).is_file():
            continue
        seen.add(name)
        source = (directory / name).read_text(encoding="utf-8")
        for match in STATIC_IMPORT.finditer(source):
            target = (directory / name).parent / (match.group(1) or match.group(2))
            todo.append(os.path.relpath(target, directory).replace(os.sep, "/"))
    return sorted(seen)


def boot_script(directory: Path = STATIC_DIR) -> tuple[str, str]:
    """`boot.js`, inlined into the shell, and the CSP source that allows exactly it (its SHA-256)."""
    source = (directory / "boot.js").read_text(encoding="utf-8")
    if "</" in source or "<!--" in source:
        raise ValueError("boot.js must not contain '</' or '<!--': it is inlined in a <script> element")
    digest = base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode("ascii")
    return source, f"'sha256-{digest}'"


@web_bp.record_once
def _hash_static_files(setup_state) -> None:
    setup_state.app.extensions[VERSION_KEY] = static_version()
    setup_state.app.extensions[MODULES_KEY] = static_imports()
    setup_state.app.extensions[BOOT_KEY] = boot_script()


@web_bp.get("/static/v/<version>/<path:filename>")
def versioned_static(version: str, filename: str):
    """A static file under its directory's version: cached for a year if the version is the current one."""
    response = send_from_directory(STATIC_DIR, filename)
    current = version == current_app.extensions[VERSION_KEY]
    response.headers["Cache-Control"] = LONG_CACHE if current else SHORT_CACHE
    return response


@web_bp.get("/")
@web_bp.get("/<path:page>")
def shell(page: str = ""):
    """The workspace shell; the page itself is drawn in the browser."""
    recall = current_app.extensions.get(EXTENSION_KEY)
    api_prefix = recall.url_prefix if recall is not None else "/api/v1"
    version = current_app.extensions[VERSION_KEY]
    boot, boot_hash = current_app.extensions[BOOT_KEY]
    response = current_app.make_response(render_template(
        "recall_web/shell.html", api_prefix=api_prefix, boot=Markup(boot),
        static_base=url_for("recall_web.static", filename="") + f"v/{version}/",
        modules=current_app.extensions[MODULES_KEY]))
    # the one inline script, boot.js, by its hash: no other inline script runs
    response.headers["Content-Security-Policy"] = CSP.replace("script-src 'self'", f"script-src 'self' {boot_hash}")
    return response


@web_bp.after_request
def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    elif request.endpoint == "recall_web.static":
        response.headers["Cache-Control"] = SHORT_CACHE
    return response
