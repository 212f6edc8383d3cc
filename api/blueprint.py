"""flask-smorest's Blueprint, with argument schemas instantiated once.

Given a schema class, webargs builds a new instance of it for every request (about a
tenth of a small request's CPU time, docs/benchmarks.md section 5). marshmallow schemas
hold no per-call state, so one instance per decorated view serves every request; the
OpenAPI document names it after its class either way.
"""
from __future__ import annotations

import flask_smorest


class Blueprint(flask_smorest.Blueprint):
    def arguments(self, schema, **kwargs):
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, **kwargs)
