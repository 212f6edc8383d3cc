"""Input checks at the edge, once for every endpoint: what no field schema can be trusted to catch.

Run by the request guard (api/auth.py) after authentication, before any view:

- path and query values: no NUL character (PostgreSQL text cannot hold one) and no lone
  surrogate (not encodable as UTF-8);
- a JSON body is parsed here, once, and refused (400, field `(body)`) when it is not JSON, not
  UTF-8, nested deeper than MAX_DEPTH or holds an integer of more than 4300 digits (Python's
  own limit); then every string and key in it is checked as above, integers must fit in 64
  bits and numbers must be finite (422 naming the field, e.g. `variables.n` or `needs.1`).

The parsed body is kept on `flask.g` and handed to webargs (api/blueprint.py), so a body is
parsed once per request.
"""
from __future__ import annotations

import json
import math
import re

from flask import g, request

from .problems import problem

MAX_DEPTH = 64
MAX_INT = 2 ** 63 - 1
_UNSAFE = re.compile("[\x00\ud800-\udfff]")
NO_BODY = object()


class BadInput(Exception):
    def __init__(self, status: int, field: str, message: str, where: str):
        super().__init__(f"{field}: {message}")
        self.status, self.field, self.message, self.where = status, field, message, where

    def response(self):
        return problem(self.status, f"{self.field}: {self.message}",
                       errors=[{"field": self.field, "message": self.message, "in": self.where}])


def _text_problem(text: str) -> str | None:
    found = _UNSAFE.search(text)
    if found is None:
        return None
    return "contains a NUL character" if found.group() == "\x00" else "contains a lone UTF-16 surrogate"


def parsed_body():
    """The request's JSON body as checked by `check_request` (webargs reads it from here)."""
    return g.get("recall_json", NO_BODY)


def check_request():
    """A problem response for bad input, or None."""
    try:
        _check_path_and_query()
        if request.is_json and (request.content_length or request.headers.get("Transfer-Encoding")):
            g.recall_json = _parse(request.get_data(cache=True))
            _check_value(g.recall_json)
    except BadInput as exc:
        return exc.response()
    return None


def _check_path_and_query() -> None:
    for name, value in (request.view_args or {}).items():
        if isinstance(value, str) and (why := _text_problem(value)):
            raise BadInput(400, name, why, "path")
    for name, values in request.args.lists():
        if why := _text_problem(name):
            raise BadInput(400, "(query)", f"a parameter name {why}", "query")
        for value in values:
            if why := _text_problem(value):
                raise BadInput(422, name, why, "query")


def _parse(raw: bytes):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(400, "(body)", f"the request body is not UTF-8: {exc.reason} at byte {exc.start}",
                       "body") from None
    try:
        return json.loads(text)
    except RecursionError:
        raise BadInput(400, "(body)", f"the JSON body is nested deeper than {MAX_DEPTH} levels", "body") from None
    except ValueError as exc:       # JSONDecodeError, and int() refusing more than 4300 digits
        raise BadInput(400, "(body)", f"the request body is not valid JSON: {exc}", "body") from None


def _check_value(root) -> None:
    stack = [(root, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if why := _text_problem(value):
                raise BadInput(422, path or "(body)", why, "body")
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not -MAX_INT - 1 <= value <= MAX_INT:
                raise BadInput(422, path or "(body)", "is not a 64-bit integer", "body")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise BadInput(422, path or "(body)", "is not a finite number", "body")
        elif isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise BadInput(400, "(body)", f"the JSON body is nested deeper than {MAX_DEPTH} levels", "body")
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, child in items:
                if isinstance(key, str) and (why := _text_problem(key)):
                    raise BadInput(422, path or "(body)", f"a key {why}", "body")
                stack.append((child, f"{path}.{key}" if path else str(key), depth + 1))
