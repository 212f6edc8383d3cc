"""Notification preferences (engine/notifications.py): how each person hears of work for them.

- `GET/PUT /users/me/notifications`: one's own — channel (`wecom` app message, `email`, `none`), mode
  (`immediate`, or `digest`: one message a day at `digest_hour`, local time), `language` of the texts,
  and `group_tasks` (also tasks landing in one's groups' queues). `reachable` says which channels can
  reach the person (an address in the directory and the channel set up by an admin).
- `GET/PUT /users/{name}/notifications` (admin): anyone's.
A change is audited `notification_preferences_changed` (who, which fields).
"""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import fields, validate

from engine.notifications import CHANNELS, LANGUAGES, MODES, describe, set_preferences

from ..blueprint import Blueprint
from ..schemas import ProblemSchema, Strict
from ..state import current_user, engine

blp = Blueprint("notifications", __name__, description="Notification preferences")
TAGS = ["users"]


class PreferencesInSchema(Strict):
    channel = fields.String(validate=validate.OneOf(CHANNELS), metadata={"example": "wecom"})
    mode = fields.String(validate=validate.OneOf(MODES), metadata={"example": "digest"})
    digest_hour = fields.Integer(validate=validate.Range(0, 23), metadata={
        "description": "the local hour (RECALL_TIMEZONE) of the daily digest", "example": 9})
    language = fields.String(validate=validate.OneOf(LANGUAGES), metadata={"example": "zh"})
    group_tasks = fields.Boolean(metadata={"description": "also tasks that land in my groups' queues"})


class ReachableSchema(Strict):
    wecom = fields.Boolean(required=True)
    email = fields.Boolean(required=True)


class PreferencesSchema(Strict):
    channel = fields.String(required=True)
    mode = fields.String(required=True)
    digest_hour = fields.Integer(required=True)
    language = fields.String(required=True)
    group_tasks = fields.Boolean(required=True)
    chosen = fields.Boolean(required=True, metadata={"description": "false: the defaults, nobody chose yet"})
    reachable = fields.Nested(ReachableSchema, required=True)


def _save(name: str, body: dict) -> dict:
    return describe(engine(), name, set_preferences(engine(), name, body, actor=current_user().name))


@blp.route("/users/me/notifications", tags=TAGS)
class MyPreferences(MethodView):
    @blp.response(200, PreferencesSchema)
    def get(self):
        """How you hear of tasks for you, reminders and deadlines."""
        return describe(engine(), current_user().name)

    @blp.arguments(PreferencesInSchema)
    @blp.response(200, PreferencesSchema)
    @blp.alt_response(422, schema=ProblemSchema, content_type="application/problem+json",
                      description="a bad value, or a channel the directory has no address of yours for")
    def put(self, body):
        """Change how you hear of work for you (fields left out stay as they are)."""
        return _save(current_user().name, body)


@blp.route("/users/<name>/notifications", tags=TAGS)
class UserPreferences(MethodView):
    @blp.response(200, PreferencesSchema)
    @blp.alt_response(404, schema=ProblemSchema, content_type="application/problem+json", description="no such user")
    def get(self, name):
        """A person's notification preferences (admin)."""
        return describe(engine(), name)

    @blp.arguments(PreferencesInSchema)
    @blp.response(200, PreferencesSchema)
    @blp.alt_response(404, schema=ProblemSchema, content_type="application/problem+json", description="no such user")
    @blp.alt_response(422, schema=ProblemSchema, content_type="application/problem+json",
                      description="a bad value, or a channel the directory has no address of theirs for")
    def put(self, body, name):
        """Change a person's notification preferences (admin)."""
        return _save(name, body)
