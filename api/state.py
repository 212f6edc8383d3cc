"""What the API keeps per Flask app (in `app.extensions["recall"]`), and accessors for views."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g

from engine.idempotency import IdempotencyStore
from engine.users import TokenCache

from .config import ApiSettings

EXTENSION_KEY = "recall"


@dataclass
class RecallState:
    engine: object              # engine.service.RecallEngine
    settings: ApiSettings
    url_prefix: str
    idempotency: IdempotencyStore
    tokens: TokenCache
    spec: object = None         # apispec.APISpec, filled when the blueprints are registered


def state() -> RecallState:
    return current_app.extensions[EXTENSION_KEY]


def engine():
    return state().engine


def current_user():
    """The authenticated user (engine.users.UserView) of this request."""
    return g.recall_user
