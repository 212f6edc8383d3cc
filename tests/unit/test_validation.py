"""Bundle validation (engine/bundle.py): every problem named by file, line and element id.

Fixtures: tests/fixtures/bundles/valid is a small working bundle; every other directory
there is a copy of it with one kind of breakage.
"""
import shutil
from pathlib import Path

import pytest

from engine.bundle import MAX_FILE_BYTES, Diagnostic, load_bundle

BUNDLES = Path(__file__).resolve().parents[1] / "fixtures" / "bundles"
MAIN = "workflows/recall_case.bpmn"
HANDOFF = "workflows/handoff.bpmn"


def load(case):
    return load_bundle([BUNDLES / case / "workflows"])


def only(case) -> Diagnostic:
    bundle = load(case)
    assert not bundle.ok
    assert len(bundle.diagnostics) == 1, [str(d) for d in bundle.diagnostics]
    return bundle.diagnostics[0]


def at(diagnostic):
    return diagnostic.file, diagnostic.line, diagnostic.element_id


def test_valid_bundle_has_no_diagnostics_and_lists_its_processes():
    bundle = load("valid")
    assert bundle.ok, [str(d) for d in bundle.diagnostics]
    assert bundle.diagnostics == []
    assert bundle.process_ids == ["handoff", "recall_case"]
    assert sorted(bundle.files) == ["workflows/follow_up_template.dmn", HANDOFF, MAIN]
    assert sorted(bundle.forms) == ["archive_decline.schema.json", "archive_decline.uischema.json",
                                    "contact_candidate.schema.json"]
    assert bundle.forms["archive_decline.schema.json"]["type"] == "object"
    assert set(bundle.parser.get_subprocess_specs("recall_case")) == {"handoff"}
    assert bundle.parser.get_spec("recall_case").task_specs["archive_decline"].extensions["properties"] == {
        "formJsonSchemaFilename": "archive_decline.schema.json",
        "formUiSchemaFilename": "archive_decline.uischema.json",
    }


def test_explicit_files_and_forms_dir_give_the_same_result():
    case = BUNDLES / "valid"
    files = sorted((case / "workflows").iterdir())
    bundle = load_bundle(files, forms_dir=case / "forms")
    assert bundle.ok, [str(d) for d in bundle.diagnostics]
    assert bundle.process_ids == ["handoff", "recall_case"]


def test_diagnostic_format():
    d = Diagnostic("workflows/x.bpmn", 12, "wait_day_30", "timer expression is bad")
    assert str(d) == "workflows/x.bpmn:12: wait_day_30: timer expression is bad"
    assert str(Diagnostic("workflows/x.bpmn", None, None, "too big")) == "workflows/x.bpmn: -: too big"


def test_malformed_xml():
    d = only("malformed_xml")
    assert at(d) == (MAIN, 32, None)
    assert d.message.startswith("malformed XML: Opening and ending tag mismatch")


def test_malformed_file_does_not_stop_the_others_being_checked():
    bundle = load("malformed_xml")
    assert bundle.parser is None
    assert bundle.process_ids == ["handoff"]


def test_unsupported_elements():
    bundle = load("unsupported_element")
    assert [at(d) for d in bundle.diagnostics] == [(HANDOFF, 28, "end_reminded"), (MAIN, 34, "consent_gateway")]
    assert "bpmn:signalEventDefinition on a bpmn:endEvent is not supported" in bundle.diagnostics[0].message
    assert bundle.diagnostics[1].message == "bpmn:complexGateway is not supported by SpiffWorkflow"


def test_unquoted_timer():
    d = only("unquoted_timer")
    assert at(d) == (MAIN, 50, "wait_day_30")
    assert d.message == 'timer expression P30D looks like an unquoted ISO 8601 literal, write "P30D"'


def test_invalid_iso_duration_constant_and_inside_an_expression():
    bundle = load("invalid_duration")
    assert [at(d) for d in bundle.diagnostics] == [(HANDOFF, 22, "remind_manager"), (MAIN, 50, "wait_day_30")]
    assert bundle.diagnostics[0].message == "timer expression contains 'PT48', which is not a valid ISO 8601 duration"
    assert bundle.diagnostics[1].message == "'P30DAYS' is not a valid ISO 8601 duration"


def test_zero_duration_cycle():
    d = only("zero_cycle")
    assert at(d) == (HANDOFF, 22, "remind_manager")
    assert d.message == "timer cycle 'R3/PT0H' has a zero duration"


def test_timer_date_without_offset():
    d = only("timer_date_without_offset")
    assert at(d) == (MAIN, 50, "wait_day_30")
    assert "has no explicit UTC offset" in d.message


