"""The studio's template preview (issue 19): `POST /studio/preview-template` renders a message template
the owner is editing, server-side with the engine's own sandboxed renderer (engine/templates.py), against
a sample candidate (or the `context` given) and a role profile: the archive's profile in force today of the
`role` given (a role's name as HR types it, resolved through its aliases like a case's role, or its key), else
the built-in sample profile (engine/studio/sample_role.py), so `{{ role.… }}` is filled. The answer says which
profile it used and the facts the template read and missed (engine/role_facts.py's own record, as for a task's
suggestion). Nothing is stored, nothing is sent.

Bounded: the source by engine.templates.MAX_TEMPLATE_BYTES, the rendered text by MAX_RENDERED_CHARS
(the renderer's own limits); a template that does not render is a 422 naming `source`; a role the archive
does not know is a 422 naming `role`.
"""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import ValidationError, fields, validate, validates

from engine.archive import roles as role_rules
from engine.role_facts import RoleFacts, RoleSource
from engine.studio.sample_role import SAMPLE_PROFILE
from engine.templates import LANGUAGES, MAX_TEMPLATE_BYTES, TemplateProblem, render

from ..blueprint import Blueprint
from ..problems import problem
from ..schemas import Strict
from ..state import engine, state

blp = Blueprint("studio_preview", __name__, description="The studio's template preview")
TAGS = ["studio"]
PREVIEW_ID = "preview"
SAMPLE = {   # a sample candidate's case data, as a follow-up task holds it
    "zh": {"candidate_name": "张伟", "decline_reason": "salary", "decline_detail": "薪资低于预期",
           "needs": ["薪资", "通勤"], "open_questions": ["能否远程办公?"], "stage": "day_90", "lang": "zh"},
    "en": {"candidate_name": "Wei Zhang", "decline_reason": "salary", "decline_detail": "pay below expectation",
           "needs": ["pay", "commute"], "open_questions": ["Can I work remotely?"], "stage": "day_90", "lang": "en"},
}


class TemplatePreviewInSchema(Strict):
    source = fields.String(required=True, metadata={"description": "the template's text (Jinja, as in "
                                                                   "workflows/templates/<lang>/<id>.j2)"})
    lang = fields.String(load_default="zh", validate=validate.OneOf(LANGUAGES))
    context = fields.Dict(keys=fields.String(validate=validate.Length(1, 100)), load_default=None,
                          allow_none=True, validate=validate.Length(max=100), metadata={
                              "description": "case data to render with (default: a sample candidate)"})
    role = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=255), metadata={
        "description": "the role whose profile fills `role.…`: its name as HR types it (aliases apply) or its "
                       "key; default (or a role without a profile in force): the sample profile"})

    @validates("source")
    def _bounded(self, value, **_):
        if len(value.encode("utf-8")) > MAX_TEMPLATE_BYTES:
            raise ValidationError(f"above the {MAX_TEMPLATE_BYTES} byte limit of a template")


class PreviewProfileSchema(Strict):
    source = fields.String(required=True, metadata={"description": "archive or sample"})
    role_key = fields.String(allow_none=True, required=True, metadata={
        "description": "the archive role named (null: none named); with source sample it has no profile in force"})
    version = fields.Integer(allow_none=True, required=True, metadata={"description": "the archive version used"})
    label = fields.String(required=True, metadata={"example": "backend_engineer@v3"})


class TemplatePreviewSchema(Strict):
    text = fields.String(required=True)
    context = fields.Dict(required=True, metadata={"description": "the case data it was rendered with"})
    profile = fields.Nested(PreviewProfileSchema, required=True, metadata={"description": "the role profile used"})
    facts_used = fields.List(fields.Dict(), required=True, metadata={
        "description": "the role facts the template read (fact, label {zh, en}, as_of, stale, profile)"})
    facts_missing = fields.List(fields.Dict(), required=True, metadata={
        "description": "the role facts the template read that the profile lacks (fact, label, role_key, add_url)"})


def role_profile(text: str | None):
    """(role key, profile) for the preview: the archive's profile in force today of the role `text` names,
    the sample when none is named or the role has none in force; None when the archive knows no such role."""
    text = (text or "").strip()
    if not text:
        return None, SAMPLE_PROFILE
    recall = engine()
    with recall.db.read_transaction() as s:
        key = role_rules.resolve_role_key(s, text)
        if key is None:
            return None
        profile = role_rules.profile_for(s, key, at=recall.clock.now().date())
    return key, profile or SAMPLE_PROFILE


@blp.route("/studio/preview-template", tags=TAGS)
class TemplatePreview(MethodView):
    @blp.arguments(TemplatePreviewInSchema)
    @blp.response(200, TemplatePreviewSchema)
    def post(self, body):
        """Render a template being edited against a sample candidate (or `context`) and a role profile (the
        archive's of `role`, else the sample); stores nothing."""
        lang = body["lang"]
        context = body["context"] if body["context"] is not None else SAMPLE[lang]
        found = role_profile(body["role"])
        if found is None:
            message = "no role profile has this name, alias or key (see the role profiles page)"
            return problem(422, f"role {body['role'][:100]!r}: {message}",
                           errors=[{"field": "role", "message": message, "in": "body"}])
        key, profile = found
        role = RoleFacts(RoleSource(key, profile, state().settings.role_fact_max_age_days),
                         lang=lang, today=engine().clock.now().date())
        try:
            text = render({f"{lang}/{PREVIEW_ID}": body["source"]}, PREVIEW_ID, lang, {**context, "role": role})
        except TemplateProblem as exc:
            message = str(exc).replace(f"template {lang}/{PREVIEW_ID}: ", "")
            return problem(422, f"the template does not render: {message}",
                           errors=[{"field": "source", "message": message, "in": "body"}])
        sample = profile is SAMPLE_PROFILE
        return {"text": text, "context": context,
                "profile": {"source": "sample" if sample else "archive", "role_key": key,
                            "version": None if sample else profile.version, "label": profile.label},
                "facts_used": list(role.log.used.values()), "facts_missing": list(role.log.missing.values())}
