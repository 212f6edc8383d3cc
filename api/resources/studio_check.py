"""The studio's live check (issue 19): `POST /studio/check` validates a bundle the modeler holds in
memory exactly as `recall validate` validates a folder (engine/bundle.py `check_files`) and answers
every diagnostic, errors and warnings, with its place and stable code. Nothing is stored.

Bounded: the whole body by RECALL_MAX_BODY_BYTES (the API's guard, 413), at most MAX_FILES files
and forms, each a text of at most engine.bundle.MAX_FILE_BYTES (422 naming the file).
"""
from __future__ import annotations

from flask.views import MethodView
from marshmallow import ValidationError, fields, validate, validates_schema

from engine.bundle import MAX_FILE_BYTES, check_files

from ..blueprint import Blueprint
from ..schemas import Strict
from ..state import engine

blp = Blueprint("studio_check", __name__, description="The studio's live check")
TAGS = ["studio"]
MAX_FILES = 500
MAX_PATH = 255


class StudioCheckInSchema(Strict):
    files = fields.Dict(keys=fields.String(validate=validate.Length(1, MAX_PATH)), values=fields.String(),
                        required=True, metadata={
                            "description": "path -> text, as in workflows/: \"offer_recall.bpmn\", "
                                           "\"templates/zh/day_30_greeting.j2\", \"messages.json\"",
                            "example": {"offer_recall.bpmn": "<?xml version=\"1.0\"?>..."}})
    forms = fields.Dict(keys=fields.String(validate=validate.Length(1, MAX_PATH)), values=fields.String(),
                        load_default=dict, metadata={"description": "form file name -> JSON text, as in forms/"})

    @validates_schema
    def _bounded(self, data, **_):
        errors = {}
        for part in ("files", "forms"):
            given = data.get(part) or {}
            if len(given) > MAX_FILES:
                errors[part] = [f"at most {MAX_FILES} files"]
                continue
            big = [name for name, text in given.items() if len(text.encode("utf-8")) > MAX_FILE_BYTES]
            if big:
                errors[part] = [f"{name}: above the {MAX_FILE_BYTES} byte limit" for name in sorted(big)[:10]]
        if errors:
            raise ValidationError(errors)


class StudioDiagnosticSchema(Strict):
    file = fields.String(required=True, metadata={"description": "the path as sent"})
    line = fields.Integer(allow_none=True, required=True)
    element_id = fields.String(allow_none=True, required=True, metadata={"description": "BPMN/DMN id to pin it to"})
    severity = fields.String(required=True, validate=validate.OneOf(("error", "warning")),
                             metadata={"description": "error: a deploy is refused; warning: shown, not blocking"})
    code = fields.String(required=True, metadata={"description": "stable slug of the kind of problem",
                                                  "example": "gateway-no-default"})
    message = fields.String(required=True)


class StudioCheckSchema(Strict):
    ok = fields.Boolean(required=True, metadata={"description": "true: no errors (warnings may remain)"})
    diagnostics = fields.List(fields.Nested(StudioDiagnosticSchema), required=True)
    processes = fields.List(fields.String(), required=True, metadata={"description": "the executable processes"})


@blp.route("/studio/check", tags=TAGS)
class StudioCheck(MethodView):
    @blp.arguments(StudioCheckInSchema)
    @blp.response(200, StudioCheckSchema)
    def post(self, body):
        """Check a bundle held in memory as `recall validate` would: every error and warning, pinned to
        file, line and element, with a stable code. Stores nothing."""
        bundle = check_files(body["files"], forms=body.get("forms") or {},
                             http_allow=engine().settings.http_connector_allow)
        return {"ok": bundle.ok, "processes": bundle.process_ids,
                "diagnostics": [d.as_dict() for d in bundle.all_diagnostics]}
