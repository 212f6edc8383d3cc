"""`RecallAPI`: the HTTP API as a Flask extension, mountable under any URL prefix.

    app = Flask(__name__)                       # e.g. a company's HR portal
    RecallAPI(app, url_prefix="/recall/api/v1") # or: recall = RecallAPI(); recall.init_app(app)

It claims nothing app-wide but `app.extensions["recall"]` and, for paths under its
prefix only, the 404/405 answers (chained to the host's own handlers otherwise).
What it keeps — the settings (the environment overlaid by the app's `RECALL_*` config, read
once), the engine, the answer counting, the security headers — is installed by `init_app` on
that app alone; importing this module changes nothing (the guard and error handler are part
of each API blueprint, api/blueprint.py), and two apps in one process answer by their own
settings.
"""
from __future__ import annotations

import http
from datetime import timedelta

from flask import Flask, request
from flask_smorest import Api
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.middleware.proxy_fix import ProxyFix

from engine.archive import install as install_archive
from engine.archive.privacy import PrivacySettings
from engine.config import Settings
from engine.idempotency import IdempotencyStore
from engine.signin import Signin
from engine.users import TokenCache

from .docs import docs_bp
from .headers import secure
from .problems import PROBLEM_JSON, from_http_exception
from .resources import definitions, health, instances, messages, tasks, testing
from .resources import metrics
from .resources import workspace
from .resources import analytics, candidates
from .resources import session, users
from .resources import notifications
from .resources import events, webhooks
from .resources import channels, sends
from .resources import mail_inbound
from .resources import wecom_callback
from .resources import links
from .resources import roles
from .resources import studio
from .resources import studio_check
from .resources import studio_preview
from .resources import studio_rehearsal
from .resources import ranking
from .schemas import ProblemSchema
from .state import EXTENSION_KEY, RecallState

API_TITLE = "Offer Recall API"
API_VERSION = "1"
TAGS = [
    {"name": "health", "description": "Liveness and database check"},
    {"name": "process-definitions", "description": "Deploy and inspect BPMN processes"},
    {"name": "process-instances", "description": "Start, follow, cancel and retry cases"},
    {"name": "tasks", "description": "The task inbox of HR and hiring managers"},
    {"name": "messages", "description": "Messages from outside (candidate replied, offer response...)"},
    {"name": "testing", "description": "Simulated time (RECALL_CLOCK=simulated only)"},
    {"name": "workspace", "description": "Read-only views for the HR web workspace (/app/)"},
    {"name": "vocabulary", "description": "The deployed decline reasons, cadence stages and labels"},
    {"name": "candidates", "description": "The talent archive: candidates, declines, signals, erasure"},
    {"name": "analytics", "description": "The recall funnel, from the audit trail"},
]
TAGS.append({"name": "users", "description": "The user directory for pickers, and who is signed in"})
TAGS.append({"name": "session", "description": "Password or link sign-in for people: a session cookie with CSRF"})
TAGS.append({"name": "monitoring", "description": "Prometheus metrics (public, like /health)"})
RESOURCES = (health, definitions, instances, tasks, messages)
RESOURCES += (workspace,)
RESOURCES += (candidates, analytics)
RESOURCES += (metrics,)
RESOURCES += (users, session)
RESOURCES += (notifications,)
TAGS.append({"name": "events", "description": "The event feed for integrators: what happened, in commit order"})
TAGS.append({"name": "webhooks", "description": "Webhooks (admin): the event feed pushed to a URL, signed"})
RESOURCES += (events, webhooks)
TAGS.append({"name": "channels", "description": "Channel settings (admin): WeCom and email, secrets never returned"})
RESOURCES += (channels, sends)
RESOURCES += (mail_inbound,)
RESOURCES += (wecom_callback,)
RESOURCES += (links,)
TAGS.append({"name": "roles", "description": "Role profiles: the facts behind the messages, versioned (issue 18)"})
RESOURCES += (roles,)
from .resources import imports  # noqa: E402 - the ATS import (issue 20)
TAGS.append({"name": "imports", "description": "ATS import (hr, admin): past candidates and declines, dry run first (issue 20)"})
RESOURCES += (imports,)
TAGS.append({"name": "studio", "description": "The process owner's studio: drafts, diff, deploy with a note (issue 19)"})
RESOURCES += (studio,)
RESOURCES += (studio_check,)
RESOURCES += (studio_preview,)
RESOURCES += (studio_rehearsal,)

