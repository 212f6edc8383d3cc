"""Every error leaves the API as `application/problem+json` (RFC 9457), mapped here, once.

Engine errors carry messages meant for people; they become `detail`. Validation
errors (webargs/marshmallow, form schemas, bundle diagnostics) become `errors`,
one entry per bad field. Anything unexpected is a generic 500 whose id is logged
with the traceback; no stack trace or SQL ever reaches the client.
"""
from __future__ import annotations

import json
import logging
import uuid
from http import HTTPStatus

from flask import Response, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from engine.errors import (
    BundleInvalid, ConflictError, FormValidationError, InvalidState, MessageNotRoutable, NotAssignee,
    NotFound, RecallError, StaleVersion, TaskNotReady,
)
from engine.events import CursorExpired
from engine.channels.sends import ChannelNotConfigured, ConsentRequired, MonthlyLimitReached, NoAddress
from engine.assignment import FourEyesViolation
from engine.idempotency import IdempotencyKeyReused, RequestInFlight
from engine.messages import MessageIdReused, MessageNotAwaited, MessageRejected, NoCaseForMessage
from engine.signin import SigninRefused
from engine.users import InvalidUser

from .headers import request_id

log = logging.getLogger("recall.api")

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "urn:offer-recall:problem:"

# Engine error -> (status, type slug, title). First match wins: specific before general.
ENGINE_ERRORS: list[tuple[type[RecallError], int, str, str]] = [
    (CursorExpired, 410, "cursor-expired", "Cursor expired"),
    (MessageRejected, 422, "message-invalid", "Message is invalid"),
    (NoCaseForMessage, 404, "no-case-for-message", "No case for this message"),
    (MessageNotAwaited, 409, "message-not-awaited", "No case waits for this message"),
    (MessageIdReused, 409, "message-id-reused", "message_id reused"),
    (ConsentRequired, 409, "consent-required", "No talent-pool consent"),
    (ChannelNotConfigured, 409, "channel-not-configured", "Channel not configured"),
    (NoAddress, 422, "no-address", "No address on this channel"),
    (MonthlyLimitReached, 409, "monthly-limit-reached", "Monthly limit reached"),
    (FormValidationError, 422, "form-invalid", "Form data is invalid"),
    (BundleInvalid, 422, "bundle-invalid", "Process bundle is invalid"),
    (MessageNotRoutable, 422, "message-not-routable", "Message cannot be routed"),
    (IdempotencyKeyReused, 422, "idempotency-key-reused", "Idempotency key reused"),
    (InvalidUser, 422, "invalid-user", "Invalid user"),
    (SigninRefused, 401, "signin-refused", "Sign-in refused"),
    (NotFound, 404, "not-found", "Not found"),
    (FourEyesViolation, 403, "four-eyes", "Someone else must do this task"),
    (NotAssignee, 403, "not-assignee", "Task assigned to someone else"),
    (StaleVersion, 409, "stale-version", "Changed by someone else"),
    (TaskNotReady, 409, "task-not-ready", "Task is not ready"),
    (InvalidState, 409, "invalid-state", "Not allowed in this state"),
    (RequestInFlight, 409, "request-in-flight", "Request still in progress"),
    (ConflictError, 409, "conflict", "Conflict"),
    (RecallError, 400, "bad-request", "Bad request"),
]

# HTTP status -> type slug for errors raised as werkzeug exceptions.
HTTP_TYPES = {
    400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
    405: "method-not-allowed", 409: "conflict", 412: "precondition-failed", 413: "body-too-large",
    415: "unsupported-media-type", 422: "validation-error", 503: "unavailable",
}


