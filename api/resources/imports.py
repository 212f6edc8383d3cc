"""ATS import (issue 20; hr and admin): upload an export, see the suggested mapping, run the dry run,
confirm, follow the progress, resume (engine/archive/imports.py, docs/import.md).

The file travels base64-encoded in a JSON body (`content_base64`), so the request stays within the
server's body limit (RECALL_MAX_BODY_BYTES; above it: 413) and the file's own limit (imports.MAX_FILE_BYTES:
413 naming it). A confirmed run is written by a thread of this server, batch by batch; GET answers its
progress; a run that stopped with the server goes on with POST .../resume.
"""
from __future__ import annotations

import base64
import binascii
import logging
import threading
from dataclasses import asdict

from flask.views import MethodView
from marshmallow import fields, validate

from engine.archive.facade import TalentArchive
from engine.archive.imports import FIELDS, ImportProblem, ImportTooLarge, Importer
from engine.errors import FieldError, FormValidationError

from ..blueprint import Blueprint
from ..problems import problem
from ..schemas import ProblemSchema, Strict
from ..state import current_user, engine

log = logging.getLogger("recall.imports")
blp = Blueprint("imports", __name__, description="ATS import: past candidates and their declines")
TAGS = ["imports"]
PROBLEM = "application/problem+json"
_WRITING: set[str] = set()          # runs a thread of this process is writing
_LOCK = threading.Lock()


class AtsImportFileSchema(Strict):
    filename = fields.String(required=True, validate=validate.Length(min=1, max=255),
                             metadata={"example": "moka-2022.csv"})
    content_base64 = fields.String(required=True, metadata={"description": "the file, base64-encoded"})
    source = fields.String(required=True, validate=validate.Length(min=1, max=48), metadata={"example": "moka"})
    sheet = fields.String(allow_none=True, validate=validate.Length(max=255),
                          metadata={"description": "an XLSX sheet (default: the first)"})


class AtsImportCheckSchema(AtsImportFileSchema):
    mapping = fields.Dict(keys=fields.String(validate=validate.OneOf(FIELDS)), values=fields.String(allow_none=True),
                          allow_none=True, metadata={"description": "our field -> the file's column; absent: "
                                                                    "the source's saved mapping, else the suggestion"})
    options = fields.Dict(allow_none=True, metadata={
        "description": "reason_map {text: reason}, unmapped_reason (error|other), duplicates (report|merge), "
                       "consent_scope, consent_days, lang"})


class AtsImportPreviewSchema(Strict):
    headers = fields.List(fields.String(), required=True)
    suggested = fields.Dict(required=True, metadata={"description": "our field -> column"})
    saved = fields.Boolean(required=True, metadata={"description": "the mapping saved for this source was used"})
    options = fields.Dict(required=True)
    sheets = fields.List(fields.String(), required=True)
    sheet = fields.String(allow_none=True, required=True)
    encoding = fields.String(allow_none=True, required=True)
    rows = fields.Integer(required=True)
    sample = fields.List(fields.List(fields.String()), required=True)
    reasons = fields.List(fields.String(), required=True, metadata={"description": "the reason texts in the file"})
    fields_ = fields.List(fields.String(), required=True, data_key="fields")


class AtsImportRowSchema(Strict):
    row = fields.Integer(required=True, metadata={"description": "the line in the sheet (the header is 1)"})
    status = fields.String(required=True, metadata={"description": "error, pending, written or failed"})
    external_id = fields.String(allow_none=True, required=True)
    errors = fields.List(fields.Dict(), required=True, metadata={"description": (
        "{column, field, code, message, params}: `message` in English; `params` (optional: not in runs checked "
        "before it existed) the values the message is made of, named per code (docs/import.md, 'Codes and params')")})
    notes = fields.List(fields.Dict(), required=True, metadata={"description": "{field, code, message, params}, as errors"})
    result = fields.String(allow_none=True, required=True)
    candidate_id = fields.String(allow_none=True, required=True)
    message = fields.String(allow_none=True, required=True)


class AtsImportRunSchema(Strict):
    id = fields.String(required=True)
    source = fields.String(required=True)
    filename = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "checked, running, done or discarded"})
    total_rows = fields.Integer(required=True)
    valid_rows = fields.Integer(required=True)
    rows_done = fields.Integer(required=True)
    counts = fields.Dict(required=True)
    mapping = fields.Dict(required=True)
    options = fields.Dict(required=True)
    headers = fields.List(fields.String(), required=True)
    suggested = fields.Dict(required=True)
    rows = fields.List(fields.Nested(AtsImportRowSchema), required=True)
    writing = fields.Boolean(required=True, metadata={"description": "a thread of this server writes it now"})


class AtsImportRunListSchema(Strict):
    items = fields.List(fields.Nested(AtsImportRunSchema), required=True)


class AtsImportRunQuerySchema(Strict):
    limit = fields.Integer(load_default=1000, validate=validate.Range(0, 5000),
                           metadata={"description": "rows in error or with notes to answer"})


def _importer() -> Importer:
    return Importer(TalentArchive(engine()))


def _bytes(body: dict) -> bytes:
    try:
        return base64.b64decode(body["content_base64"], validate=True)
    except (binascii.Error, ValueError):
        raise FormValidationError([FieldError("content_base64", "not base64")]) from None


