"""Signed links to a candidate's pages (issue 18): HR issues one to put in a message, lists a candidate's
links with their status and views, and revokes one. The page itself is public, at `/p/<token>`
(api/public_pages.py, not under this API). The token is in the answer of the issue call only: it is never
stored (a hash is), so a lost link is revoked and issued again. HR and admins only (api/permissions.py).

The full URL is RECALL_PUBLIC_URL + `/p/<token>`; with no public URL set, the address this request came to."""
from __future__ import annotations

from dataclasses import asdict

from flask import request
from flask.views import MethodView
from marshmallow import fields, validate

from engine.candidate_pages import links
from engine.candidate_pages.service import CandidateLinks
from engine.errors import ConflictError, NotFound

from ..blueprint import Blueprint
from ..schemas import ProblemSchema, Strict
from ..state import current_user, engine, state

blp = Blueprint("links", __name__, description="Signed links to a candidate's growth or goals page")
TAGS = ["candidates"]
_REFUSALS = dict(schema=ProblemSchema, content_type="application/problem+json")
LINK_STATUSES = ("active", "expired", "revoked")


class CandidateLinkInSchema(Strict):
    kind = fields.String(required=True, validate=validate.OneOf(links.KINDS),
                         metadata={"description": "growth (the role's growth page) or goals (a new hire's goals)"})
    lang = fields.String(load_default="zh", validate=validate.OneOf(links.LANGS))
    ttl_days = fields.Integer(allow_none=True, load_default=None, strict=True,
                              validate=validate.Range(min=1, max=links.MAX_DAYS),
                              metadata={"description": "lifetime in days (default RECALL_CANDIDATE_LINK_DAYS, 30)"})
    instance_id = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=36),
                                metadata={"description": "the case it is sent from (its history shows the link)"})
    role_key = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=64),
                             metadata={"description": "the role profile to show (default: the candidate's "
                                                      "latest declined role)"})


class CandidateLinkSchema(Strict):
    id = fields.String(required=True)
    kind = fields.String(required=True)
    candidate_id = fields.String(required=True)
    instance_id = fields.String(allow_none=True, required=True)
    role_key = fields.String(allow_none=True, required=True)
    lang = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(LINK_STATUSES),
                           metadata={"description": "active, expired or revoked"})
    created_by = fields.String(required=True)
    created_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(required=True)
    revoked_at = fields.DateTime(allow_none=True, required=True)
    revoked_by = fields.String(allow_none=True, required=True)
    revoked_reason = fields.String(allow_none=True, required=True,
                                   metadata={"description": "hand, or consent_withdrawn"})
    first_viewed_at = fields.DateTime(allow_none=True, required=True)
    last_viewed_at = fields.DateTime(allow_none=True, required=True)
    view_count = fields.Integer(required=True)
    view_seconds = fields.Integer(required=True)
    replied_at = fields.DateTime(allow_none=True, required=True,
                                 metadata={"description": "when the candidate pressed \"I'd like to talk\""})


class IssuedCandidateLinkSchema(CandidateLinkSchema):
    url = fields.String(required=True, metadata={"description": "the full link to put in a message (shown once)"})
    url_path = fields.String(required=True, metadata={"example": "/p/3q2-...", "description": "/p/<token>"})


class CandidateLinkListSchema(Strict):
    items = fields.List(fields.Nested(CandidateLinkSchema), required=True)


def _links() -> CandidateLinks:
    return CandidateLinks(engine())


def public_base() -> str:
    return state().settings.public_url or request.host_url.rstrip("/")


def _view(link: links.Link) -> dict:
    return asdict(link)


@blp.route("/candidates/<candidate_id>/links", tags=TAGS)
class CandidateLinkList(MethodView):
    @blp.response(200, CandidateLinkListSchema)
    @blp.alt_response(404, description="no such candidate", **_REFUSALS)
    def get(self, candidate_id):
        """The candidate's links, newest first, with their status and views (HR, admin)."""
        service = _links()
        if not service.candidate_exists(candidate_id):
            raise NotFound(f"no candidate {candidate_id!r}")
        return {"items": [_view(x) for x in service.list(candidate_id)]}

    @blp.arguments(CandidateLinkInSchema)
    @blp.response(201, IssuedCandidateLinkSchema)
    @blp.alt_response(404, description="no such candidate", **_REFUSALS)
    @blp.alt_response(409, description="the candidate is erased, withdrew their consent, or (growth) has no "
                      "talent-pool consent in force", **_REFUSALS)
    @blp.alt_response(422, description="a bad field", **_REFUSALS)
    def post(self, body, candidate_id):
        """Issue a link to the candidate's page of `kind` (HR, admin; audited `candidate_link_issued`).
        The answer's `url` is the only time the token is shown."""
        service = _links()
        if not service.candidate_exists(candidate_id):
            raise NotFound(f"no candidate {candidate_id!r}")
        try:
            issued = service.issue(candidate_id, kind=body["kind"], lang=body["lang"], ttl_days=body["ttl_days"],
                                   instance_id=body["instance_id"], role_key=body["role_key"],
                                   actor=current_user().name)
        except links.LinkRefused as refused:
            raise ConflictError(f"no link for candidate {candidate_id!r}: {refused.reason}") from refused
        view = service.get(issued.id)
        return {**_view(view), "url": public_base() + issued.url_path, "url_path": issued.url_path}, 201


@blp.route("/links/<link_id>/revoke", tags=TAGS)
class RevokeLink(MethodView):
    @blp.response(200, CandidateLinkSchema)
    @blp.alt_response(404, description="no such link", **_REFUSALS)
    def post(self, link_id):
        """Revoke a link now (HR, admin; audited `candidate_link_revoked`); again: unchanged."""
        try:
            return _view(_links().revoke(link_id, actor=current_user().name))
        except links.LinkRefused as refused:
            raise NotFound(f"no link {link_id!r}") from refused
