"""The OpenAPI document and the interactive docs, served with no internet access.

Swagger UI's files come from the `swagger-ui-bundle` package; the page loads nothing
from a CDN. These routes are public (see the permission table), so the asset route serves
a fixed allow-list of names and answers every other name (a traversal such as
`..%2f..%2fapp.py` included) with one and the same 404, whether or not a file of that name
exists anywhere: the route tells nothing about the file system.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, current_app, render_template, request, send_from_directory
from swagger_ui_bundle import swagger_ui_path
from werkzeug.exceptions import NotFound

from .blueprint import guarded
from .contract import cached_document
from .headers import DOCS_CSP, secure
from .state import EXTENSION_KEY

STATIC = Path(__file__).parent / "static"
# name -> folder: the only files the docs page loads
ASSETS: dict[str, Path] = {
    "recall-docs.js": STATIC,
    **{name: Path(str(swagger_ui_path)) for name in (
        "swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png",
        "favicon-16x16.png")},
}
docs_bp = guarded(Blueprint("recall_docs", __name__, template_folder="templates"))


@docs_bp.get("/openapi.json")
def openapi_json():
    """The public document; `?internal=true`: with the web workspace's views and the simulated
    clock too (api/contract.py)."""
    st = current_app.extensions[EXTENSION_KEY]
    internal = request.args.get("internal", "").lower() in ("1", "true", "yes")
    document = cached_document(st.spec, st.url_prefix, internal=internal)
    return current_app.response_class(current_app.json.dumps(document), mimetype="application/json")


@docs_bp.get("/docs")
def docs_page():
    response = current_app.make_response(render_template("recall_swagger_ui.html"))
    response.headers["Cache-Control"] = "no-store"
    return secure(response, DOCS_CSP)


@docs_bp.get("/docs/static/<path:filename>")
def docs_static(filename: str):
    """One of the allow-listed assets; the same 404 for any other name."""
    folder = ASSETS.get(filename)
    if folder is None:
        raise NotFound("no such docs asset")
    return secure(send_from_directory(folder, filename, max_age=3600), DOCS_CSP)
