"""Paging: keyset cursors (`after=`), and offset paging kept for compatibility (deprecated).

A keyset page asks for one row more than the page to know if there is a next, and its `next`
link carries `after=<cursor>`: the sort key and id of the page's last row (base64url of JSON,
opaque to callers), so the next page starts right after that row whatever was inserted,
updated or left the filter meanwhile. Offset paging (`offset=`) counts rows instead and skips
or repeats rows when the list changes between pages.
"""
from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from flask import request, url_for
from marshmallow import ValidationError, fields, validate


def deprecated_offset() -> fields.Integer:
    """The `offset` of a keyset list: still honoured, marked deprecated in the OpenAPI document."""
    # the default as a callable: 0 when left out, but no `default: 0` in the document, or a generated
    # client sends offset=0 on every call (offset paging, no cursors; with `after`, a 422)
    return fields.Integer(load_default=lambda: 0, validate=validate.Range(min=0, max=10_000_000), metadata={
        "deprecated": True,
        "description": "deprecated: follow `next` (keyset, `after`) instead; with offset, `next` keeps counting "
                       "rows, and rows that start, change or leave the filter between pages shift it"})


def page(rows: list, *, limit: int, offset: int) -> dict:
    """`rows` holds up to limit + 1 items in a stable order; returns {items, limit, offset, next}."""
    more = len(rows) > limit
    next_url = None
    if more:
        args = {**request.args.to_dict(flat=False), "limit": limit, "offset": offset + limit}
        next_url = url_for(request.endpoint, **(request.view_args or {}), **args)
    return {"items": rows[:limit], "limit": limit, "offset": offset, "next": next_url}


def encode_cursor(sort: str, key: datetime | None, row_id: str) -> str:
    raw = json.dumps([sort, key.isoformat() if key is not None else None, row_id], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[datetime | None, str]:
    """(sort key, id) of a cursor made for `sort`; 422 naming `after` for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        made_for, key, row_id = json.loads(raw)
        if not isinstance(row_id, str) or not isinstance(made_for, str):
            raise ValueError
        moment = datetime.fromisoformat(key) if key is not None else None
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationError({"after": ["not a cursor of this list: pass the `next` link's `after` unchanged"]}) \
            from None
    if made_for != sort:
        raise ValidationError({"after": [f"this cursor was made for sort={made_for}, not sort={sort}"]})
    return moment, row_id


def keyset_page(rows: list, *, limit: int, sort: str, key) -> dict:
    """`rows` holds up to limit + 1 items in the sort's order; `key(row)` is (sort key, id).
    Returns {items, limit, offset: 0, next, next_cursor}."""
    more = len(rows) > limit
    items = rows[:limit]
    next_url = cursor = None
    if more:
        cursor = encode_cursor(sort, *key(items[-1]))
        args = {**request.args.to_dict(flat=False), "limit": limit, "after": cursor}
        args.pop("offset", None)
        next_url = url_for(request.endpoint, **(request.view_args or {}), **args)
    return {"items": items, "limit": limit, "offset": 0, "next": next_url, "next_cursor": cursor}


def offset_paging(query: dict) -> bool:
    """True when the request pages by `offset` (deprecated; its `next` links keep counting rows), False for
    keyset paging (no offset given: `next` links carry cursors). `after` with `offset` is 422 naming `after`."""
    by_offset = "offset" in request.args
    if by_offset and query.get("after") is not None:
        raise ValidationError({"after": ["use either after (a cursor) or offset (deprecated), not both"]})
    return by_offset