def problem(status: int, detail: str | None = None, *, title: str | None = None, slug: str | None = None,
            errors: list[dict] | None = None, headers: dict | None = None, **extra) -> Response:
    body = {
        "type": TYPE_BASE + slug if slug else TYPE_BASE + HTTP_TYPES.get(status, "error"),
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail or HTTPStatus(status).description or HTTPStatus(status).phrase,
        "errors": errors or [],
        **extra,
    }
    if (rid := request_id()) is not None:
        body["request_id"] = rid        # the X-Request-Id of the answer (api/headers.py)
    response = Response(json.dumps(body, ensure_ascii=False, default=str), status=status,
                        mimetype=PROBLEM_JSON)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def from_engine_error(exc: RecallError) -> Response:
    status, slug, title = next((s, k, t) for cls, s, k, t in ENGINE_ERRORS if isinstance(exc, cls))
    errors: list[dict] = []
    extra: dict = {}
    if isinstance(exc, FormValidationError):
        errors = [{"field": e.field, "message": e.message, "in": "body"} for e in exc.errors]
        detail = getattr(exc, "detail", None) or f"{len(errors)} field(s) of the form are invalid; nothing was applied"
    elif isinstance(exc, BundleInvalid):
        extra["diagnostics"] = [_diagnostic(d) for d in exc.diagnostics]
        errors = [{"field": _location(d), "message": getattr(d, "message", str(d)), "in": "bundle"}
                  for d in exc.diagnostics]
        detail = f"{len(errors)} problem(s) in the bundle; nothing was deployed"
    else:
        detail = str(exc) or title
    return problem(status, detail, title=title, slug=slug, errors=errors, **extra)


def _diagnostic(d) -> dict:
    return {"file": getattr(d, "file", None), "line": getattr(d, "line", None),
            "element_id": getattr(d, "element_id", None), "message": getattr(d, "message", str(d)),
            "text": str(d), "internal": bool(getattr(d, "internal", False)),
            "severity": getattr(d, "severity", "error"), "code": getattr(d, "code", "invalid")}


def _location(d) -> str:
    parts = [str(p) for p in (getattr(d, "file", None), getattr(d, "line", None),
                              getattr(d, "element_id", None)) if p]
    return ":".join(parts)


def from_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    errors = flatten_messages(messages) if isinstance(messages, dict) else []
    headers = dict(data.get("headers") or {})
    if status == 405 and getattr(exc, "valid_methods", None):
        headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    detail = exc.description
    cause = getattr(exc, "exc", None)
    if status == 400 and isinstance(cause, (ValueError, UnicodeDecodeError)):
        detail = f"the request body is not valid JSON: {cause}"
        errors = [{"field": "(body)", "message": str(cause), "in": "body"}]
    elif status == 422 and errors:
        detail = f"{len(errors)} invalid field(s): " + "; ".join(
            f"{e['field'] or e['in']}: {e['message']}" for e in errors[:5])
    elif status == 413:
        limit = request.max_content_length if request else None
        detail = (f"the request body is larger than the {limit} byte limit (RECALL_MAX_BODY_BYTES)" if limit
                  else "the request body is too large")
    return problem(status, detail, title=exc.name, errors=errors, headers=headers)


def flatten_messages(messages: dict) -> list[dict]:
    """webargs' {location: {field: [msg] | {nested...}}} -> [{field, message, in}] (one per message)."""
    errors: list[dict] = []

    def walk(where: str, path: list[str], node) -> None:
        if isinstance(node, dict):
            for key, child in node.items():
                walk(where, path + [str(key)] if key != "_schema" else path, child)
        elif isinstance(node, (list, tuple)):
            if all(isinstance(m, str) for m in node):
                for message in node:
                    errors.append({"field": ".".join(path), "message": message, "in": where})
            else:
                for child in node:
                    walk(where, path, child)
        else:
            errors.append({"field": ".".join(path), "message": str(node), "in": where})

    for location, node in messages.items():
        walk({"json": "body", "files": "body", "form": "body", "querystring": "query"}.get(location, location),
             [], node)
    return errors


def internal_error(exc: BaseException) -> Response:
    error_id = uuid.uuid4().hex[:16]
    log.error("unhandled error %s", error_id, exc_info=exc)
    return problem(500, f"an unexpected error occurred; quote error id {error_id} when reporting it",
                   slug="internal-error", error_id=error_id)


def handle_exception(exc: Exception) -> Response:
    """The one error handler of the API's blueprint."""
    if isinstance(exc, RecallError):
        return from_engine_error(exc)
    if isinstance(exc, ValidationError):
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        errors = flatten_messages({"json": messages})
        return problem(422, f"{len(errors)} invalid field(s): " + "; ".join(
            f"{e['field'] or e['in']}: {e['message']}" for e in errors[:5]), errors=errors)
    if isinstance(exc, HTTPException):
        if (exc.code or 500) >= 500 and exc.code != 503:
            return internal_error(exc)
        return from_http_exception(exc)
    return internal_error(exc)
