"""Fixtures for the studio: the archive on `recall` (real workflows/ deployed; SQLite and PostgreSQL)."""
from __future__ import annotations

import pytest


@pytest.fixture
def archive(recall):
    from engine.archive import PrivacySettings, TalentArchive
    return TalentArchive(recall, settings=PrivacySettings(retention_days=180, renewal_days=30))


@pytest.fixture
def studio(recall):
    from engine.studio.service import Studio
    return Studio(recall)
