"""Process definitions: list, deploy a bundle (422 with file:line:element diagnostics), inspect."""
from __future__ import annotations

import tempfile
from pathlib import Path

from flask import request
from flask.views import MethodView
from marshmallow import ValidationError

from engine.views import DefinitionView

from ..blueprint import Blueprint
from ..bundles import write_bundle
from ..pagination import page
from ..schemas import (
    DefinitionDetailSchema, DefinitionPageSchema, DeployJsonSchema, DeployMultipartSchema, DeployResultSchema,
    PageQuerySchema, ProblemSchema,
)
from ..state import current_user, engine

blp = Blueprint("definitions", __name__, description="Deployed BPMN processes and their versions")
PROBLEM = "application/problem+json"


@blp.route("/process-definitions", tags=["process-definitions"])
class Definitions(MethodView):
    @blp.arguments(PageQuerySchema, location="query", unknown="raise")
    @blp.response(200, DefinitionPageSchema)
    def get(self, query):
        """Deployed processes, latest version each, ordered by key."""
        rows = engine().list_definitions(latest_only=True, limit=query["limit"] + 1, offset=query["offset"])
        return page([_summary(d) for d in rows], limit=query["limit"], offset=query["offset"])

    @blp.doc(requestBody={"required": True, "content": {
        "application/json": {"schema": DeployJsonSchema},
        "multipart/form-data": {"schema": DeployMultipartSchema}}})
    @blp.response(201, DeployResultSchema, description="at least one new version was stored")
    @blp.alt_response(200, schema=DeployResultSchema, description="nothing changed: no new version",
                      success=True)
    @blp.alt_response(422, schema=ProblemSchema, content_type=PROBLEM,
                      description="invalid bundle: `diagnostics` name file, line and element")
    def post(self):
        """Validate and deploy a bundle (BPMN/DMN, forms, templates) as JSON {files: {path: text}} or multipart."""
        files = _uploaded_files()
        with tempfile.TemporaryDirectory(prefix="recall-deploy-") as tmp:
            workflows, forms = write_bundle(Path(tmp), files)
            results = engine().deploy([workflows], forms_dir=forms, actor=current_user().name)
        created = any(r.created for r in results)
        return {"versions": results}, (201 if created else 200)


@blp.route("/process-definitions/<process_key>", tags=["process-definitions"])
class Definition(MethodView):
    @blp.response(200, DefinitionDetailSchema)
    def get(self, process_key):
        """One process: its versions and the files of the latest one."""
        detail = engine().get_definition_detail(process_key)
        return {**_summary(detail.versions[0]), "versions": detail.versions, "files": detail.files,
                "forms": detail.forms}


def _summary(latest: DefinitionView) -> dict:
    return {"process_key": latest.process_key, "latest_version": latest.version,
            "deployed_at": latest.deployed_at, "deployed_by": latest.deployed_by}


def _uploaded_files() -> dict[str, bytes]:
    if request.mimetype == "multipart/form-data":
        files: dict[str, bytes] = {}
        for field, storage in request.files.items(multi=True):
            name = storage.filename or field
            if name in files:
                raise ValidationError({"files": {name: ["uploaded twice"]}})
            files[name] = storage.read()
        return files
    body = DeployJsonSchema().load(request.get_json())
    return {name: text.encode("utf-8") for name, text in body["files"].items()}
