"""Who to call first (issue 20, docs/ranking.md): the recall likelihood's scorecard, model report, refresh,
a person's pin, and the recall list of a role. The score and its top reasons are also in the candidate
list (`GET /candidates`, `sort=-likelihood`), through `attach_scores` and `likelihood_page` below.

Who sees what follows the archive's rules: lists of candidates (and so their scores) are HR's and the
admin's; a process owner reads and changes the scorecard and reads the model's report (no candidate); a
hiring manager sees no list today and no score either.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict

from flask import request, url_for
from flask.views import MethodView
from marshmallow import ValidationError, fields, validate

from engine.archive.access import CONTACT_ROLES
from engine.archive.ranking import InvalidScorecard, Ranking
from engine.archive.ranking_train import model_report, train_model

from ..blueprint import Blueprint
from ..schemas import ProblemSchema, Strict
from ..state import current_user, engine

blp = Blueprint("ranking", __name__, description="Who to call first: the recall likelihood")
TAGS = ["ranking"]
LIKELIHOOD = "-likelihood"


def _ranking() -> Ranking:
    return Ranking(engine())


# ---------------------------------------------------------------- schemas
class ReasonSchema(Strict):
    feature = fields.String(required=True)
    value = fields.Float(required=True)
    contribution = fields.Float(required=True, metadata={"description": "log-odds points it adds (or takes)"})
    zh = fields.String(required=True)
    en = fields.String(required=True)


class FeatureSchema(Strict):
    feature = fields.String(required=True)
    zh = fields.String(required=True)
    en = fields.String(required=True)


class ScorecardInSchema(Strict):
    intercept = fields.Float(required=True, allow_nan=False, validate=validate.Range(-10, 10))
    weights = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=80)),
                          values=fields.Float(allow_nan=False, validate=validate.Range(-10, 10)),
                          required=True, metadata={"description": "{feature: log-odds points}; the features "
                                                   "are listed in GET /ranking/scorecard"})
    note = fields.String(allow_none=True, validate=validate.Length(max=2000))


class ScorecardSchema(Strict):
    version = fields.Integer(required=True, metadata={"description": "0: the shipped default"})
    intercept = fields.Float(required=True)
    weights = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)
    note = fields.String(allow_none=True)
    changed_by = fields.String(allow_none=True)
    changed_at = fields.DateTime(allow_none=True)
    features = fields.List(fields.Nested(FeatureSchema), required=True)
    in_use = fields.String(required=True, metadata={"description": "scorecard:N or model:N"})


class RefreshSchema(Strict):
    scored = fields.Integer(required=True)
    removed = fields.Integer(required=True)
    full = fields.Boolean(required=True)
    source = fields.String(required=True)


class ModelSchema(Strict):
    version = fields.Integer(required=True)
    active = fields.Boolean(required=True)
    trained_at = fields.DateTime(required=True)
    trained_by = fields.String(required=True)
    intercept = fields.Float(required=True)
    coefficients = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)
    metrics = fields.Dict(required=True, metadata={"description": "held out: n_train, n_test, auc, brier, "
                                                   "base_rate_test, bins [{from, to, n, predicted, observed}]"})


class ModelReportSchema(Strict):
    in_use = fields.String(required=True)
    models = fields.List(fields.Nested(ModelSchema), required=True)


class TrainResultSchema(Strict):
    trained = fields.Boolean(required=True)
    reason = fields.String(metadata={"description": "why not (too few labelled outcomes)"})
    labelled = fields.Integer()
    version = fields.Integer()
    active = fields.Boolean()
    metrics = fields.Dict()
    intercept = fields.Float()
    coefficients = fields.Dict(keys=fields.String(), values=fields.Float())


class PinInSchema(Strict):
    pinned = fields.Boolean(required=True, metadata={"description": "true: call first (top of the lists)"})


class ScoreSchema(Strict):
    candidate_id = fields.String(required=True)
    likelihood = fields.Float(required=True)
    likelihood_reasons = fields.List(fields.Nested(ReasonSchema), required=True)
    likelihood_source = fields.String(required=True)
    pinned = fields.Boolean(required=True)


class RecallListQuerySchema(Strict):
    role_key = fields.String(required=True, validate=validate.Length(min=1, max=255))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class RecallListItemSchema(ScoreSchema):
    name = fields.String(allow_none=True)
    role_applied = fields.String(allow_none=True)


class RecallListSchema(Strict):
    role_key = fields.String(required=True)
    items = fields.List(fields.Nested(RecallListItemSchema), required=True)


def _score_body(ranked) -> dict:
    return {"candidate_id": ranked.candidate_id, "likelihood": ranked.score, "likelihood_reasons": ranked.reasons,
            "likelihood_source": ranked.source, "pinned": ranked.pinned}


# ---------------------------------------------------------------- views
@blp.route("/ranking/scorecard", tags=TAGS)
class Scorecard(MethodView):
    @blp.response(200, ScorecardSchema)
    def get(self):
        """The scorecard in force (weights in log-odds points per feature, with the features' zh/en names) and
        what scores now: the scorecard or a trained model."""
        return _ranking().scorecard()

    @blp.arguments(ScorecardInSchema)
    @blp.response(200, ScorecardSchema)
    def put(self, body):
        """Save a new scorecard version (audited); the ranking job scores everyone again with it (unless a
        trained model is in use). Unknown features, `reason:family` and protected attributes: 422."""
        try:
            return _ranking().save_scorecard(body, actor=current_user().name)
        except InvalidScorecard as exc:
            raise ValidationError({exc.field: [exc.message]}) from None


@blp.route("/ranking/refresh", tags=TAGS)
class Refresh(MethodView):
    @blp.response(200, RefreshSchema)
    def post(self):
        """Score everyone again now (the worker does it for who changed every round, everyone daily)."""
        return asdict(_ranking().refresh(full=True))


@blp.route("/ranking/model", tags=TAGS)
class Model(MethodView):
    @blp.response(200, ModelReportSchema)
    def get(self):
        """What is in use, and each trained model's held-out calibration and discrimination."""
        return model_report(engine())


@blp.route("/ranking/model/train", tags=TAGS)
class Train(MethodView):
    @blp.response(200, TrainResultSchema)
    def post(self):
        """Train a model on the labelled outcomes now (the worker does it daily); too few: trained false."""
        return train_model(engine(), actor=current_user().name)


@blp.route("/candidates/<candidate_id>/pin", tags=TAGS)
class Pin(MethodView):
    @blp.arguments(PinInSchema)
    @blp.response(200, ScoreSchema)
    @blp.alt_response(404, schema=ProblemSchema, content_type="application/problem+json")
    def put(self, body, candidate_id):
        """Pin a candidate (call first: before every score, the earlier pin first) or unpin them; a second
        pin changes nothing. Audited."""
        return _score_body(_ranking().pin(candidate_id, pinned=body["pinned"], actor=current_user().name))


class ScoresQuerySchema(Strict):
    candidate_id = fields.List(fields.String(validate=validate.Length(min=1, max=64)), required=True,
                               validate=validate.Length(min=1, max=200),
                               metadata={"description": "candidate ids (repeat the parameter), at most 200"})


class ScoresSchema(Strict):
    items = fields.List(fields.Nested(ScoreSchema), required=True)


@blp.route("/ranking/scores", tags=TAGS)
class Scores(MethodView):
    @blp.arguments(ScoresQuerySchema, location="query", unknown="raise")
    @blp.response(200, ScoresSchema)
    def get(self, query):
        """The likelihood and reasons of these candidates (the inbox shows them beside each follow-up);
        a candidate not scored yet is left out."""
        found = _ranking().scores_of(list(dict.fromkeys(query["candidate_id"])))
        return {"items": [_score_body(r) for r in found.values()]}


@blp.route("/recall-list", tags=TAGS)
class RecallList(MethodView):
    @blp.arguments(RecallListQuerySchema, location="query", unknown="raise")
    @blp.response(200, RecallListSchema)
    def get(self, query):
        """The best candidates for a role (its key, or one of its aliases): who applied for it or declined it,
        with consent in force, pinned first, then by likelihood, each with the top reasons."""
        contact = current_user().role in CONTACT_ROLES
        items = []
        for ranked, candidate in _ranking().recall_list(query["role_key"], limit=query["limit"]):
            item = {**_score_body(ranked), "role_applied": candidate.role_applied}
            if contact:
                item["name"] = candidate.name
            items.append(item)
        return {"role_key": query["role_key"], "items": items}


# ---------------------------------------------------------------- the candidate list (api/resources/candidates.py)
def attach_scores(items: list) -> None:
    """Each list item gets its likelihood, reasons, source and pin (None / [] while not scored yet)."""
    scores = _ranking().scores_of([item.id for item in items])
    for item in items:
        ranked = scores.get(item.id)
        item.likelihood = ranked.score if ranked else None
        item.likelihood_reasons = ranked.reasons if ranked else []
        item.likelihood_source = ranked.source if ranked else None
        item.pinned = bool(ranked and ranked.pinned)
        item.rank_key = ranked.rank_key if ranked else -1      # the keyset cursor's key (search.sort_order)


def decode_likelihood_cursor(cursor: str) -> tuple[int, str]:
    """(rank key, id) of a `sort=-likelihood` cursor; 422 naming `after` for anything else."""
    try:
        made_for, key, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if made_for != LIKELIHOOD or not isinstance(key, int) or isinstance(key, bool) or not isinstance(row_id, str):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ValidationError({"after": ["not a cursor of this list (sort=-likelihood): pass the `next` link's "
                                         "`after` unchanged"]}) from None
    return key, row_id


def likelihood_page(rows: list, *, limit: int) -> dict:
    """api/pagination.py keyset_page for sort=-likelihood, whose key is an integer (the rank key)."""
    items = rows[:limit]
    next_url = cursor = None
    if len(rows) > limit:
        raw = json.dumps([LIKELIHOOD, items[-1].rank_key, items[-1].id], separators=(",", ":"))
        cursor = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
        args = {**request.args.to_dict(flat=False), "limit": limit, "after": cursor}
        args.pop("offset", None)
        next_url = url_for(request.endpoint, **(request.view_args or {}), **args)
    return {"items": items, "limit": limit, "offset": 0, "next": next_url, "next_cursor": cursor}
