"""The event feed for integrators: `GET /events?after=<cursor>&kinds=...&limit=` (engine/events.py).

Ordered by commit, resumable from any cursor it gave, ids only; readable by integrators and admins.
A cursor older than the retention (RECALL_EVENT_RETENTION_DAYS) answers 410 cursor-expired.
"""
from __future__ import annotations

from flask import request
from flask.views import MethodView
from marshmallow import fields, pre_load, validate
from webargs.fields import DelimitedList

from engine.events import KINDS, MAX_LIMIT, read_feed

from ..blueprint import Blueprint
from ..schemas import ProblemSchema, Strict
from ..state import engine

blp = Blueprint("events", __name__, description="The event feed")
TAGS = ["events"]


class FeedQuerySchema(Strict):
    after = fields.String(validate=validate.Regexp(r"^\d{1,20}\.\d{1,20}$", error="not a cursor of this feed"),
                          metadata={"description": "the `next_cursor` (or an event's `cursor`) to continue after; "
                                                   "omitted: from the oldest event kept", "example": "0.42"})
    kinds = DelimitedList(fields.String(validate=validate.OneOf(sorted(KINDS))),
                          metadata={"description": "only these kinds, comma-separated", "example": "case.ended"})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, MAX_LIMIT))

    @pre_load
    def _repeated_kinds(self, data, **_kwargs):
        """`kinds=a&kinds=b`, what generated clients send for a list (they ignore `explode: false`),
        means `kinds=a,b`; read as one value it would silently filter on the first kind only."""
        repeated = request.args.getlist("kinds")
        if len(repeated) > 1:
            data = {**{key: data[key] for key in data}, "kinds": ",".join(repeated)}
        return data


class FeedEventSchema(Strict):
    id = fields.String(required=True, metadata={"description": "unique and stable: dedupe on it"})
    cursor = fields.String(required=True, metadata={"description": "this event's position in the feed"})
    kind = fields.String(required=True, metadata={"example": "case.ended"})
    at = fields.DateTime(required=True)
    actor = fields.String(allow_none=True, required=True, metadata={"description": "user name or worker"})
    instance_id = fields.String(allow_none=True, required=True)
    task_id = fields.String(allow_none=True, required=True)
    element_id = fields.String(allow_none=True, required=True)
    candidate_id = fields.String(allow_none=True, required=True)
    data = fields.Dict(required=True, metadata={"description": "codes and ids of this kind (docs/integrators.md)"})


class FeedPageSchema(Strict):
    events = fields.List(fields.Nested(FeedEventSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True,
                                metadata={"description": "pass as `after` next time (null: no event yet)"})
    has_more = fields.Boolean(required=True, metadata={"description": "true: more events are ready, ask at once"})


@blp.route("/events", tags=TAGS)
class Events(MethodView):
    @blp.arguments(FeedQuerySchema, location="query", unknown="raise")
    @blp.response(200, FeedPageSchema)
    @blp.alt_response(410, schema=ProblemSchema, content_type="application/problem+json",
                      description="the cursor is older than the retention: start again without `after`")
    def get(self, query):
        """Events in commit order after a cursor: cases started and ended, tasks, messages, timers,
        consent, erasure (ids only)."""
        page = read_feed(engine().db, after=query.get("after"), kinds=query.get("kinds"), limit=query["limit"])
        return {"events": [{**e.as_payload(), "at": e.at} for e in page.events], "next_cursor": page.next_cursor,
                "has_more": page.has_more}
