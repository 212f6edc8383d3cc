"""workflows/vocabulary.json is checked against the bundle: each disagreement is one diagnostic naming
the file and the element (engine/vocabulary.py, run by load_bundle, so by recall validate and deploy)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from engine.bundle import load_bundle
from engine.vocabulary import Vocabulary, from_json, read

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def bundle_copy(tmp_path):
    shutil.copytree(ROOT / "workflows", tmp_path / "workflows")
    shutil.copytree(ROOT / "forms", tmp_path / "forms")
    return tmp_path / "workflows"


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def _problems(workflows: Path) -> list[str]:
    return [str(d) for d in load_bundle([workflows], forms_dir=workflows.parent / "forms").diagnostics]


def test_the_shipped_vocabulary_agrees_with_the_shipped_bundle():
    bundle = load_bundle([ROOT / "workflows"], forms_dir=ROOT / "forms")
    assert bundle.diagnostics == []
    assert bundle.vocabulary.stage_of_task("follow_up_day_90").timer == "wait_day_90"
    assert "workflows/vocabulary.json" in bundle.files
    assert from_json(bundle.vocabulary.to_json()) == bundle.vocabulary


def test_a_stage_whose_task_or_timer_is_not_in_the_diagrams(bundle_copy):
    _edit(bundle_copy / "vocabulary.json", lambda d: d["stages"][1].update(task="follow_up_day_99",
                                                                           timer="archive_decline"))
    problems = _problems(bundle_copy)
    assert any(p.startswith("workflows/vocabulary.json:") and ": day_90: stage 'day_90': task 'follow_up_day_99' "
               "is not an element" in p for p in problems), problems
    assert any("timer 'archive_decline' is not a timer event" in p for p in problems), problems


def test_a_reason_the_forms_and_the_decision_do_not_know(bundle_copy):
    _edit(bundle_copy / "vocabulary.json",
          lambda d: d["decline_reasons"].append({"key": "relocation", "zh": "搬迁", "en": "Relocation"}))
    problems = _problems(bundle_copy)
    assert "forms/archive_decline.schema.json: decline_reason: the enum lacks 'relocation' declared in " \
           "vocabulary.json" in problems
    assert any(p.startswith("forms/offer_recall.start.schema.json: decline_reason:") for p in problems)
    assert any(p.startswith("workflows/follow_up_template.dmn:11: input_decline_reason: input values of "
                            "decline_reason lack 'relocation'") for p in problems), problems


def test_a_form_label_that_disagrees_and_a_template_that_is_missing(bundle_copy):
    _edit(bundle_copy.parent / "forms" / "archive_decline.uischema.json",
          lambda d: d["decline_reason"]["ui:enumNames"].__setitem__(0, "工资 / Pay"))
    (bundle_copy / "templates" / "en" / "day_90_team.j2").unlink()
    problems = _problems(bundle_copy)
    assert any(p.startswith("forms/archive_decline.uischema.json: decline_reason: ui:enumNames must be the "
                            "labels") for p in problems), problems
    assert any(p.startswith("workflows/follow_up_template.dmn:") and "rule_day_90_team: rule picks template "
               "'day_90_team', which has no en template" in p for p in problems), problems


def test_a_stage_no_rule_covers(bundle_copy):
    dmn = bundle_copy / "follow_up_template.dmn"
    text = dmn.read_text(encoding="utf-8").replace('"day_30","day_90","day_180","snooze"',
                                                   '"day_30","day_90","day_180","snooze","day_400"')
    start = text.index('<rule id="rule_default">')
    dmn.write_text(text[:start] + text[text.index("</rule>", start) + len("</rule>"):], encoding="utf-8")
    _edit(bundle_copy / "vocabulary.json", lambda d: d["stages"][2].update(key="day_400"))
    problems = _problems(bundle_copy)
    assert any("follow_up_template: no rule picks a template for stage 'day_400' and reasons 'salary'" in p
               for p in problems), problems


@pytest.mark.parametrize("text, message", [
    ("{", "not valid JSON"),
    ('{"process": "offer_recall", "template_decision": "t", "decline_reasons": [], "stages": []}',
     "declare at least one decline reason"),
    ('{"process": "p", "template_decision": "t", "decline_reasons": [{"key": "Bad Key", "zh": "a", "en": "b"}], '
     '"stages": []}', "must be lower case"),
    ('{"process": "p", "template_decision": "t", "decline_reasons": [{"key": "a", "zh": "", "en": "b"}], '
     '"stages": [], "roles": {"reofer_sent": ["x"]}}', "unknown role 'reofer_sent'"),
])
def test_a_malformed_vocabulary_is_refused_with_its_reason(text, message):
    vocabulary, problems = read(text)
    assert any(message in p[2] for p in problems), problems


def test_versions_merge_with_the_newest_labels_and_every_stage():
    old = from_json(json.dumps({"process": "p", "template_decision": "t",
                                "decline_reasons": [{"key": "a", "zh": "甲", "en": "A"}],
                                "stages": [{"key": "s1", "zh": "一", "en": "One", "task": "t1", "timer": "w1"}],
                                "roles": {"reoffer_sent": ["x"]}}))
    new = from_json(json.dumps({"process": "p", "template_decision": "t",
                                "decline_reasons": [{"key": "a", "zh": "甲二", "en": "A2"}],
                                "stages": [{"key": "s2", "zh": "二", "en": "Two", "task": "t2", "timer": "w2"}],
                                "roles": {"reoffer_sent": ["y"]}}))
    both = Vocabulary.merged([old, new])
    assert both.reason("a").en == "A2" and both.follow_up_tasks == ("t1", "t2")
    assert both.role("reoffer_sent") == ("x", "y") and both.sent_stage("y") == "reoffer"
