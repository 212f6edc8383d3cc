"""Channel settings (admin): the channels installed, each one's declared fields and the company's values —
secrets never returned (`{"set": true, "hint": "ab12"}`), kept when omitted — and a connection test.

The engine side is engine/channels/settings.py (validation, sealing, audit `channel_settings_changed`)."""
from __future__ import annotations

from dataclasses import asdict

from flask.views import MethodView
from marshmallow import fields

from engine.channels.settings import ChannelAdmin

from ..blueprint import Blueprint
from ..schemas import Strict
from ..state import current_user, engine

blp = Blueprint("channels", __name__, description="Channel settings (admin): WeCom and email")
TAGS = ["channels"]


class ChannelFieldSchema(Strict):
    key = fields.String(required=True)
    label_zh = fields.String(required=True)
    label_en = fields.String(required=True)
    secret = fields.Boolean(required=True, metadata={"description": "sealed at rest; its value is never returned"})
    required = fields.Boolean(required=True)
    kind = fields.String(required=True, metadata={"description": "text, int, bool, choice, email or url"})
    choices = fields.List(fields.Raw(), required=True)
    default = fields.Raw(allow_none=True, required=True)
    help_zh = fields.String(required=True)
    help_en = fields.String(required=True)


class ChannelSchema(Strict):
    name = fields.String(required=True)
    label_zh = fields.String(required=True)
    label_en = fields.String(required=True)
    configured = fields.Boolean(required=True, metadata={"description": "settings were saved"})
    enabled = fields.Boolean(required=True, metadata={"description": "saved and enabled: sends may use it"})
    fields_ = fields.List(fields.Nested(ChannelFieldSchema), required=True, data_key="fields")
    values = fields.Dict(required=True, metadata={
        "description": "by field key; a secret field as {\"set\": bool, \"hint\": last 4 characters or null}"})
    updated_by = fields.String(allow_none=True, required=True)
    updated_at = fields.DateTime(allow_none=True, required=True)
    can_test = fields.Boolean(required=True)
    monthly_limit_per_candidate = fields.Integer(allow_none=True, required=True)


class ChannelListSchema(Strict):
    items = fields.List(fields.Nested(ChannelSchema), required=True)


class ChannelSettingsInSchema(Strict):
    values = fields.Dict(required=True, metadata={
        "description": "field key -> value; a secret omitted or null keeps the stored one, \"\" clears an optional one"})
    enabled = fields.Boolean(metadata={"description": "false: configured but not used (sends are refused)"})


class ChannelTestInSchema(Strict):
    values = fields.Dict(load_default=dict, metadata={
        "description": "values to try over the saved ones (nothing is saved); omitted: the saved settings"})


class ChannelTestSchema(Strict):
    ok = fields.Boolean(required=True)
    message = fields.String(required=True, metadata={"description": "what the channel answered (never a secret)"})


def _admin() -> ChannelAdmin:
    return ChannelAdmin(engine())


def _out(view) -> dict:
    body = asdict(view)
    body["fields_"] = body.pop("fields")
    return body


@blp.route("/channels", tags=TAGS)
class ChannelList(MethodView):
    @blp.response(200, ChannelListSchema)
    def get(self):
        """Every installed channel: configured or not, enabled, its fields and values (never a secret)."""
        return {"items": [_out(v) for v in _admin().list()]}


@blp.route("/channels/<name>", tags=TAGS)
class ChannelOne(MethodView):
    @blp.response(200, ChannelSchema)
    def get(self, name):
        """One channel's settings (secrets as set/hint only)."""
        return _out(_admin().get(name))

    @blp.arguments(ChannelSettingsInSchema)
    @blp.response(200, ChannelSchema)
    def put(self, body, name):
        """Save the channel's settings: 422 naming each bad field (`values.<key>`), nothing saved then.
        Secrets are sealed at rest; audited `channel_settings_changed` with the field names only."""
        return _out(_admin().save(name, body["values"], actor=current_user().name, enabled=body.get("enabled")))


@blp.route("/channels/<name>/test", tags=TAGS)
class ChannelTest(MethodView):
    @blp.arguments(ChannelTestInSchema)
    @blp.response(200, ChannelTestSchema)
    def post(self, body, name):
        """Try the connection (the saved settings, or `values` over them; nothing saved): ok and the
        channel's message. Audited `channel_tested`."""
        ok, message = _admin().test(name, body["values"], actor=current_user().name)
        return {"ok": ok, "message": message}
