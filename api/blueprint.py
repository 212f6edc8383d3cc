"""flask-smorest's Blueprint, with argument schemas instantiated once.

Given a schema class, webargs builds a new instance of it for every request (about a
tenth of a small request's CPU time, docs/benchmarks.md section 5). marshmallow schemas
hold no per-call state, so one instance per decorated view serves every request; the
OpenAPI document names it after its class either way.

JSON bodies are parsed and checked once, at the edge (api/inputs.py); webargs reads the
parsed body from there instead of parsing it again.
"""
from __future__ import annotations

import flask_smorest
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from .inputs import NO_BODY, parsed_body


class _Parser(FlaskParser):
    def _raw_load_json(self, req):
        if not is_json_request(req):
            return core.missing
        body = parsed_body()
        return super()._raw_load_json(req) if body is NO_BODY else body


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = _Parser()

    def arguments(self, schema, **kwargs):
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, **kwargs)
