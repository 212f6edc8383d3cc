"""ETags of instances and tasks: the instance's optimistic-lock version, `"v<row_version>"`.

A task's ETag is its instance's: completing a task changes the instance, and any
change to the instance (a timer, a message, another task) makes a held ETag stale.
"""
from __future__ import annotations

import re

from flask import request
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
