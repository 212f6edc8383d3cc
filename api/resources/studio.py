"""The process owner's studio (issue 19, docs/studio.md): each person's drafts of the bundle, their diff
against the deployed versions, deploying a draft with a change note, and moving running cases from one
version to another (a dry run first). Process owners and admins; a draft is seen by its owner (and admins)
only — anyone else gets 404, as if it did not exist."""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import ValidationError, fields, validate
from werkzeug.exceptions import PreconditionRequired

from engine.studio.drafts import MAX_FILES, MAX_TITLE, DraftContentError
from engine.studio.migrate import Plan, TIMER_MODES
from engine.studio.service import MAX_NOTE, Studio, Viewer

from ..blueprint import Blueprint
from ..etags import IF_MATCH_PARAMETER, etag, expected_version
from ..schemas import DeployResultSchema, ProblemSchema, Strict
from ..state import current_user, engine
from .precondition import stale_is_412
from .studio_check import StudioDiagnosticSchema

blp = Blueprint("studio", __name__, description="The process owner's studio: drafts, diff, deploy, migrations")
TAGS = ["studio"]
PROBLEM = "application/problem+json"
ETAG = {"ETag": {"description": "the draft's version; send it back in If-Match", "schema": {"type": "string"}}}
_TEXTS = dict(keys=fields.String(validate=validate.Length(min=1, max=255)), values=fields.String(),
              validate=validate.Length(max=MAX_FILES))


class DraftInSchema(Strict):
    title = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TITLE))
    source = fields.String(load_default="deployed", validate=validate.OneOf(("deployed", "workflows", "files")),
                           metadata={"description": "deployed (default: the newest version of each process), "
                                                    "workflows (the server's workflows/ folder) or files (given)"})
    process_keys = fields.List(fields.String(validate=validate.Length(min=1, max=255)),
                               validate=validate.Length(max=100),
                               metadata={"description": "with source deployed: only these processes"})
    files = fields.Dict(**_TEXTS, metadata={"description": "with source files: path under workflows/ -> text"})
    forms = fields.Dict(**_TEXTS, metadata={"description": "with source files: form file name -> text"})


class DraftChangeSchema(Strict):
    title = fields.String(validate=validate.Length(min=1, max=MAX_TITLE))
    files = fields.Dict(**_TEXTS, metadata={"description": "the whole set of files (replaces the draft's)"})
    forms = fields.Dict(**_TEXTS, metadata={"description": "the whole set of forms (replaces the draft's)"})


class DraftSummarySchema(Strict):
    id = fields.String(required=True)
    owner = fields.String(required=True)
    title = fields.String(required=True)
    source = fields.String(required=True)
    based_on = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                           metadata={"description": "process key -> the deployed version the draft was made from"})
    version = fields.Integer(required=True, metadata={"description": "the draft's version (its ETag)"})
    size_bytes = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    deployed_at = fields.DateTime(allow_none=True, required=True)
    deployed_versions = fields.Dict(keys=fields.String(), values=fields.Integer(), allow_none=True, required=True)
    file_names = fields.List(fields.String(), required=True)
    form_names = fields.List(fields.String(), required=True)


class DraftSchema(DraftSummarySchema):
    files = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    forms = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class DraftListQuerySchema(Strict):
    everyone = fields.Boolean(load_default=False, metadata={"description": "admin: every person's drafts"})


class DraftListSchema(Strict):
    items = fields.List(fields.Nested(DraftSummarySchema), required=True)


class DiffSchema(Strict):
    draft_id = fields.String(required=True)
    against = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                          metadata={"description": "the deployed versions compared with (the newest of each)"})
    based_on = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    stale = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True,
                        metadata={"description": "processes deployed again since the draft was made"})
    processes = fields.Dict(required=True, metadata={
        "description": "process id -> {status, added, removed, changed: [{id, type, name, changes: "
                       "{field: {from, to}}}]}; fields: type, name, timer, form, script, condition, message, "
                       "lane, called_element, decision, default, source, target ..."})
    forms = fields.Dict(required=True, metadata={"description": "{added, removed, changed: [{name, changes: "
                                                                "[{path (JSON pointer), op, from, to}]}]}"})
    decisions = fields.Dict(required=True, metadata={
        "description": "decision id -> {status, added, removed (rule ids), changed: [{rule_id, inputs, outputs}]}"})
    templates = fields.Dict(required=True, metadata={
        "description": "{added, removed, changed: [{lang, id, diff (unified)}]}"})
    messages = fields.List(fields.Dict(), required=True, metadata={"description": "messages.json changes"})
    vocabulary = fields.List(fields.Dict(), required=True, metadata={"description": "vocabulary.json changes"})


