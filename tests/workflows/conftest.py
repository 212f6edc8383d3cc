"""Fixtures for the lifecycle scenarios: an engine with workflows/ deployed."""
from __future__ import annotations

import pytest

from .lifecycle import MANAGER, WORKFLOWS, Case


@pytest.fixture
def recall(engine):
    """The engine (SQLite and PostgreSQL) with the real workflows/ deployed by a process owner, and the
    hiring managers the scenarios hand candidates to (the hand-off picker checks the user directory)."""
    from engine import users

    engine.deploy([WORKFLOWS], actor="process.owner")
    for name in (MANAGER, "zhao.min"):
        users.add_user(engine.db, name, "manager")
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