def test_missing_form_file():
    d = only("missing_form_file")
    assert at(d) == (MAIN, 16, "archive_decline")
    assert d.message == "form file archive_decline.schema.json not found in forms"


def test_form_not_valid_json_names_the_json_line():
    d = only("form_not_json")
    assert at(d) == (MAIN, 16, "archive_decline")
    assert "archive_decline.schema.json is not valid JSON: line 6 column 3" in d.message


def test_form_not_valid_json_schema():
    d = only("form_not_json_schema")
    assert at(d) == (MAIN, 16, "archive_decline")
    assert d.message.startswith("form schema archive_decline.schema.json is not a valid JSON Schema 2020-12 at type")


def test_user_task_without_form():
    d = only("user_task_without_form")
    assert at(d) == (HANDOFF, 10, "contact_candidate")
    assert d.message.startswith("user task has no form")


def test_missing_forms_directory(tmp_path):
    bundle = load_bundle([BUNDLES / "valid" / "workflows"], forms_dir=tmp_path / "nowhere")
    assert [at(d) for d in bundle.diagnostics] == [
        (HANDOFF, 10, "contact_candidate"), (MAIN, 16, "archive_decline"), (MAIN, 16, "archive_decline")]
    assert all("forms directory" in d.message for d in bundle.diagnostics)


def test_script_with_import_maps_the_script_line_to_the_file_line():
    d = only("script_import")
    assert at(d) == (MAIN, 31, "normalise_reason")  # second line of the script
    assert d.message.startswith("script does not compile under the restricted policy: import")


def test_dunder_in_condition():
    d = only("dunder_condition")
    assert at(d) == (MAIN, 40, "flow_consent")
    assert "__class__" in d.message


def test_call_activity_not_resolving():
    d = only("call_activity_unresolved")
    assert at(d) == (MAIN, 72, "call_handoff")
    assert "'hand_off'" in d.message


def test_undefined_message_ref_is_named():
    d = only("undefined_message_ref")
    assert at(d) == (MAIN, 57, "wait_reply")
    assert d.message == "messageRef 'candidate_reply' does not name a bpmn:message in this file"


def test_missing_dmn_decision():
    d = only("missing_dmn_decision")
    assert at(d) == (MAIN, 64, "pick_template")
    assert "'follow_up_templates' is not defined in any DMN file" in d.message


def test_gateway_without_conditions_or_default():
    d = only("gateway_without_conditions")
    assert at(d) == (MAIN, 34, "consent_gateway")
    assert d.message == ("exclusive gateway consent_gateway has 2 outgoing flows without conditions "
                         "and no default flow")


def test_file_stem_must_match_process_id():
    d = only("stem_mismatch")
    assert at(d) == ("workflows/hand_off.bpmn", 5, "handoff")
    assert "does not match the file name 'hand_off.bpmn'" in d.message


def test_doctype_and_entities_are_rejected_before_parsing():
    d = only("entity_expansion")
    assert at(d) == (HANDOFF, 2, None)
    assert "DOCTYPE/ENTITY declarations are not allowed" in d.message


def test_oversize_file(tmp_path):
    shutil.copytree(BUNDLES / "valid", tmp_path / "bundle")
    big = tmp_path / "bundle" / HANDOFF
    big.write_bytes(big.read_bytes() + b"<!--" + b"x" * MAX_FILE_BYTES + b"-->\n")
    bundle = load_bundle([tmp_path / "bundle" / "workflows"])
    assert [at(d) for d in bundle.diagnostics] == [(HANDOFF, None, None)]
    assert "limit" in bundle.diagnostics[0].message
    assert HANDOFF not in bundle.files


def test_dmn_entries_must_compile():
    bundle = load("dmn_entry")
    dmn = "workflows/follow_up_template.dmn"
    assert [at(d) for d in bundle.diagnostics] == [(dmn, 17, "rule_salary_30_reason"), (dmn, 24, "rule_other_template")]
    assert "'? in (\"salary\", \"team\")'" in bundle.diagnostics[0].message  # SpiffWorkflow would eval `reasonin (...)`
    assert "__import__" in bundle.diagnostics[1].message


def test_unreachable_node_is_reported():
    d = only("unreachable_node")
    assert at(d) == (MAIN, 75, "end_done")
    assert "not reachable from a start event" in d.message


def test_two_broken_files_are_both_reported():
    bundle = load("two_broken_files")
    assert [at(d) for d in bundle.diagnostics] == [(HANDOFF, 22, "remind_manager"), (MAIN, 32, None)]


