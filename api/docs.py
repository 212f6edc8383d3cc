"""The OpenAPI document and the interactive docs, served with no internet access.

Swagger UI's files come from the `swagger-ui-bundle` package; the page loads nothing
from a CDN. These routes are public (see the permission table).
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, render_template, send_from_directory
from swagger_ui_bundle import swagger_ui_path
from werkzeug.exceptions import NotFound

from .state import EXTENSION_KEY

STATIC = Path(__file__).parent / "static"
docs_bp = Blueprint("recall_docs", __name__, template_folder="templates")


@docs_bp.get("/openapi.json")
def openapi_json():
    spec = current_app.extensions[EXTENSION_KEY].spec
    return current_app.response_class(current_app.json.dumps(spec.to_dict()), mimetype="application/json")


@docs_bp.get("/docs")
def docs_page():
    return render_template("recall_swagger_ui.html")


@docs_bp.get("/docs/static/<path:filename>")
def docs_static(filename: str):
    """Our own page script first, then Swagger UI's files."""
    for folder in (STATIC, Path(str(swagger_ui_path))):
        if (folder / filename).is_file():
            return send_from_directory(folder, filename, max_age=3600)
    raise NotFound(f"no docs asset {filename}")
