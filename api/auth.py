"""Request guard run before every API view: body size, who is calling, role, media type, input at the edge.

Who is calling: an `Authorization: Bearer` API token (integrators, scripts, admins; a `read`
token may only GET, engine/tokens.py), else a
workspace session cookie (people who signed in with a password or a link, engine/signin.py).
A cookie is sent by the browser on its own, so every unsafe request it authenticates must
also carry the session's `X-CSRF-Token` (a cross-site page cannot read it); a token request
needs none (nothing sends a bearer token on its own).

Rate limit (RECALL_RATE_LIMIT, engine/ratelimit.py): every request is counted for its caller —
the token it sent, the session of its cookie, else its client address (a wrong token counts
for the address) — before anything else is done for it; over the limit it is answered 429
`rate-limited` with `Retry-After`. Counted answers carry `RateLimit-Limit`, `-Remaining` and
`-Reset`. `GET /health` and `GET /metrics` are not counted (monitoring polls them).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import threading

from flask import after_this_request, current_app, g, request

from engine.ratelimit import RateLimiter, parse_rate

from .inputs import check_request
from .permissions import PERMISSIONS, allowed, scope_allows
from .problems import problem
from .state import state

log = logging.getLogger("recall.api")

JSON_TYPES = ("application/json",)
MULTIPART_ENDPOINTS = frozenset({"POST /process-definitions", "POST /roles/import"})
# bodies that are not JSON, by endpoint: the media types each takes (WeCom posts its events as XML)
OTHER_BODIES = {"POST /channels/wecom/callback": frozenset({"text/xml", "application/xml"}),
                "POST /channels/email/inbound": frozenset({"message/rfc822"})}    # a pushed mail
_PLACEHOLDER = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
SESSION_COOKIE = "recall_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NOT_RATE_LIMITED = frozenset({"GET /health", "GET /metrics"})
_LIMITER_KEY = "recall_rate_limiter"
_limiter_lock = threading.Lock()


# The operations that take a whole file (an ATS export, a role profiles sheet): bounded by
# RECALL_MAX_UPLOAD_BYTES instead of RECALL_MAX_BODY_BYTES (each also checks the file's own limit).
UPLOADS = frozenset({"POST /imports/preview", "POST /imports", "POST /roles/import"})


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
    key = endpoint_key(request.url_rule.rule, request.method, st.url_prefix)
    limit, setting = ((st.settings.max_upload_bytes, "RECALL_MAX_UPLOAD_BYTES") if key in UPLOADS
                      else (st.settings.max_body_bytes, "RECALL_MAX_BODY_BYTES"))
    request.max_content_length = limit
    if (request.content_length or 0) > limit:
        return problem(413, f"the request body is larger than the {limit} byte limit ({setting})")
    verdict = allowed(key, None)
    if verdict is None:
        log.error("no permission entry for %s: refused", key)
        return problem(403, f"{key} is not open to anyone (missing from the permission table)")
    if not verdict:      # not public: a token or a session is needed
        token = bearer_token()
        found = st.tokens.resolve(st.engine.db, token, st.engine.clock.now()) if token else None
        user = found.user if found else None
        cookie = request.cookies.get(SESSION_COOKIE) if token is None else None
        signed_in = st.signin.authenticate(cookie) if cookie else None
        caller = (f"token:{found.token_id}" if found else f"session:{_digest(cookie)}" if signed_in else None)
        if (refused := rate_limit(key, caller)) is not None:
            return refused
        if signed_in:
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
        g.recall_token = found          # None for a session
        if not allowed(key, user.role):
            roles = ", ".join(sorted(PERMISSIONS[key]))
            return problem(403, f"role {user.role!r} may not call {key} (allowed: {roles})")
        if found is not None and not scope_allows(found.scope, request.method):
            return problem(403, f"this token's scope is {found.scope!r}: it may only read (GET), not call {key}",
                           slug="token-scope", title="Not allowed by the token's scope")
    elif (refused := rate_limit(key, None)) is not None:
        return refused
    if request.method in ("POST", "PUT", "PATCH") and _has_body():
        accepted = request.is_json or (key in MULTIPART_ENDPOINTS and request.mimetype == "multipart/form-data")
        accepted = accepted or request.mimetype in OTHER_BODIES.get(key, ())
        if not accepted:
            wanted = "application/json" + (" or multipart/form-data" if key in MULTIPART_ENDPOINTS else "")
            return problem(415, f"send the request body as {wanted}, not {request.mimetype or 'no content type'}")
    return check_request()      # NUL bytes, lone surrogates, deep or unparseable JSON (api/inputs.py)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()[:32]


def limiter() -> RateLimiter | None:
    """This app's rate limiter (made on first use), or None when RECALL_RATE_LIMIT=off."""
    extensions = current_app.extensions
    if _LIMITER_KEY not in extensions:
        with _limiter_lock:
            if _LIMITER_KEY not in extensions:
                settings = state().settings
                rate = parse_rate(settings.rate_limit)
                extensions[_LIMITER_KEY] = rate and RateLimiter(rate, processes=settings.serve_processes)
    return extensions[_LIMITER_KEY]


def rate_limit(key: str, caller: str | None):
    """Count this request for `caller` (None: its client address): a 429 problem when over the limit,
    else None, the RateLimit-* headers added to the answer either way."""
    counter = limiter()
    if counter is None or key in NOT_RATE_LIMITED:
        return None
    verdict = counter.hit(caller or f"address:{request.remote_addr or '-'}")
    headers = verdict.headers()
    if verdict.allowed:
        @after_this_request
        def add_headers(response):
            for name, value in headers.items():
                response.headers.setdefault(name, value)
            return response
        return None
    kind = (caller or "address:").split(":", 1)[0]
    log.warning(json.dumps({"event": "rate_limited", "caller": kind, "endpoint": key, "limit": verdict.limit,
                            "retry_after_s": verdict.reset}))
    return problem(429, f"more than {verdict.limit} requests within {counter.rate.window} s from this "
                        f"{'client address' if caller is None else kind} (RECALL_RATE_LIMIT {counter.rate}, "
                        f"this process's share); retry after {verdict.reset} s",
                   slug="rate-limited", title="Too many requests", headers=headers)


def _has_body() -> bool:
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()
