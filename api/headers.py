"""Security headers on every answer, each kind with a Content-Security-Policy fit for it.

- API answers (JSON, problem+json, openapi.json, metrics): data, never a page: nothing may
  load or run (`default-src 'none'`).
- The interactive docs (`/docs`, `/docs/static/...`): Swagger UI from this origin only; its
  inline style attributes need `style-src 'unsafe-inline'`, no script is inline.
- The web workspace (`/app/`) sets its own policy (api/web/__init__.py): only its own files.

Every answer also gets `X-Content-Type-Options: nosniff`, `X-Frame-Options: DENY` (with
`frame-ancestors 'none'`: no page of ours can be framed), `Referrer-Policy: no-referrer`.
Headers a view already set are kept (`setdefault`).
"""
from __future__ import annotations

API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
DOCS_CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
            "frame-ancestors 'none'")
COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


def secure(response, csp: str = API_CSP):
    """Add what `response` lacks: the CSP given and the common headers."""
    response.headers.setdefault("Content-Security-Policy", csp)
    for name, value in COMMON.items():
        response.headers.setdefault(name, value)
    return response
