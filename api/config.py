"""API settings: the engine's `RECALL_*` variables plus a few of the HTTP layer's own.

Values come from the Flask config first (keys named like the variables), then the
environment, then the defaults below — the same names everywhere (README table).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping

from engine.config import Settings

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _flag(name: str, value: str) -> bool:
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{name}={value!r} is not a boolean (use 1 or 0)")


@dataclass(frozen=True)
class ApiSettings:
    max_body_bytes: int = 1024 * 1024
    embedded_worker: bool = True
    idempotency_ttl_seconds: int = 24 * 3600
    idempotency_stale_seconds: int = 300
    host: str = "127.0.0.1"
    port: int = 8000
    threads: int = 8
    processes: int = 1
    token_cache_seconds: float = 10.0

    @classmethod
    def from_mapping(cls, values: Mapping[str, object]) -> "ApiSettings":
        converters = {
            "RECALL_MAX_BODY_BYTES": ("max_body_bytes", int),
            "RECALL_EMBEDDED_WORKER": ("embedded_worker", None),
            "RECALL_IDEMPOTENCY_TTL_SECONDS": ("idempotency_ttl_seconds", int),
            "RECALL_IDEMPOTENCY_STALE_SECONDS": ("idempotency_stale_seconds", int),
            "RECALL_HOST": ("host", str),
            "RECALL_PORT": ("port", int),
            "RECALL_SERVE_THREADS": ("threads", int),
            "RECALL_SERVE_PROCESSES": ("processes", int),
            "RECALL_TOKEN_CACHE_SECONDS": ("token_cache_seconds", float),
        }
        kwargs: dict = {}
        for var, (name, conv) in converters.items():
            raw = values.get(var)
            if raw is None or raw == "":
                continue
            if conv is None:
                kwargs[name] = raw if isinstance(raw, bool) else _flag(var, raw)
                continue
            try:
                kwargs[name] = conv(raw)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{var}={raw!r} is not a valid {conv.__name__}") from exc
        settings = cls(**kwargs)
        if settings.max_body_bytes < 1024:
            raise ValueError("RECALL_MAX_BODY_BYTES must be at least 1024")
        if settings.processes < 1:
            raise ValueError("RECALL_SERVE_PROCESSES must be at least 1")
        if settings.token_cache_seconds < 0:
            raise ValueError("RECALL_TOKEN_CACHE_SECONDS must be 0 (off) or more")
        return settings


def recall_values(config: Mapping[str, object]) -> dict[str, str]:
    """The environment overlaid with the RECALL_* keys of a Flask config."""
    values = {k: v for k, v in os.environ.items() if k.startswith("RECALL_")}
    values.update({k: v for k, v in config.items() if k.startswith("RECALL_") and v is not None})
    return values


def engine_settings(values: Mapping[str, object]) -> Settings:
    return Settings.from_env({k: str(v) for k, v in values.items() if not isinstance(v, (dict, list))})
