"""The `recall` command line, run as a real process."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from tests.support import FIXTURES, ROOT


def recall(*args, database_url: str, **env):
    environ = {**os.environ, "RECALL_DATABASE_URL": database_url, **env}
    return subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=120)


def test_validate_reports_file_line_element_and_fails(database_url):
    bad = FIXTURES / "bundles" / "unquoted_timer" / "workflows"
    result = recall("validate", str(bad), database_url=database_url)
    assert result.returncode == 1
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert lines and all(re.match(r"^[^:]+\.(bpmn|dmn|json):\d+: \S+: .+", line) for line in lines), lines
    assert "unquoted" in result.stdout


def test_validate_and_deploy_a_good_bundle(database_url):
    good = FIXTURES / "engine" / "workflows"
    assert recall("validate", str(good), database_url=database_url).returncode == 0
    first = recall("deploy", str(good), database_url=database_url)
    assert first.returncode == 0, first.stderr
    assert "approval: version 1 (new)" in first.stdout
    again = recall("deploy", str(good), database_url=database_url)
    assert "approval: version 1 (unchanged)" in again.stdout
    started = recall("start", "approval", "--var", 'candidate_id="c-9"', database_url=database_url)
    assert started.returncode == 0 and '"review"' in started.stdout
    status = recall("status", database_url=database_url)
    assert re.search(r"running\s+1", status.stdout)


def test_deploy_of_a_bad_bundle_exits_non_zero_and_stores_nothing(database_url):
    bad = FIXTURES / "bundles" / "unquoted_timer" / "workflows"
    result = recall("deploy", str(bad), database_url=database_url)
    assert result.returncode == 1 and "nothing deployed" in result.stderr
    status = recall("status", database_url=database_url)
    assert "timers waiting: 0" in status.stdout
