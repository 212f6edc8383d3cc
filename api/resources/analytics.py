"""GET /analytics/funnel: the recall funnel, computed from the audit trail (JSON or CSV)."""
from __future__ import annotations

from flask import Response
from flask.views import MethodView
from marshmallow import fields, validate

from engine.archive import TalentArchive
from engine.archive.analytics import GROUPINGS, STAGES, to_csv

from ..blueprint import Blueprint
from ..schemas import Strict
from ..state import engine

blp = Blueprint("analytics", __name__, description="Recall analytics")
TAGS = ["analytics"]


class FunnelQuerySchema(Strict):
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))
    group_by = fields.String(load_default="reason", validate=validate.OneOf(GROUPINGS),
                             metadata={"description": "reason, sender (HR vs hiring manager), template or stage"})


def _rate(**kwargs):
    return fields.Float(allow_none=True, required=True, **kwargs)


class FunnelRowSchema(Strict):
    group_by = fields.String(required=True)
    key = fields.String(required=True)
    declined = fields.Integer(required=True)
    contacted = fields.Integer(required=True)
    replied = fields.Integer(required=True)
    interested = fields.Integer(required=True)
    reoffered = fields.Integer(required=True)
    accepted = fields.Integer(required=True)
    employed_90d = fields.Integer(required=True, metadata={"description": "still employed 90 days after the start"})
    reply_rate = _rate(metadata={"description": "replied / contacted"})
    acceptance_rate = _rate(metadata={"description": "accepted / declined"})
    days_to_reaccept_median = _rate(metadata={"description": "days from the decline to the re-acceptance"})
    days_to_reaccept_mean = _rate()
    hires = fields.Integer(required=True, metadata={"description": "recalled hires who started"})
    early_leavers = fields.Integer(required=True, metadata={"description": "left within 90 days of the start"})
    early_leaver_rate = _rate()


class FunnelSchema(Strict):
    generated_at = fields.DateTime(required=True)
    stages = fields.List(fields.String(), required=True, metadata={"example": list(STAGES)})
    overall = fields.Nested(FunnelRowSchema, required=True)
    group_by = fields.String(required=True)
    groups = fields.List(fields.Nested(FunnelRowSchema), required=True)


@blp.route("/analytics/funnel", tags=TAGS)
class Funnel(MethodView):
    @blp.arguments(FunnelQuerySchema, location="query", unknown="raise")
    @blp.response(200, FunnelSchema)
    @blp.doc(responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
    def get(self, query):
        """declined → contacted → replied → interested → re-offered → accepted → still employed at 90 days,
        overall and by reason, sender, template or stage; reply rates, time to re-acceptance, early leavers."""
        report = TalentArchive(engine()).funnel(group_by=query["group_by"])
        if query["format"] == "csv":
            return Response(to_csv(report), mimetype="text/csv",
                            headers={"Content-Disposition": f'inline; filename="funnel_{query["group_by"]}.csv"'})
        return report
