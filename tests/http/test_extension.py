"""The API as an extension in someone else's Flask app, the OpenAPI document and offline docs."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from flask import Flask, jsonify

from tests.support import ENGINE_BUNDLE, PREFIX, bearer, make_app


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script" and attrs.get("src"):
            self.urls.append(attrs["src"])
        if tag == "link" and attrs.get("href"):
            self.urls.append(attrs["href"])


def _host_app(database_url):
    """An HR portal with its own pages, its own 404 page and the API under its own prefix."""
    from api import RecallAPI
    from engine.db import Database
    from engine.service import RecallEngine
    from engine.clock import SimulatedClock

    portal = Flask("hr_portal")
    portal.config["TESTING"] = True

    @portal.get("/")
    def home():
        return "HR portal"

    @portal.errorhandler(404)
    def portal_not_found(_exc):
        return jsonify(portal="no such page"), 404

    engine = RecallEngine(Database(database_url), clock=SimulatedClock())
    recall = RecallAPI(url_prefix="/hr/recall/api", engine=engine)
    recall.init_app(portal)
    return portal, engine


def test_mounted_under_a_custom_prefix_in_a_host_app(database_url):
    from engine import users
    portal, engine = _host_app(database_url)
    assert portal.extensions["recall"].engine is engine
    engine.deploy([ENGINE_BUNDLE])
    _, token = users.add_user(engine.db, "hr.li", "hr")
    client = portal.test_client()
    assert client.get("/").get_data(as_text=True) == "HR portal"
    assert client.get("/hr/recall/api/health").json["status"] == "ok"
    started = client.post("/hr/recall/api/process-instances", json={"process_key": "approval",
                          "variables": {"candidate_id": "c-1"}}, headers=bearer(token))
    assert started.status_code == 201
    assert started.headers["Location"].startswith("/hr/recall/api/process-instances/")
    assert client.get(f"{PREFIX}/health").json == {"portal": "no such page"}      # not ours
    assert client.get("/elsewhere").json == {"portal": "no such page"}            # host's 404 untouched
    ours = client.get("/hr/recall/api/nothing-here")
    assert ours.status_code == 404 and ours.mimetype == "application/problem+json"
    spec = client.get("/hr/recall/api/openapi.json").json
    assert "/hr/recall/api/tasks/{task_id}/complete" in spec["paths"]
    _check_docs_offline(client, "/hr/recall/api")
    engine.db.dispose()


def test_the_engine_can_be_handed_in(database_url):
    from api import create_app
    from engine.db import Database
    from engine.service import RecallEngine

    engine = RecallEngine(Database(database_url))
    app = create_app({"RECALL_DATABASE_URL": "sqlite:////nonexistent/never-used.sqlite3"}, engine=engine)
    assert app.extensions["recall"].engine is engine
    assert app.test_client().get(f"{PREFIX}/health").status_code == 200
    engine.db.dispose()


def test_a_host_apps_error_handlers_registered_later_keep_to_the_hosts_own_routes(database_url):
    """The API's guard and error handler belong to its blueprints (api/blueprint.py): a host that
    registers app-wide handlers after mounting it still gets problem+json from the API."""
    from werkzeug.exceptions import HTTPException

    from engine import users
    portal, engine = _host_app(database_url)

    @portal.errorhandler(HTTPException)
    def portal_http_error(exc):
        return jsonify(portal=exc.name), exc.code

    @portal.errorhandler(Exception)
    def portal_error(_exc):
        return jsonify(portal="oops"), 500

    @portal.get("/broken")
    def broken():
        raise RuntimeError("the portal's own bug")

    _, token = users.add_user(engine.db, "hr.li", "hr")
    client = portal.test_client()
    missing = client.get("/hr/recall/api/process-instances/nope", headers=bearer(token))
    assert missing.status_code == 404 and missing.mimetype == "application/problem+json"
    refused = client.post("/hr/recall/api/process-instances", json={"process_key": 1}, headers=bearer(token))
    assert refused.status_code == 422 and refused.mimetype == "application/problem+json"
    assert client.get("/hr/recall/api/tasks").status_code == 401              # the guard still runs
    assert client.get("/broken").get_json() == {"portal": "oops"}
    engine.db.dispose()


def test_importing_the_api_creates_nothing():
    import importlib
    import api
    importlib.reload(api)
    assert not [name for name in vars(api) if isinstance(getattr(api, name), Flask)]


@pytest.fixture
def app_client(database_url):
    app = make_app(database_url)
    yield app.test_client()
    app.extensions["recall"].engine.db.dispose()


def test_openapi_document_is_valid_and_lists_every_endpoint(app_client):
    from openapi_spec_validator import validate
    from api.permissions import PERMISSIONS

    spec = app_client.get(f"{PREFIX}/openapi.json").json
    validate(spec)
    internal = app_client.get(f"{PREFIX}/openapi.json?internal=true").json
    validate(internal)

    def documented(document):
        return {f"{method.upper()} {path[len(PREFIX):]}" for path, item in document["paths"].items()
                for method in item if method in ("get", "post", "put", "patch", "delete")}

    docs_routes = {"GET /openapi.json", "GET /docs", "GET /docs/static/{filename}"}
    workspace_only = {key for key in PERMISSIONS if key.split(" ", 1)[1].startswith(("/workspace/", "/testing/"))}
    assert workspace_only and documented(internal) == set(PERMISSIONS) - docs_routes
    assert documented(spec) == set(PERMISSIONS) - docs_routes - workspace_only
    assert not {tag["name"] for tag in spec["tags"]} & {"workspace", "testing"}
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert spec["paths"][f"{PREFIX}/health"]["get"]["security"] == []
    start = spec["paths"][f"{PREFIX}/process-instances"]["post"]
    assert "Idempotency-Key" in {p["name"] for p in start["parameters"]}
    complete = spec["paths"][f"{PREFIX}/tasks/{{task_id}}/complete"]["post"]
    assert "If-Match" in {p["name"] for p in complete["parameters"]}
    problem = spec["components"]["responses"]["DEFAULT_ERROR"]["content"]
    assert list(problem) == ["application/problem+json"]
    task = spec["components"]["schemas"]["Task"]["properties"]
    assert {"id", "element_id", "title", "instance_id", "status", "assignee", "candidate_groups",
            "created_at", "due_at"} <= set(task)


def _check_docs_offline(client, prefix):
    page = client.get(f"{prefix}/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert not re.search(r"https?://", html), "the docs page must not load anything from the internet"
    assets = _Assets()
    assets.feed(html)
    assert len(assets.urls) >= 4
    for url in assets.urls:
        assert url.startswith(f"{prefix}/docs/static/"), url
        with client.get(url) as response:
            assert response.status_code == 200, url
            assert response.content_length and response.content_length > 100, url
    assert f'data-spec-url="{prefix}/openapi.json"' in html
    with client.get(f"{prefix}/docs/static/../../app.py") as response:
        assert response.status_code == 404


def test_docs_page_works_offline(app_client):
    _check_docs_offline(app_client, PREFIX)