TAGS.append({"name": "ranking", "description": "Who to call first: the recall likelihood, its reasons, pins, the recall list"})
RESOURCES += (ranking,)

class _Spec(Api):
    """flask-smorest's Api, reduced to building the OpenAPI document.

    It registers no app-wide error handler (errors are ours, problem+json, and only under
    our prefix) and serves no docs blueprint of its own (see api.docs).
    """

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self):
        pass

    def _register_doc_blueprint(self):
        pass

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Error (application/problem+json)", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, PROBLEM_JSON)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)

    def register_blueprint(self, blp, *, parameters=None, **options):
        # As Api.register_blueprint, without a tag per blueprint: operations carry their own tags.
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        blp.register_views_in_doc(self, self._app, self.spec, name=name, parameters=parameters)


class RecallAPI:
    def __init__(self, app: Flask | None = None, *, url_prefix: str = "/api/v1", engine=None):
        self.url_prefix = "/" + url_prefix.strip("/") if url_prefix.strip("/") else ""
        self.engine = engine
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError("RecallAPI is already initialised on this app")
        settings = Settings.from_env(overrides=app.config)
        engine = self.engine
        if engine is None:
            from engine.service import RecallEngine
            engine = RecallEngine.from_settings(settings)
        install_archive(engine)       # the API serves the archive: its hooks run in the engine's units of work
        store = IdempotencyStore(engine.db, ttl=timedelta(seconds=settings.idempotency_ttl_seconds),
                                 stale_after=timedelta(seconds=settings.idempotency_stale_seconds))
        state = RecallState(engine, settings, PrivacySettings.from_settings(settings), self.url_prefix, store,
                            TokenCache(settings.token_cache_seconds),
                            Signin(engine, timedelta(minutes=settings.session_idle_minutes)))
        app.extensions[EXTENSION_KEY] = state
        if settings.trusted_proxies:      # behind TLS-terminating proxies: their X-Forwarded-* (docs/security.md)
            n = settings.trusted_proxies
            app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=0, x_port=0, x_prefix=0)

        spec = _Spec(app, config_prefix="RECALL_SPEC", spec_kwargs={
            "title": API_TITLE, "version": API_VERSION, "openapi_version": "3.0.3",
            "info": {"description": "Win back candidates who accepted an offer and then did not come. "
                                    "Errors are application/problem+json. Send `Authorization: Bearer <token>`."},
            "security": [{"bearerAuth": []}],
        })
        spec.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
        for tag in TAGS:
            if tag["name"] != "testing" or getattr(engine.clock, "simulated", False):
                spec.spec.tag(tag)
        modules = RESOURCES + ((testing,) if getattr(engine.clock, "simulated", False) else ())
        for module in modules:      # each guarded where it is made (api/blueprint.py)
            spec.register_blueprint(module.blp, url_prefix=self.url_prefix, name=f"recall_{module.blp.name}")
        app.register_blueprint(docs_bp, url_prefix=self.url_prefix)
        state.spec = spec.spec
        app.after_request(metrics.count_answer)      # this app's answers, in its engine's metrics
        _chain_routing_errors(app, self.url_prefix)
        _secure_answers(app, self.url_prefix)

    @staticmethod
    def state(app: Flask) -> RecallState:
        return app.extensions[EXTENSION_KEY]


def _secure_answers(app: Flask, prefix: str) -> None:
    """Security headers on every answer under our prefix, routing errors included (api/headers.py)."""
    @app.after_request
    def security_headers(response):
        if request.path == prefix or request.path.startswith(prefix + "/"):
            secure(response)
        return response


def _chain_routing_errors(app: Flask, prefix: str) -> None:
    """404/405 for unknown paths under our prefix are problem+json; the host's handlers keep the rest."""
    for exc_class in (NotFound, MethodNotAllowed):
        previous = app.error_handler_spec[None][exc_class.code].get(exc_class)

        def handler(exc: HTTPException, _previous=previous):
            if request.path == prefix or request.path.startswith(prefix + "/"):
                return from_http_exception(exc)
            return _previous(exc) if _previous is not None else exc

        app.register_error_handler(exc_class, handler)
