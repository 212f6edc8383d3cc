"""Offer Recall's HTTP API: `create_app()` or the mountable `RecallAPI` extension."""
from __future__ import annotations

__all__ = ["create_app", "RecallAPI"]


def __getattr__(name: str):
    # Imported on first use, so `recall validate` and friends (the `cli` package) start without Flask.
    if name == "create_app":
        from .app import create_app
        return create_app
    if name == "RecallAPI":
        from .extension import RecallAPI
        return RecallAPI
    raise AttributeError(f"module 'api' has no attribute {name!r}")
