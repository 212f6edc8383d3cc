"""`recall validate workflows/` is part of the suite: the shipped diagrams, forms and templates are clean."""
from __future__ import annotations

import os
import subprocess
import sys

from engine.bundle import load_bundle

from engine.templates import LANGUAGES

from .lifecycle import FORMS, ROOT, WORKFLOWS, cadence


def test_the_shipped_bundle_has_no_diagnostics():
    bundle = load_bundle([WORKFLOWS], forms_dir=FORMS)
    assert [str(d) for d in bundle.diagnostics] == []
    assert bundle.ok
    assert bundle.process_ids == ["department_handoff", "offer_recall", "onboarding_goals", "reoffer"]
    picked = {cadence().template(r, s) for r in bundle.vocabulary.reason_keys for s in bundle.vocabulary.stage_keys}
    assert len(bundle.templates) == len(LANGUAGES) * len(picked)     # one per template picked, per language


def test_recall_validate_workflows_exits_zero(tmp_path):
    env = {**os.environ, "RECALL_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}"}
    result = subprocess.run([sys.executable, "-m", "cli", "validate", str(WORKFLOWS)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok:") and "offer_recall" in result.stdout
