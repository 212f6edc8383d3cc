"""`Idempotency-Key` for POST endpoints that create things (start an instance, record a decline).

Same key + same request -> the first response is replayed (status and body, with
`Idempotent-Replayed: true`); same key + another request -> 422; a retry while the
first request still runs -> 409 with `Retry-After`. Keys are per user and per endpoint. Only 2xx
responses are kept: when the first request fails, its key is released so that a
retry can succeed. See engine/idempotency.py for the storage side.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import re

from flask import Response, current_app, request
from werkzeug.exceptions import BadRequest

from engine.idempotency import Replay, RequestInFlight

from .auth import endpoint_key
from .inputs import NO_BODY, parsed_body
from .problems import problem
from .state import current_user, state

log = logging.getLogger("recall.api")

HEADER = "Idempotency-Key"
IN_FLIGHT_RETRY_AFTER_S = 1      # the first request usually answers within milliseconds
KEPT_HEADERS = ("Location",)
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
IDEMPOTENCY_PARAMETER = {
    "in": "header", "name": HEADER, "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[\x21-\x7e]+$"},
    "description": "a unique key per logical request (e.g. a UUID): retries with the same key and body "
                   "replay the first response instead of running twice",
}


def request_fingerprint() -> str:
    """sha256 of the path and the body (JSON canonicalised, so key order and spacing do not matter)."""
    parsed = parsed_body()      # parsed and checked once at the edge (api/inputs.py)
    if parsed is not NO_BODY:
        body = json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()
    else:
        body = request.get_data(cache=True)
    return hashlib.sha256(request.path.encode() + b"\n" + body).hexdigest()


def idempotent(view):
    """Decorate a view (outermost) so that it honours `Idempotency-Key`."""
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view(*args, **kwargs)
        if not _KEY.match(key):
            raise BadRequest(f"{HEADER} must be 1-255 visible ASCII characters")
        st = state()
        scope = endpoint_key(request.url_rule.rule, request.method, st.url_prefix)
        try:
            outcome = st.idempotency.begin(scope=scope, user=current_user().name, key=key,
                                           request_hash=request_fingerprint())
        except RequestInFlight as exc:      # 409 with Retry-After: the same retry will be answered then
            return problem(409, str(exc), slug="request-in-flight", title="Request still in progress",
                           headers={"Retry-After": str(IN_FLIGHT_RETRY_AFTER_S)})
        if isinstance(outcome, Replay):
            return _replay(outcome)
        try:
            response = current_app.make_response(view(*args, **kwargs))
        except BaseException:
            st.idempotency.release(outcome)
            raise
        try:
            if 200 <= response.status_code < 300:
                st.idempotency.finish(outcome, status=response.status_code, body=response.get_json(silent=True),
                                      headers={h: response.headers[h] for h in KEPT_HEADERS if h in response.headers})
            else:
                st.idempotency.release(outcome)
        except Exception:  # noqa: BLE001 - the work is done; do not turn its answer into an error
            log.exception("could not record the response for %s %r", scope, key)
        return response
    return wrapper


def _replay(replay: Replay) -> Response:
    response = Response(json.dumps(replay.body, ensure_ascii=False), status=replay.status,
                        mimetype="application/json")
    for name, value in replay.headers.items():
        response.headers[name] = value
    response.headers["Idempotent-Replayed"] = "true"
    return response
