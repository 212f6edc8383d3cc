"""`recall validate workflows/` is part of the suite: the shipped diagrams, forms and templates are clean."""
from __future__ import annotations

import os
import subprocess
import sys

from engine.bundle import load_bundle

from .lifecycle import ROOT, WORKFLOWS


def test_the_shipped_bundle_has_no_diagnostics():
    bundle = load_bundle([WORKFLOWS])
    assert [str(d) for d in bundle.diagnostics] == []
    assert bundle.ok
    assert bundle.process_ids == ["department_handoff", "offer_recall", "onboarding_goals", "reoffer"]
    assert len(bundle.templates) == 2 * 28


def test_recall_validate_workflows_exits_zero(tmp_path):
    env = {**os.environ, "RECALL_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}"}
    result = subprocess.run([sys.executable, "-m", "cli", "validate", "workflows"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok:") and "offer_recall" in result.stdout
