"""Offset pagination with a stable order: ask for one row more than the page to know if there is a next."""
from __future__ import annotations

from flask import request, url_for


def page(rows: list, *, limit: int, offset: int) -> dict:
    """`rows` holds up to limit + 1 items in a stable order; returns {items, limit, offset, next}."""
    more = len(rows) > limit
    next_url = None
    if more:
        args = {**request.args.to_dict(), "limit": limit, "offset": offset + limit}
        next_url = url_for(request.endpoint, **(request.view_args or {}), **args)
    return {"items": rows[:limit], "limit": limit, "offset": offset, "next": next_url}
