"""One configuration: every RECALL_* setting is a field of engine.config.Settings, documented once
in docs/operations.md, read in one place and refused with an error that names it."""
from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from engine.config import Settings, variable

ROOT = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| `(RECALL_[A-Z0-9_]+)` \| ([^|]+) \|")


def _documented() -> dict[str, str]:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return {m.group(1): m.group(2).strip().strip("`") for m in map(ROW.match, section.splitlines()) if m}


def test_the_settings_table_names_every_setting_with_its_true_default():
    defaults = Settings().as_env()
    expected = {variable(f.name): defaults.get(variable(f.name), "unset") for f in fields(Settings)}
    assert _documented() == expected


def test_no_module_reads_a_setting_from_the_environment_itself():
    """Only engine/config.py reads RECALL_* settings (engine/faults.py: the test-only RECALL_FAULT_*)."""
    readers = []
    for package in ("engine", "api", "cli"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.relative_to(ROOT).as_posix() in ("engine/config.py", "engine/faults.py"):
                continue
            source = path.read_text(encoding="utf-8")
            if re.search(r"os\.environ\.get\(\s*['\"]RECALL_|os\.getenv\(\s*['\"]RECALL_|environ\[\s*['\"]RECALL_",
                         source):
                readers.append(path.relative_to(ROOT).as_posix())
    assert readers == []


@pytest.mark.parametrize(("env", "message"), [
    ({"RECALL_TIMER_MAX_ATTEMPTS": "abc"}, "RECALL_TIMER_MAX_ATTEMPTS='abc': expected an integer >= 1"),
    ({"RECALL_TIMER_MAX_ATTEMPTS": "0"}, "RECALL_TIMER_MAX_ATTEMPTS='0': expected an integer >= 1"),
    ({"RECALL_PRIVACY_JOB_SECONDS": "soon"}, "RECALL_PRIVACY_JOB_SECONDS='soon': expected a number >= 0"),
    ({"RECALL_EMBEDDED_WORKER": "maybe"}, "RECALL_EMBEDDED_WORKER='maybe': expected 1 or 0"),
    ({"RECALL_CLOCK": "fast"}, "RECALL_CLOCK='fast': expected one of 'system', 'simulated'"),
    ({"RECALL_TIMEZONE": "Mars/Olympus"}, "RECALL_TIMEZONE='Mars/Olympus': expected an IANA time zone"),
    ({"RECALL_LOG_LEVEL": "loud"}, "RECALL_LOG_LEVEL='loud': expected one of 'DEBUG'"),
    ({"RECALL_WORKER_METRICS_PORT": "70000"}, "RECALL_WORKER_METRICS_PORT='70000': expected an integer >= 0 and <= 65535"),
])
def test_a_bad_value_is_refused_naming_the_variable_the_value_and_what_was_expected(env, message):
    with pytest.raises(ValueError) as caught:
        Settings.from_env(env)
    assert str(caught.value).startswith(message)


def test_a_flask_config_overrides_the_environment_with_strings_or_typed_values():
    settings = Settings.from_env({"RECALL_MAX_BODY_BYTES": "4096", "RECALL_PORT": "8001"},
                                 overrides={"RECALL_MAX_BODY_BYTES": 2048, "RECALL_EMBEDDED_WORKER": False,
                                            "RECALL_SPEC_TITLE": {"not": "ours"}, "SECRET_KEY": "x"})
    assert (settings.max_body_bytes, settings.port, settings.embedded_worker) == (2048, 8001, False)
    assert settings.log_level == "INFO" and Settings.from_env({"RECALL_LOG_LEVEL": "warning"}).log_level == "WARNING"


def test_settings_made_in_code_are_checked_too():
    with pytest.raises(ValueError, match=r"RECALL_SERVE_THREADS=0: expected an integer >= 1"):
        Settings(serve_threads=0)
    assert Settings().replacing(serve_threads=None, port=9000).port == 9000


def test_a_child_process_reads_back_the_same_settings():
    settings = Settings.from_env({"RECALL_CLOCK": "simulated", "RECALL_EMBEDDED_WORKER": "0",
                                  "RECALL_SIMULATED_CLOCK_FILE": "/tmp/now"})
    assert Settings.from_env(settings.as_env()) == settings