def _refused(exc: ImportProblem):
    if isinstance(exc, ImportTooLarge):
        return problem(413, exc.message, errors=[{"field": exc.field, "message": exc.message}])
    raise FormValidationError([FieldError(exc.field, exc.message)]) from None


def _out(run) -> dict:
    body = asdict(run)
    body["writing"] = run.id in _WRITING
    return body


@blp.route("/imports/preview", tags=TAGS)
class Preview(MethodView):
    @blp.arguments(AtsImportFileSchema)
    @blp.response(200, AtsImportPreviewSchema)
    @blp.alt_response(413, schema=ProblemSchema, content_type=PROBLEM, description="the file is too large")
    @blp.alt_response(422, schema=ProblemSchema, content_type=PROBLEM, description="the file cannot be read")
    def post(self, body):
        """The file's columns, the mapping suggested from their names (or saved for this source), the
        first rows and the reason texts it holds; nothing is stored."""
        try:
            found = _importer().preview(_bytes(body), body["filename"], source=body["source"],
                                        sheet=body.get("sheet"))
        except ImportProblem as exc:
            return _refused(exc)
        return {**found, "fields_": list(FIELDS)}


@blp.route("/imports", tags=TAGS)
class Runs(MethodView):
    @blp.response(200, AtsImportRunListSchema)
    def get(self):
        """The latest import runs, newest first, with their progress."""
        return {"items": [_out(r) for r in _importer().runs()]}

    @blp.arguments(AtsImportCheckSchema)
    @blp.response(201, AtsImportRunSchema)
    @blp.alt_response(413, schema=ProblemSchema, content_type=PROBLEM, description="the file is too large")
    @blp.alt_response(422, schema=ProblemSchema, content_type=PROBLEM,
                      description="the file, the mapping or a choice cannot be used (naming it)")
    def post(self, body):
        """The dry run: every row read and checked (a report per row and column), the run stored, nothing
        written to the archive; the mapping and choices are saved for the source."""
        try:
            return _out(_importer().check(_bytes(body), body["filename"], source=body["source"],
                                          actor=current_user().name, mapping=body.get("mapping"),
                                          options=body.get("options"), sheet=body.get("sheet")))
        except ImportProblem as exc:
            return _refused(exc)


@blp.route("/imports/<run_id>", tags=TAGS)
class Run(MethodView):
    @blp.arguments(AtsImportRunQuerySchema, location="query", unknown="raise")
    @blp.response(200, AtsImportRunSchema)
    @blp.alt_response(404, schema=ProblemSchema, content_type=PROBLEM, description="no such run")
    def get(self, query, run_id):
        """One run: its status, progress (rows_done of valid_rows), counts and rows in error."""
        return _out(_importer().report(run_id, limit=query["limit"]))


def _start(run_id: str, actor: str) -> dict:
    importer = _importer()
    run = importer.report(run_id, limit=0)
    if run.status not in ("checked", "running"):
        return problem(409, f"import run {run_id} is {run.status}")
    with _LOCK:
        if run_id in _WRITING:
            return _out(run)
        _WRITING.add(run_id)

    def write():
        try:
            importer.confirm(run_id, actor=actor)
        except Exception:  # noqa: BLE001 - the run stays `running`: resume goes on where it stopped
            log.exception("import run %s stopped; POST /imports/%s/resume goes on", run_id, run_id)
        finally:
            with _LOCK:
                _WRITING.discard(run_id)
    threading.Thread(target=write, name=f"import-{run_id[:8]}", daemon=True).start()
    return _out(run) | {"writing": True}


@blp.route("/imports/<run_id>/confirm", tags=TAGS)
class Confirm(MethodView):
    @blp.response(202, AtsImportRunSchema)
    @blp.alt_response(404, schema=ProblemSchema, content_type=PROBLEM, description="no such run")
    @blp.alt_response(409, schema=ProblemSchema, content_type=PROBLEM, description="the run is done or discarded")
    def post(self, run_id):
        """Write the run's valid rows, in batches, by a thread of this server: GET the run for its progress.
        A second click while it writes changes nothing."""
        return _start(run_id, current_user().name)


@blp.route("/imports/<run_id>/resume", tags=TAGS)
class Resume(MethodView):
    @blp.response(202, AtsImportRunSchema)
    @blp.alt_response(404, schema=ProblemSchema, content_type=PROBLEM, description="no such run")
    @blp.alt_response(409, schema=ProblemSchema, content_type=PROBLEM, description="the run is done or discarded")
    def post(self, run_id):
        """Go on with a run that stopped (the server went down while writing): only the rows not done are
        written; a row written twice changes nothing."""
        return _start(run_id, current_user().name)


@blp.route("/imports/<run_id>/discard", tags=TAGS)
class Discard(MethodView):
    @blp.response(200, AtsImportRunSchema)
    @blp.alt_response(404, schema=ProblemSchema, content_type=PROBLEM, description="no such run")
    @blp.alt_response(409, schema=ProblemSchema, content_type=PROBLEM, description="the run is not a dry run")
    def post(self, run_id):
        """Drop a dry run not wanted: its rows' data go; nothing was written."""
        return _out(_importer().discard(run_id, actor=current_user().name))
