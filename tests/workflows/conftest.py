"""Fixtures for the lifecycle scenarios: the engine with the bundle under test deployed (workflows/, or
RECALL_TEST_BUNDLE: tests/workflows/lifecycle.py)."""
from __future__ import annotations

import pytest

from tests.support import HAND_OFF_MANAGERS, PEOPLE

from .lifecycle import FORMS, WORKFLOWS, Case


@pytest.fixture
def recall(engine):
    """The engine with the bundle under test deployed by a process owner, and the hiring managers
    the scenarios hand candidates to in the user directory (the hand-off picker checks it)."""
    from engine import users

    engine.deploy([WORKFLOWS], forms_dir=FORMS, actor="process.owner")
    for name in HAND_OFF_MANAGERS:
        users.add_user(engine.db, name, PEOPLE[name][0])
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