class DeployDraftSchema(Strict):
    note = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NOTE), metadata={
        "description": "the change note: what changes and why (in the audit and on the process's versions)",
        "example": "第 90 天跟进提前到第 60 天 / day-90 follow-up moves to day 60"})


class DraftDeployResultSchema(DeployResultSchema):
    warnings = fields.List(fields.Nested(StudioDiagnosticSchema), required=True, metadata={
        "description": "the bundle's warnings, as POST /studio/check and `recall validate` give them: shown, "
                       "never blocking"})


class MigrationInSchema(Strict):
    from_version = fields.Integer(required=True, validate=validate.Range(min=1, max=2_147_483_647))
    to_version = fields.Integer(required=True, validate=validate.Range(min=1, max=2_147_483_647))
    mapping = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=255)),
                          values=fields.String(validate=validate.Length(min=1, max=255)),
                          load_default=dict, validate=validate.Length(max=1000), metadata={
                              "description": "old element id -> new element id (default: equal ids)"})
    timers = fields.String(load_default="keep", validate=validate.OneOf(TIMER_MODES), metadata={
        "description": "keep: each waiting timer keeps its due time; recompute: evaluated again from the new "
                       "version's expression with the case's data"})
    dry_run = fields.Boolean(load_default=True, metadata={"description": "true (default): only say what would move"})
    instance_ids = fields.List(fields.String(validate=validate.Length(min=1, max=36)),
                               validate=validate.Length(min=1, max=1000),
                               metadata={"description": "only these cases (default: every running case of "
                                                        "from_version)"})


class MigrationCaseSchema(Strict):
    instance_id = fields.String(required=True)
    business_key = fields.String(allow_none=True, required=True)
    version = fields.Integer(required=True, metadata={"description": "the case's row version (ETag) when checked"})
    status = fields.String(required=True)
    waiting_at = fields.List(fields.String(), required=True)
    movable = fields.Boolean(required=True)
    reasons = fields.List(fields.String(), required=True, metadata={"description": "why it cannot move, in words"})
    timers = fields.List(fields.Dict(), required=True,
                         metadata={"description": "[{element_id, due_at, new_due_at, fires_at_once}]"})
    outcome = fields.String(allow_none=True, required=True, metadata={
        "description": "after a move: moved, refused, already_moved or skipped; null in a dry run"})


class MigrationSchema(Strict):
    process_key = fields.String(required=True)
    from_version = fields.Integer(required=True)
    to_version = fields.Integer(required=True)
    timers = fields.String(required=True)
    mapping = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    dry_run = fields.Boolean(required=True)
    movable = fields.Integer(required=True)
    refused = fields.Integer(required=True)
    moved = fields.Integer(required=True)
    cases = fields.List(fields.Nested(MigrationCaseSchema), required=True)


def _studio() -> Studio:
    return Studio(engine())


def _viewer() -> Viewer:
    user = current_user()
    return Viewer(user.name, admin=user.role == "admin")


def _content(call):
    try:
        return call()
    except DraftContentError as exc:
        raise ValidationError(exc.errors) from exc


