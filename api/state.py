"""What the API keeps per Flask app (in `app.extensions["recall"]`), and accessors for views."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, g

from engine.archive.privacy import PrivacySettings
from engine.config import Settings
from engine.idempotency import IdempotencyStore
from engine.signin import Signin
from engine.users import TokenCache


EXTENSION_KEY = "recall"


@dataclass
class RecallState:
    engine: object              # engine.service.RecallEngine
    settings: Settings          # this app's: the environment overlaid by its config, read once by init_app
    privacy: PrivacySettings    # the archive's part of them, for the candidate endpoints
    url_prefix: str
    idempotency: IdempotencyStore
    tokens: TokenCache
    signin: Signin              # password and link sign-in, session cookies (engine/signin.py)
    spec: object = None         # apispec.APISpec, filled when the blueprints are registered


def state() -> RecallState:
    return current_app.extensions[EXTENSION_KEY]


def engine():
    return state().engine


def current_user():
    """The authenticated user (engine.users.UserView) of this request."""
    return g.recall_user
