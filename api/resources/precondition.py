"""A stale `If-Match` is 412, not the 409 a lost race gets."""
from __future__ import annotations

from contextlib import contextmanager

from werkzeug.exceptions import PreconditionFailed

from engine.errors import StaleVersion


@contextmanager
def stale_is_412(expected_version: int | None):
    try:
        yield
    except StaleVersion as exc:
        if expected_version is None:
            raise
        raise PreconditionFailed(f"{exc} (If-Match was \"v{expected_version}\")") from exc
