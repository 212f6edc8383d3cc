"""Role profiles (issue 18): the facts behind the messages, per role and optionally team and location
(engine/archive/role_book.py; docs/role-profiles.md).

HR, process owners and admins write; hiring managers read too. An integrator (the HR system) may read and
write them as well: the figures come from there, and a nightly sync (PUT by key, PATCH the open positions, or
the import) keeps them current without a person re-typing them. A PUT is a new version unless its content is
the latest's; its ETag is the scope's latest version ("v3"), and If-Match makes a stale edit 412.
"""
from __future__ import annotations

from dataclasses import asdict

from flask import request
from flask.views import MethodView
from marshmallow import fields, validate

from engine.archive.role_book import RoleProfiles
from engine.archive.roles_import import ImportRefused

from ..blueprint import Blueprint
from ..problems import problem
from ..etags import ETAG_HEADER, IF_MATCH_PARAMETER, conditional, etag, expected_version
from ..schemas import Day, ProblemSchema, Strict
from ..state import current_user, engine, state
from .precondition import stale_is_412

blp = Blueprint("roles", __name__, description="Role profiles")
TAGS = ["roles"]
PROBLEM = "application/problem+json"


class ScopeQuerySchema(Strict):
    team = fields.String(validate=validate.Length(max=128), metadata={"description": "the team's profile (else the role's)"})
    location = fields.String(validate=validate.Length(max=128))
    at = Day(metadata={"description": "the profile in force on this day (default today)"})


class ListQuerySchema(Strict):
    at = Day(metadata={"description": "the profiles in force on this day (default today)"})


class RolePutSchema(Strict):
    title = fields.Dict(required=True, metadata={"example": {"zh": "后端工程师", "en": "Backend engineer"}})
    facts = fields.Dict(required=True, metadata={"description": "the facts document (docs/role-profiles.md)"})
    effective_from = Day(required=True, metadata={"description": "the day this version is in force from"})
    note = fields.String(load_default="", validate=validate.Length(max=2000),
                         metadata={"description": "why it changed (shown in the history)"})
    team = fields.String(allow_none=True, validate=validate.Length(max=128))
    location = fields.String(allow_none=True, validate=validate.Length(max=128))
    aliases = fields.List(fields.String(validate=validate.Length(max=255)), validate=validate.Length(max=50),
                          metadata={"description": "free-text names that mean this role (replaces them)"})
    open_positions = fields.Integer(validate=validate.Range(0, 100_000))


class RolePatchSchema(Strict):
    open_positions = fields.Integer(validate=validate.Range(0, 100_000))
    aliases = fields.List(fields.String(validate=validate.Length(max=255)), validate=validate.Length(max=50))


class PendingSchema(Strict):
    version = fields.Integer(required=True)
    effective_from = fields.Date(required=True)


class ScopeSchema(Strict):
    team = fields.String(allow_none=True, required=True)
    location = fields.String(allow_none=True, required=True)


class RoleSchema(Strict):
    role_key = fields.String(required=True, metadata={"example": "backend_engineer"})
    team = fields.String(allow_none=True, required=True)
    location = fields.String(allow_none=True, required=True)
    title = fields.Dict(required=True)
    version = fields.Integer(allow_none=True, required=True,
                             metadata={"description": "the version in force (null: none is in force yet)"})
    effective_from = fields.Date(allow_none=True, required=True)
    changed_by = fields.String(allow_none=True, required=True)
    changed_at = fields.DateTime(allow_none=True, required=True)
    facts = fields.Dict(required=True)
    as_of = fields.Dict(required=True, metadata={"description": "fact group -> the date its figures are from"})
    stale_groups = fields.List(fields.String(), required=True,
                               metadata={"description": "groups older than RECALL_ROLE_FACT_MAX_AGE_DAYS"})
    max_age_days = fields.Integer(required=True)
    latest_version = fields.Integer(required=True)
    pending = fields.Nested(PendingSchema, allow_none=True, required=True,
                            metadata={"description": "a newer version written for a later day"})
    open_positions = fields.Integer(required=True)
    aliases = fields.List(fields.String(), required=True)
    scopes = fields.List(fields.Nested(ScopeSchema), required=True,
                         metadata={"description": "the role's other team/location profiles"})


class RoleListSchema(Strict):
    items = fields.List(fields.Nested(RoleSchema), required=True)


class RoleVersionSchema(Strict):
    version = fields.Integer(required=True)
    effective_from = fields.Date(required=True)
    changed_by = fields.String(required=True)
    changed_at = fields.DateTime(required=True)
    note = fields.String(required=True)
    title = fields.Dict(required=True)
    facts = fields.Dict(required=True)
    in_force = fields.Boolean(required=True)


class RoleVersionListSchema(Strict):
    items = fields.List(fields.Nested(RoleVersionSchema), required=True)


class ImportQuerySchema(Strict):
    dry_run = fields.Boolean(load_default=False, metadata={"description": "check every row, write nothing"})
    only_valid = fields.Boolean(load_default=False,
                                metadata={"description": "write the good rows and leave the bad ones (else all or none)"})


class ImportErrorSchema(Strict):
    row = fields.Integer(required=True, metadata={"description": "as the spreadsheet numbers it (the header is 1)"})
    column = fields.String(required=True, metadata={"description": "the column's header as in the file"})
    message = fields.String(required=True)


