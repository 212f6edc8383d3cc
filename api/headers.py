"""Security headers on every answer, each kind with a Content-Security-Policy fit for it.

- API answers (JSON, problem+json, openapi.json, metrics): data, never a page: nothing may
  load or run (`default-src 'none'`).
- The interactive docs (`/docs`, `/docs/static/...`): Swagger UI from this origin only; its
  inline style attributes need `style-src 'unsafe-inline'`, no script is inline.
- The web workspace (`/app/`) sets its own policy (api/web/__init__.py): only its own files.

Every answer also gets `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` (with
`frame-ancestors 'none'`: no page of ours can be framed), `Referrer-Policy: no-referrer`.
Headers a view already set are kept (`setdefault`).

Every answer carries a request id (`X-Request-Id`): the client's own when it sent a sane one
(1-128 characters of A-Z a-z 0-9 . _ -), else a new one. It is in problem+json bodies
(`request_id`, api/problems.py) and, under `recall serve`, in every log line written while
the request runs (`log_request_ids`), so a client's report finds the server's lines.
"""
from __future__ import annotations

import logging
import re
import uuid

from flask import g, has_request_context, request

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
REQUEST_ID_HEADER = "X-Request-Id"
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def request_id() -> str | None:
    """This request's id (the client's, if sane, else a new one; the same all through the request),
    or None outside a request."""
    if not has_request_context():
        return None
    found = g.get("recall_request_id")
    if found is None:
        sent = request.headers.get(REQUEST_ID_HEADER, "")
        found = sent if _SANE_REQUEST_ID.match(sent) else uuid.uuid4().hex
        g.recall_request_id = found
    return found


def secure(response, csp: str = API_CSP):
    """Add what `response` lacks: the CSP given, the common headers and the request id."""
    response.headers.setdefault("Content-Security-Policy", csp)
    for name, value in COMMON.items():
        response.headers.setdefault(name, value)
    if (rid := request_id()) is not None:
        response.headers[REQUEST_ID_HEADER] = rid
    return response


class RequestIdFilter(logging.Filter):
    """Adds the request id to a log line written while a request runs: `"request_id"` in a JSON
    line (the service's `{"event": ...}` lines), ` request_id=...` after any other message."""

    def filter(self, record: logging.LogRecord) -> bool:
        rid = request_id()
        if rid is None or getattr(record, "request_id", None) == rid:
            return True
        record.request_id = rid
        message = record.getMessage()
        if message.startswith("{") and message.endswith("}") and len(message) > 2:
            record.msg = f'{message[:-1]}, "request_id": "{rid}"}}'
        else:
            record.msg = f"{message} request_id={rid}"
        record.args = None
        return True


def log_request_ids() -> None:
    """Put the request id in the log lines of every handler of the root logger (`recall serve`)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
