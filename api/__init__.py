"""Offer Recall's HTTP API: `create_app()` or the mountable `RecallAPI` extension."""
from __future__ import annotations

from .app import create_app
from .extension import RecallAPI

__all__ = ["create_app", "RecallAPI"]
