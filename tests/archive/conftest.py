"""Fixtures for the talent archive: a TalentArchive on `recall` (the engine with the real workflows/
deployed, SQLite and PostgreSQL); `recall` and `api` come from tests/conftest.py."""
from __future__ import annotations

import pytest


@pytest.fixture
def archive(recall):
    from engine.archive import PrivacySettings, TalentArchive
    return TalentArchive(recall, settings=PrivacySettings(retention_days=180, renewal_days=30))