class ImportRowSchema(Strict):
    row = fields.Integer(required=True)
    role_key = fields.String(allow_none=True, required=True)
    team = fields.String(allow_none=True, required=True)
    location = fields.String(allow_none=True, required=True)
    status = fields.String(required=True, metadata={"description": "new, changed, unchanged, error or skipped"})
    version = fields.Integer(allow_none=True, required=True)
    errors = fields.List(fields.Nested(ImportErrorSchema), required=True)


class ImportReportSchema(Strict):
    dry_run = fields.Boolean(required=True)
    only_valid = fields.Boolean(required=True)
    written = fields.Boolean(required=True, metadata={"description": "a version was saved"})
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    columns = fields.List(fields.String(), required=True)
    rows = fields.List(fields.Nested(ImportRowSchema), required=True)
    errors = fields.List(fields.Nested(ImportErrorSchema), required=True)


class ImportUploadSchema(Strict):
    file = fields.Raw(required=True, metadata={"type": "string", "format": "binary",
                                               "description": "CSV (UTF-8 or GBK) or XLSX, one row per role"})


def _book() -> RoleProfiles:
    return RoleProfiles(engine(), max_age_days=state().settings.role_fact_max_age_days)


def _out(view) -> dict:
    return {**asdict(view), "max_age_days": state().settings.role_fact_max_age_days}


def _scope(query: dict) -> dict:
    return {"team": query.get("team"), "location": query.get("location")}


@blp.route("/roles", tags=TAGS)
class RoleList(MethodView):
    @conditional(blp)
    @blp.arguments(ListQuerySchema, location="query", unknown="raise")
    @blp.response(200, RoleListSchema)
    def get(self, query):
        """Every role profile (each team and location scope), as in force today, with its stale groups."""
        return {"items": [_out(v) for v in _book().list(at=query.get("at"))]}


@blp.route("/roles/<role_key>", tags=TAGS)
class RoleOne(MethodView):
    @conditional(blp)
    @blp.arguments(ScopeQuerySchema, location="query", unknown="raise")
    @blp.response(200, RoleSchema, headers=ETAG_HEADER)
    def get(self, query, role_key):
        """One profile (the role's, or a team's/location's with ?team=&location=); ETag for If-Match."""
        view = _book().get(role_key, at=query.get("at"), **_scope(query))
        return _out(view), 200, {"ETag": etag(view.latest_version)}

    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.arguments(RolePutSchema)
    @blp.response(200, RoleSchema, headers=ETAG_HEADER)
    @blp.alt_response(422, schema=ProblemSchema, content_type=PROBLEM,
                      description="a bad fact: `errors` name each field's path (facts.path.stages[1].typical_months)")
    def put(self, body, role_key):
        """Save a new version of the profile (made on its first); the same content again writes nothing.
        412 on a stale If-Match ("v0": the profile must not exist yet)."""
        expected = expected_version()
        with stale_is_412(expected):
            view = _book().save(role_key, body["title"], body["facts"], effective_from=body["effective_from"],
                                actor=current_user().name, note=body["note"], team=body.get("team"),
                                location=body.get("location"), aliases=body.get("aliases"),
                                open_positions=body.get("open_positions"), expected_version=expected)
        return _out(view), 200, {"ETag": etag(view.latest_version)}

    @blp.arguments(RolePatchSchema)
    @blp.response(200, RoleSchema)
    def patch(self, body, role_key):
        """Set the role's open positions (now, not versioned) and/or replace its aliases; audited."""
        view = _book().change_role(role_key, actor=current_user().name, open_positions=body.get("open_positions"),
                                   aliases=body.get("aliases"))
        return _out(view)


@blp.route("/roles/<role_key>/versions", tags=TAGS)
class RoleVersions(MethodView):
    @conditional(blp)
    @blp.arguments(ScopeQuerySchema, location="query", unknown="raise")
    @blp.response(200, RoleVersionListSchema)
    def get(self, query, role_key):
        """Every version of one profile, newest first: effective day, who, when, the note, the facts."""
        found = _book().versions(role_key, at=query.get("at"), **_scope(query))
        return {"items": [asdict(v) for v in found]}


@blp.route("/roles/import", tags=TAGS)
class RoleImport(MethodView):
    @blp.arguments(ImportQuerySchema, location="query", unknown="raise")
    @blp.doc(requestBody={"required": True, "content": {"multipart/form-data": {"schema": ImportUploadSchema}}})
    @blp.response(200, ImportReportSchema)
    @blp.alt_response(422, schema=ProblemSchema, content_type=PROBLEM,
                      description="a bad row (nothing written; `report` has every row) or a file that cannot be read")
    def post(self, query):
        """Import role profiles from a CSV or XLSX file (multipart field `file`; docs/role-profiles.md): with
        dry_run, every row checked and nothing written; otherwise all rows or none (or only_valid: the good ones)."""
        upload = request.files.get("file") if request.mimetype == "multipart/form-data" else None
        if upload is None:
            raise ImportRefused("send the file as multipart/form-data, field `file`")
        report = _book().import_file(upload.read(), filename=upload.filename or "", actor=current_user().name,
                                     dry_run=query["dry_run"], only_valid=query["only_valid"])
        body = {**asdict(report), "counts": report.counts}
        if report.errors and not report.dry_run and not report.only_valid:
            return problem(422, f"{len(report.errors)} problem(s) in the file; nothing was imported: " + "; ".join(
                f"row {e.row}, {e.column}: {e.message}" for e in report.errors[:5]), title="Import refused",
                slug="form-invalid", errors=[{"field": f"row {e.row}: {e.column}", "message": e.message, "in": "file"}
                                               for e in report.errors], report=body)
        return body
