"""Fixtures for the lifecycle scenarios: an engine with workflows/ deployed."""
from __future__ import annotations

import pytest

from .lifecycle import Case, WORKFLOWS


@pytest.fixture
def recall(engine):
    """The engine (SQLite and PostgreSQL) with the real workflows/ deployed by a process owner."""
    engine.deploy([WORKFLOWS], actor="process.owner")
    return engine


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