@blp.route("/studio/drafts", tags=TAGS)
class Drafts(MethodView):
    @blp.arguments(DraftListQuerySchema, location="query", unknown="raise")
    @blp.response(200, DraftListSchema)
    def get(self, query):
        """Your drafts, last changed first (an admin may ask for everyone's)."""
        return {"items": _studio().list_drafts(_viewer(), everyone=query["everyone"])}

    @blp.arguments(DraftInSchema)
    @blp.response(201, DraftSchema, headers=ETAG)
    def post(self, body):
        """A new draft of the whole bundle: from the deployed versions (default), workflows/, or the files given."""
        if body["source"] != "files" and ("files" in body or "forms" in body):
            raise ValidationError({"files": ["files and forms are given with source files only"]})
        draft = _content(lambda: _studio().create_draft(
            _viewer(), title=body["title"], source=body["source"], files=body.get("files"),
            forms=body.get("forms"), process_keys=body.get("process_keys")))
        return draft, 201, {"ETag": etag(draft["version"])}


@blp.route("/studio/drafts/<draft_id>", tags=TAGS)
class Draft(MethodView):
    @blp.response(200, DraftSchema, headers=ETAG)
    def get(self, draft_id):
        """One of your drafts with all its files and forms."""
        draft = _studio().get_draft(draft_id, _viewer())
        return draft, 200, {"ETag": etag(draft["version"])}

    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.arguments(DraftChangeSchema)
    @blp.response(200, DraftSchema, headers=ETAG)
    @blp.alt_response(412, schema=ProblemSchema, content_type=PROBLEM, description="the draft changed since")
    @blp.alt_response(428, schema=ProblemSchema, content_type=PROBLEM, description="If-Match is required")
    def put(self, body, draft_id):
        """Save the draft (title, the whole set of files and/or forms); If-Match with its ETag is required."""
        seen = expected_version()
        if seen is None:
            raise PreconditionRequired("send If-Match with the draft's ETag (a save never overwrites blindly)")
        with stale_is_412(seen):
            draft = _content(lambda: _studio().save_draft(draft_id, _viewer(), expected_version=seen,
                                                          files=body.get("files"), forms=body.get("forms"),
                                                          title=body.get("title")))
        return draft, 200, {"ETag": etag(draft["version"])}

    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.response(204)
    @blp.alt_response(412, schema=ProblemSchema, content_type=PROBLEM, description="the draft changed since")
    def delete(self, draft_id):
        """Delete one of your drafts (If-Match optional)."""
        seen = expected_version()
        with stale_is_412(seen):
            _studio().delete_draft(draft_id, _viewer(), expected_version=seen)
        return ""


@blp.route("/studio/drafts/<draft_id>/diff", tags=TAGS)
class DraftDiff(MethodView):
    @blp.response(200, DiffSchema)
    def get(self, draft_id):
        """What the draft changes against the newest deployed versions: elements, forms, DMN rules, templates."""
        return _studio().diff(draft_id, _viewer())


@blp.route("/studio/drafts/<draft_id>/deploy", tags=TAGS)
class DraftDeploy(MethodView):
    @blp.arguments(DeployDraftSchema)
    @blp.response(201, DraftDeployResultSchema, description="at least one new version was stored")
    @blp.alt_response(200, schema=DraftDeployResultSchema, description="nothing changed: no new version", success=True)
    @blp.alt_response(422, schema=ProblemSchema, content_type=PROBLEM,
                      description="no note, or the draft does not validate (`diagnostics`)")
    def post(self, body, draft_id):
        """Deploy the draft with a change note; the checks of `recall validate` must pass."""
        results, warnings = _content(lambda: _studio().deploy_checked(draft_id, _viewer(), note=body["note"]))
        return ({"versions": results, "warnings": [w.as_dict() for w in warnings]},
                (201 if any(r.created for r in results) else 200))


@blp.route("/process-definitions/<process_key>/migrations", tags=["process-definitions"])
class Migrations(MethodView):
    @blp.arguments(MigrationInSchema)
    @blp.response(200, MigrationSchema)
    def post(self, body, process_key):
        """Move running cases from one version to another: a dry run (default) lists each case movable or not
        and why; otherwise each chosen case moves in its own unit of work, re-checked, audited."""
        plan = Plan(process_key, body["from_version"], body["to_version"], dict(body["mapping"]), body["timers"])
        return _content(lambda: _studio().migrate(plan, actor=current_user().name, dry_run=body["dry_run"],
                                                  instance_ids=body.get("instance_ids")))
