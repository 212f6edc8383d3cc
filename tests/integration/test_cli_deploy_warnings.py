"""`recall deploy` prints the bundle's warnings on stderr as `recall validate` does, and deploys anyway."""
from __future__ import annotations

import re
import shutil

from tests.integration.test_cli import recall
from tests.support import FIXTURES


def test_deploy_prints_warnings_and_stores_the_version(database_url, tmp_path):
    bundle = tmp_path / "valid"
    shutil.copytree(FIXTURES / "bundles" / "valid", bundle)
    case = bundle / "workflows" / "recall_case.bpmn"
    text = case.read_text(encoding="utf-8")
    assert "reason = reason.strip().lower()" in text
    case.write_text(text.replace("reason = reason.strip().lower()", "reason = reasn.strip().lower()"), encoding="utf-8")
    args = (str(bundle / "workflows"), "--forms-dir", str(bundle / "forms"))
    validated = recall("validate", *args, database_url=database_url)
    deployed = recall("deploy", *args, database_url=database_url)
    assert deployed.returncode == 0, deployed.stderr
    warned = [line for line in deployed.stderr.splitlines() if ": warning: " in line]
    assert warned and all(re.match(r"^\S+\.(bpmn|dmn):\d+: \S+: warning: ", line) for line in warned), warned
    assert any("normalise_reason" in line and "reasn" in line for line in warned), warned
    assert warned == [line for line in validated.stderr.splitlines() if ": warning: " in line]
    assert "recall_case: version 1 (new)" in deployed.stdout
    again = recall("deploy", *args, database_url=database_url)
    assert "recall_case: version 1 (unchanged)" in again.stdout and ": warning: " in again.stderr
