"""The studio's template preview (issue 19): `POST /studio/preview-template` renders a message template
the owner is editing, server-side with the engine's own sandboxed renderer (engine/templates.py), against
a sample candidate (or the `context` given). No case is behind it: every role fact reads as missing, as in
any preview. Nothing is stored, nothing is sent.

Bounded: the source by engine.templates.MAX_TEMPLATE_BYTES, the rendered text by MAX_RENDERED_CHARS
(the renderer's own limits); a template that does not render is a 422 naming `source`.
"""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import ValidationError, fields, validate, validates

from engine.templates import LANGUAGES, MAX_TEMPLATE_BYTES, TemplateProblem, render

from ..blueprint import Blueprint
from ..problems import problem
from ..schemas import Strict

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

    @validates("source")
    def _bounded(self, value, **_):
        if len(value.encode("utf-8")) > MAX_TEMPLATE_BYTES:
            raise ValidationError(f"above the {MAX_TEMPLATE_BYTES} byte limit of a template")


class TemplatePreviewSchema(Strict):
    text = fields.String(required=True)
    context = fields.Dict(required=True, metadata={"description": "the case data it was rendered with"})


@blp.route("/studio/preview-template", tags=TAGS)
class TemplatePreview(MethodView):
    @blp.arguments(TemplatePreviewInSchema)
    @blp.response(200, TemplatePreviewSchema)
    def post(self, body):
        """Render a template being edited against a sample candidate (or `context`); stores nothing."""
        lang = body["lang"]
        context = body["context"] if body["context"] is not None else SAMPLE[lang]
        try:
            text = render({f"{lang}/{PREVIEW_ID}": body["source"]}, PREVIEW_ID, lang, dict(context))
        except TemplateProblem as exc:
            message = str(exc).replace(f"template {lang}/{PREVIEW_ID}: ", "")
            return problem(422, f"the template does not render: {message}",
                           errors=[{"field": "source", "message": message, "in": "body"}])
        return {"text": text, "context": context}