@pytest.mark.parametrize("path", ["nowhere", "README.md"])
def test_bad_paths_are_diagnostics(tmp_path, path):
    (tmp_path / "README.md").write_text("hello")
    bundle = load_bundle([tmp_path / path])
    assert not bundle.ok
    assert len(bundle.diagnostics) == 1


# -- things SpiffWorkflow 3.2 accepts but silently ignores (or gets wrong) at run time -----------

ESP = """    <bpmn:subProcess id="on_reply" triggeredByEvent="true">
      <bpmn:startEvent id="on_reply_start"><bpmn:messageEventDefinition id="on_reply_message" messageRef="candidate_replied"/></bpmn:startEvent>
      <bpmn:sequenceFlow id="flow_on_reply" sourceRef="on_reply_start" targetRef="on_reply_end"/>
      <bpmn:endEvent id="on_reply_end"/>
    </bpmn:subProcess>
  </bpmn:process>"""


@pytest.mark.parametrize("file, old, new, line, element_id, text", [
    (MAIN, "  </bpmn:process>", ESP, 81, "on_reply_start", "SpiffWorkflow ignores isInterrupting"),
    (MAIN, '<bpmn:messageEventDefinition id="wait_reply_message"',
     '<bpmn:linkEventDefinition name="x"/><bpmn:messageEventDefinition id="wait_reply_message"',
     57, "wait_reply", "bpmn:linkEventDefinition on a bpmn:intermediateCatchEvent is not supported"),
    (MAIN, 'targetRef="normalise_reason"/>',
     'targetRef="normalise_reason"><bpmn:conditionExpression>x</bpmn:conditionExpression></bpmn:sequenceFlow>',
     26, "flow_archived", "condition on a flow leaving a bpmn:userTask is ignored"),
    (MAIN, '<bpmn:message id="candidate_replied" name="candidate_replied"/>',
     '<bpmn:message id="candidate_replied" name="candidate_replied"><bpmn:extensionElements>'
     "<spiffworkflow:messageVariable>reply</spiffworkflow:messageVariable></bpmn:extensionElements></bpmn:message>",
     5, "candidate_replied", "is deprecated"),
    ("workflows/follow_up_template.dmn", 'hitPolicy="UNIQUE"', 'hitPolicy="ANY"',
     4, "follow_up_template_table", "hit policy ANY is not supported"),
    (HANDOFF, '<bpmn:timeDuration>"P2D"</bpmn:timeDuration>', "<bpmn:timeDuration>P1D if urgent else P2D</bpmn:timeDuration>",
     22, "remind_manager", 'uses P1D as a name'),
])
def test_silently_ignored_constructs_are_reported(tmp_path, file, old, new, line, element_id, text):
    shutil.copytree(BUNDLES / "valid", tmp_path / "bundle")
    path = tmp_path / "bundle" / file
    assert path.read_text().count(old) == 1
    path.write_text(path.read_text().replace(old, new))
    bundle = load_bundle([tmp_path / "bundle" / "workflows"])
    assert [at(d) for d in bundle.diagnostics][:1] == [(file, line, element_id)], [str(d) for d in bundle.diagnostics]
    assert text in bundle.diagnostics[0].message


def test_an_implausibly_long_timer_duration_is_refused():
    """SpiffWorkflow adds years and months one month at a time: "P999999999Y" would hang a thread."""
    from engine.bundle import timer_problems
    assert timer_problems("timeDuration", '"P99Y"') == []
    [problem] = timer_problems("timeDuration", '"P999999999Y"')
    assert "longer than 100 years" in problem


_CALLER = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d_{me}" targetNamespace="t">
  <bpmn:process id="{me}" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:callActivity id="call_{other}" calledElement="{other}">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:callActivity>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call_{other}"/>
    <bpmn:sequenceFlow id="f2" sourceRef="call_{other}" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_processes_calling_each_other_in_a_cycle_are_refused(tmp_path):
    from engine.bundle import load_bundle
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    (tmp_path / "forms").mkdir()
    (workflows / "ping.bpmn").write_text(_CALLER.format(me="ping", other="pong"))
    (workflows / "pong.bpmn").write_text(_CALLER.format(me="pong", other="ping"))
    bundle = load_bundle([workflows])
    cycles = [d for d in bundle.diagnostics if "call itself" in d.message]
    assert {(d.file, d.line, d.element_id) for d in cycles} == {
        ("workflows/ping.bpmn", 5, "call_pong"), ("workflows/pong.bpmn", 5, "call_ping")}
    assert "ping → pong → ping" in str(cycles[0])
