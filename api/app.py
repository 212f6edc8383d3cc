"""The application factory: `create_app()` for `recall serve`, tests and any WSGI server.

Settings: defaults, then the `RECALL_*` environment, then `config` (keys named like the
variables; tests use it), then the blueprints. Nothing (no app, no database engine) is
created at import time.
"""
from __future__ import annotations

from typing import Mapping

from flask import Flask, redirect

from engine.channels.builtin import load_builtin

from .compression import compress
from .extension import RecallAPI
from .headers import secure
from .public_pages import public_bp
from .web import web_bp


def create_app(config: Mapping | None = None, *, engine=None, url_prefix: str = "/api/v1") -> Flask:
    """A Flask app serving only the Offer Recall API under `url_prefix` (`engine`: share one)."""
    app = Flask(__name__, static_folder=None)
    if config:
        app.config.from_mapping(config)
    app.json.sort_keys = False
    app.json.ensure_ascii = False         # task titles are Chinese and English
    load_builtin()                        # the channels WeCom and email (engine/channels/builtin.py)
    RecallAPI(app, url_prefix=url_prefix, engine=engine)
    app.register_blueprint(web_bp, url_prefix="/app")     # the HR web workspace (docs/web.md)
    app.register_blueprint(public_bp)     # candidates' pages from signed links, /p/<token> (api/public_pages.py)

    @app.get("/")
    def root():
        return redirect(f"{url_prefix}/docs")

    app.after_request(secure)      # anything the API and the workspace did not cover (api/headers.py)
    app.after_request(compress)    # gzip for text answers the client accepts it for (api/compression.py)

    return app
