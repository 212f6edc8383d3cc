"""The HR web workspace: one HTML shell and its static files, served under `/app/`.

Every page (`/app/`, `/app/tasks/<id>`, `/app/candidates/<id>`, ...) answers the same shell;
`static/app.js` reads the path and draws the page from the JSON API (`/api/v1`). The browser
signs in with the user's API token, kept in `sessionStorage` and sent as
`Authorization: Bearer` — no cookie, so no request can be forged from another site, and
the Content-Security-Policy below allows only this origin's own scripts. No build step, no
CDN: the files in `static/` are served as they are (bpmn-js's viewer is vendored, with its
license, in `static/vendor/bpmn-js/`).
"""
from __future__ import annotations

from flask import Blueprint, current_app, render_template

from ..state import EXTENSION_KEY

web_bp = Blueprint("recall_web", __name__, template_folder="templates", static_folder="static",
                   static_url_path="/static")

CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
       "frame-ancestors 'none'")


@web_bp.get("/")
@web_bp.get("/<path:page>")
def shell(page: str = ""):
    """The workspace shell; the page itself is drawn in the browser."""
    recall = current_app.extensions.get(EXTENSION_KEY)
    api_prefix = recall.url_prefix if recall is not None else "/api/v1"
    return render_template("recall_web/shell.html", api_prefix=api_prefix)


@web_bp.after_request
def security_headers(response):
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response
