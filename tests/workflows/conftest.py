"""Fixtures for the lifecycle scenarios on `recall` (tests/conftest.py: the engine with workflows/ deployed)."""
from __future__ import annotations

import pytest

from .lifecycle import Case


@pytest.fixture
def new_case(recall):
    """Factory: new_case(reason="team", candidate_id=...) starts a recall case."""
    count = 0

    def start(**kwargs):
        nonlocal count
        count += 1
        kwargs.setdefault("candidate_id", f"cand-{count:03d}")
        return Case(recall, **kwargs)

    return start
