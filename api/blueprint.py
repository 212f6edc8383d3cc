"""flask-smorest's Blueprint, with argument schemas instantiated once.

Given a schema class, webargs builds a new instance of it for every request (about a
tenth of a small request's CPU time, docs/benchmarks.md section 5). marshmallow schemas
hold no per-call state, so one instance per decorated view serves every request; the
OpenAPI document names it after its class either way.

JSON bodies are parsed and checked once, at the edge (api/inputs.py); webargs reads the
parsed body from there instead of parsing it again.

Every API blueprint is `guarded` where it is made: the guard (authentication, permissions,
body limits; api/auth.py) runs before each of its requests and the one error handler after.
Declared with the blueprint, not added by another module's import, so a blueprint of ours is
never served unguarded (fail closed); as blueprint handlers they take precedence over any
handler a host app registers for its own errors. Both read the app they serve (`state()`),
so nothing of one app reaches another.
"""
from __future__ import annotations

import flask_smorest
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request

from .auth import guard
from .inputs import NO_BODY, parsed_body
from .problems import handle_exception


class _Parser(FlaskParser):
    def _raw_load_json(self, req):
        if not is_json_request(req):
            return core.missing
        body = parsed_body()
        return super()._raw_load_json(req) if body is NO_BODY else body


def guarded(blueprint):
    """`blueprint` with the API's guard before, and its error handler after, each request."""
    blueprint.before_request(guard)
    blueprint.register_error_handler(Exception, handle_exception)
    return blueprint


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = _Parser()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        guarded(self)

    def arguments(self, schema, **kwargs):
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, **kwargs)
