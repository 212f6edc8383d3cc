"""Request guard run before every API view: body size, who is calling, role, media type, input at the edge.

Who is calling: an `Authorization: Bearer` API token (integrators, scripts, admins), else a
workspace session cookie (people who signed in with a password or a link, engine/signin.py).
A cookie is sent by the browser on its own, so every unsafe request it authenticates must
also carry the session's `X-CSRF-Token` (a cross-site page cannot read it); a token request
needs none (nothing sends a bearer token on its own).
"""
from __future__ import annotations

import hmac
import logging
import re

from flask import g, request

from .inputs import check_request
from .permissions import PERMISSIONS, allowed
from .problems import problem
from .state import state

log = logging.getLogger("recall.api")

JSON_TYPES = ("application/json",)
MULTIPART_ENDPOINTS = frozenset({"POST /process-definitions"})
_PLACEHOLDER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
SESSION_COOKIE = "recall_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def endpoint_key(rule: str, method: str, prefix: str) -> str:
    """'/api/v1/tasks/<task_id>/complete', 'POST' -> 'POST /tasks/{task_id}/complete'."""
    path = rule[len(prefix):] if prefix and rule.startswith(prefix) else rule
    template = _PLACEHOLDER.sub(r"{\1}", path) or "/"
    return f"{'GET' if method == 'HEAD' else method} {template}"


def bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def guard():
    """Returns a problem response to stop the request, or None to let it through."""
    if request.method == "OPTIONS" or request.url_rule is None:
        return None
    st = state()
    request.max_content_length = st.settings.max_body_bytes
    if (request.content_length or 0) > st.settings.max_body_bytes:
        return problem(413, f"the request body is larger than the {st.settings.max_body_bytes} byte limit "
                            "(RECALL_MAX_BODY_BYTES)")
    key = endpoint_key(request.url_rule.rule, request.method, st.url_prefix)
    verdict = allowed(key, None)
    if verdict is None:
        log.error("no permission entry for %s: refused", key)
        return problem(403, f"{key} is not open to anyone (missing from the permission table)")
    if not verdict:      # not public: a token or a session is needed
        token = bearer_token()
        user = st.tokens.authenticate(st.engine.db, token) if token else None
        if token is None and (signed_in := st.signin.authenticate(request.cookies.get(SESSION_COOKIE))):
            user, csrf = signed_in
            g.recall_csrf = csrf
            sent = request.headers.get(CSRF_HEADER, "")
            if request.method not in SAFE_METHODS and not hmac.compare_digest(sent.encode(), csrf.encode()):
                return problem(403, f"a request signed in by the session cookie must send the {CSRF_HEADER} "
                                    "header the sign-in answer gave (POST/GET /session)", slug="csrf",
                               title="CSRF token missing or wrong")
        if user is None:
            return problem(401, "send a valid API token as 'Authorization: Bearer <token>' "
                                "(create one with `recall users add`) or sign in (POST /session)",
                           headers={"WWW-Authenticate": 'Bearer realm="offer-recall"'})
        g.recall_user = user
        if not allowed(key, user.role):
            roles = ", ".join(sorted(PERMISSIONS[key]))
            return problem(403, f"role {user.role!r} may not call {key} (allowed: {roles})")
    if request.method in ("POST", "PUT", "PATCH") and _has_body():
        accepted = request.is_json or (key in MULTIPART_ENDPOINTS and request.mimetype == "multipart/form-data")
        if not accepted:
            wanted = "application/json" + (" or multipart/form-data" if key in MULTIPART_ENDPOINTS else "")
            return problem(415, f"send the request body as {wanted}, not {request.mimetype or 'no content type'}")
    return check_request()      # NUL bytes, lone surrogates, deep or unparseable JSON (api/inputs.py)


def _has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
