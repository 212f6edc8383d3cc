"""Issue 13.5: validation never crashes.

Every problem is a `file:line: element_id: message` line, including one SpiffWorkflow's own
parser raises unexpectedly; a failure of the checker itself is reported the same way and
exits 2 (a refused bundle exits 1); the other files are still checked. DMN 1.2 files (whose
XML Schema, as shipped with SpiffWorkflow 3.2, does not load) validate and deploy.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from engine import bundle as bundle_module
from engine.bundle import load_bundle

from tests.support import FIXTURES, OWNER, PEOPLE, PREFIX, ROOT, bearer, make_app

BUNDLES = FIXTURES / "bundles"
DMN12 = BUNDLES / "dmn12"
DMN_FILE = "workflows/follow_up_template.dmn"
MAIN = "workflows/recall_case.bpmn"


def _copy(tmp_path: Path, edits: dict[str, tuple[str, str]]) -> Path:
    """A copy of the DMN 1.2 bundle with `file -> (old, new)` text edits applied."""
    target = tmp_path / "bundle"
    shutil.copytree(DMN12, target)
    for name, (old, new) in edits.items():
        path = target / "workflows" / name
        text = path.read_text(encoding="utf-8")
        assert old in text, (name, old)
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return target


def _line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


# A rule without an id is valid DMN (the XSD makes ids optional); SpiffWorkflow's DMN parser
# reads `attrib['id']` and raises a bare KeyError.
RULE_WITHOUT_ID = ("follow_up_template.dmn", ('<rule id="rule_salary_30">', "<rule>"))
# An independent problem in another file: an unquoted timer literal.
UNQUOTED_TIMER = ("handoff.bpmn", ('"P2D"', "P2D"))


def _cli(args: list[str], tmp_path: Path, monkeypatch=None):
    from cli import main
    env = {"RECALL_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}"}
    return CliRunner().invoke(main, args, env=env, catch_exceptions=False)


def test_a_dmn_1_2_bundle_validates_without_diagnostics():
    text = (DMN12 / DMN_FILE).read_text(encoding="utf-8")
    assert 'xmlns="http://www.omg.org/spec/DMN/20180521/MODEL/"' in text
    loaded = load_bundle([DMN12 / "workflows"])
    assert [str(d) for d in loaded.diagnostics] == []
    assert loaded.process_ids == ["handoff", "recall_case"] and loaded.parser is not None


def test_a_dmn_1_2_schema_error_is_a_diagnostic_with_its_line(tmp_path):
    root = _copy(tmp_path, {"follow_up_template.dmn": ('hitPolicy="UNIQUE"', 'hitPolicy="SOMETIMES"')})
    loaded = load_bundle([root / "workflows"])
    line = _line_of(root / DMN_FILE, 'hitPolicy="SOMETIMES"')
    assert [(d.file, d.line, d.element_id) for d in loaded.diagnostics if d.message.startswith("schema:")] == [
        (DMN_FILE, line, "follow_up_template_table")]
    assert not any(d.internal for d in loaded.diagnostics)


def test_recall_validate_on_dmn_1_2_exits_zero_in_a_subprocess(tmp_path):
    env = {**os.environ, "RECALL_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}"}
    result = subprocess.run([sys.executable, "-m", "cli", "validate", str(DMN12 / "workflows")], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stdout.startswith("ok:")


def test_an_unexpected_parser_error_is_a_located_diagnostic_and_other_files_are_still_checked(tmp_path):
    root = _copy(tmp_path, dict([RULE_WITHOUT_ID, UNQUOTED_TIMER]))
    loaded = load_bundle([root / "workflows"])
    where = [(d.file, d.line, d.element_id) for d in loaded.diagnostics]
    assert (DMN_FILE, _line_of(root / DMN_FILE, "<rule>"), "follow_up_template_table") in where
    dmn = next(d for d in loaded.diagnostics if d.file == DMN_FILE)
    assert "KeyError" in dmn.message and "id" in dmn.message
    timer_line = _line_of(root / "workflows" / "handoff.bpmn", "<bpmn:timeDuration>P2D")
    assert ("workflows/handoff.bpmn", timer_line, "remind_manager") in where
    assert all(d.line is not None for d in loaded.diagnostics)
    result = _cli(["validate", str(root / "workflows")], tmp_path)
    assert result.exit_code == 1, result.output            # the bundle is refused: exit 1
    assert f"{DMN_FILE}:{_line_of(root / DMN_FILE, '<rule>')}: follow_up_template_table:" in result.output


def test_a_checker_failure_is_reported_per_file_and_exits_2(tmp_path, monkeypatch):
    """The original crash: lxml could not load an XML Schema. Now a diagnostic, not a traceback."""
    def broken(namespace):
        raise etree.XMLSchemaParseError("Element 'xs:element', attribute 'ref': does not resolve")

    monkeypatch.setattr(bundle_module, "_dmn_schema", broken)
    root = _copy(tmp_path, dict([UNQUOTED_TIMER]))
    loaded = load_bundle([root / "workflows"])
    internal = [d for d in loaded.diagnostics if d.internal]
    assert [(d.file, d.line) for d in internal] == [(DMN_FILE, 2)]
    assert "XMLSchemaParseError" in internal[0].message
    assert any(d.file == "workflows/handoff.bpmn" and not d.internal for d in loaded.diagnostics)
    result = _cli(["validate", str(root / "workflows")], tmp_path)
    assert result.exit_code == 2, result.output
    assert f"{DMN_FILE}:2: " in result.output and "workflows/handoff.bpmn:" in result.output
    assert "Traceback" not in result.output


def test_a_crashing_check_does_not_stop_the_others(tmp_path, monkeypatch):
    def crash(self, doc):
        raise RuntimeError("boom")

    monkeypatch.setattr(bundle_module._Loader, "check_gateways", crash)
    loaded = load_bundle([BUNDLES / "unquoted_timer" / "workflows"])
    internal = [d for d in loaded.diagnostics if d.internal]
    assert {d.file for d in internal} == {MAIN, "workflows/handoff.bpmn"}
    assert all("RuntimeError: boom" in d.message for d in internal)
    assert any("unquoted ISO 8601" in d.message for d in loaded.diagnostics)   # the timer check still ran


@pytest.fixture
def owner_api(database_url):
    from engine import users

    app = make_app(database_url)
    engine = app.extensions["recall"].engine
    token = users.add_user(engine.db, OWNER, PEOPLE[OWNER][0], ())[1]
    client = app.test_client()
    yield lambda files: client.post(f"{PREFIX}/process-definitions", json={"files": files}, headers=bearer(token))
    engine.db.dispose()


def _files(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_deploy_api_takes_dmn_1_2_and_answers_422_with_located_diagnostics(owner_api, tmp_path):
    assert owner_api(_files(DMN12)).status_code == 201
    root = _copy(tmp_path, dict([RULE_WITHOUT_ID, UNQUOTED_TIMER]))
    response = owner_api(_files(root))
    assert response.status_code == 422, response.get_json()
    diagnostics = response.get_json()["diagnostics"]
    files = {(d["file"], d["element_id"]) for d in diagnostics}
    assert (DMN_FILE, "follow_up_template_table") in files and ("workflows/handoff.bpmn", "remind_manager") in files
    assert all(isinstance(d["line"], int) and d["internal"] is False for d in diagnostics)
