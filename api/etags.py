"""ETags of instances and tasks: the instance's optimistic-lock version, `"v<row_version>"`.

A task's ETag is its instance's: completing a task changes the instance, and any
change to the instance (a timer, a message, another task, a claim, a release or a
reassignment) makes a held ETag stale.

Conditional reads (`conditional`): a GET answers its ETag, and `If-None-Match` with it answers
304 Not Modified without a body. An instance or task read sends its version; other reads (a
candidate, the lists) a weak ETag of the answer's bytes, so any change of what the caller would
see changes it.
"""
from __future__ import annotations

import functools
import hashlib
import re

from flask import Response, request
from werkzeug.exceptions import PreconditionFailed

ETAG_HEADER = {"ETag": {"description": "version of the instance; send it back in If-Match",
                        "schema": {"type": "string"}}}
IF_MATCH_PARAMETER = {
    "in": "header", "name": "If-Match", "required": False, "schema": {"type": "string"},
    "description": "ETag from the last read: 412 if the instance changed since then",
}
_ETAG = re.compile(r'^\s*(?:W/)?"v(\d{1,12})"\s*$')


def etag(row_version: int) -> str:
    return f'"v{row_version}"'


def expected_version() -> int | None:
    """The version an If-Match header asks for; None without one (or with `*`)."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    match = _ETAG.match(header)
    if match is None:
        raise PreconditionFailed(f"If-Match {header!r} matches no version of this instance "
                                 "(send the ETag of your last read, like \"v3\")")
    return int(match.group(1))


IF_NONE_MATCH_PARAMETER = {
    "in": "header", "name": "If-None-Match", "required": False, "schema": {"type": "string"},
    "description": "ETag(s) of your last read: 304 Not Modified, without a body, while it still holds",
}
_TAG = re.compile(r'\s*(?:W/)?("[^"]*")\s*(?:,|$)')


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def none_match(header: str | None, tag: str) -> bool:
    """True when If-None-Match (`header`) names `tag` (weak comparison, RFC 9110 13.1.2) or is `*`."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return _opaque(tag) in {m.group(1) for m in _TAG.finditer(header)}


def _per_caller(response) -> None:
    """An answer depends on who asks (a case's ETag does not say who): a shared cache must not keep it,
    a browser's only for the same sign-in, and revalidate each time."""
    response.headers["Cache-Control"] = "private, no-cache"
    response.vary.update(("Authorization", "Cookie"))


def conditional(blp):
    """A GET view's decorator (outermost, above `@blp.response`): an ETag on every 200 (the view's own,
    else a weak one of the body) and 304 when If-None-Match names it."""
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            response = view(*args, **kwargs)
            if response.status_code != 200:
                return response
            tag = response.headers.get("ETag")
            if tag is None:
                tag = 'W/"' + hashlib.sha256(response.get_data()).hexdigest()[:32] + '"'
                response.headers["ETag"] = tag
            if none_match(request.headers.get("If-None-Match"), tag):
                response = Response(status=304, headers={"ETag": tag})
            _per_caller(response)
            return response
        documented = blp.alt_response(304, description="Not Modified: the If-None-Match ETag is still current")(wrapper)
        arguments = getattr(documented, "_apidoc", {}).get("arguments")
        if arguments is None:
            return blp.doc(parameters=[IF_NONE_MATCH_PARAMETER])(documented)
        # beside the query parameters: a manual `parameters` doc would replace those of @blp.arguments
        arguments["parameters"] = [*arguments["parameters"], IF_NONE_MATCH_PARAMETER]
        return documented
    return decorate
