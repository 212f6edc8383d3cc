"""The studio's checks (engine/lint.py through engine/bundle.py): what SpiffWorkflow accepts at deploy
and fails on (or silently gets wrong) at run time, each with a stable code, a severity and its place;
files from other tools; check_files for a bundle held in memory (issue 19).

Each case is the small valid bundle (tests/fixtures/bundles/valid) with one ordinary mistake, checked
in memory; the files from other tools are in tests/fixtures/studio.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.bundle import Diagnostic, check_files, load_bundle

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
VALID = FIXTURES / "bundles" / "valid"
STUDIO = FIXTURES / "studio"
ROOT = Path(__file__).resolve().parents[2]


def valid_files() -> tuple[dict[str, str], dict[str, str]]:
    files = {p.name: p.read_text(encoding="utf-8") for p in sorted((VALID / "workflows").iterdir())}
    forms = {p.name: p.read_text(encoding="utf-8") for p in sorted((VALID / "forms").iterdir())}
    return files, forms


def changed(file: str, old: str, new: str, *, files=None, forms=None):
    base_files, base_forms = valid_files()
    files = {**base_files, **(files or {})}
    assert old in files[file], old
    files[file] = files[file].replace(old, new)
    return check_files(files, forms={**base_forms, **(forms or {})})


def coded(bundle, code: str) -> list[Diagnostic]:
    return [d for d in bundle.all_diagnostics if d.code == code]


CONSENT_FLOWS = """    <bpmn:exclusiveGateway id="consent_gateway" name="Consent?" default="flow_no_consent">"""


def gateway(cond_a: str, cond_b: str):
    """The consent gateway without its default flow and with these two conditions."""
    base_files, _ = valid_files()
    text = base_files["recall_case.bpmn"].replace(CONSENT_FLOWS, CONSENT_FLOWS.replace(' default="flow_no_consent"', ""))
    text = text.replace("<bpmn:conditionExpression>consent == True</bpmn:conditionExpression>",
                        f"<bpmn:conditionExpression>{cond_a}</bpmn:conditionExpression>")
    text = text.replace('<bpmn:sequenceFlow id="flow_no_consent" sourceRef="consent_gateway" targetRef="end_no_consent"/>',
                        '<bpmn:sequenceFlow id="flow_no_consent" sourceRef="consent_gateway" targetRef="end_no_consent">'
                        f"<bpmn:conditionExpression>{cond_b}</bpmn:conditionExpression></bpmn:sequenceFlow>")
    return changed("recall_case.bpmn", "", "", files={"recall_case.bpmn": text})


def test_the_valid_bundle_checked_in_memory_is_the_folders_result():
    files, forms = valid_files()
    bundle = check_files(files, forms=forms)
    assert bundle.ok, [str(d) for d in bundle.diagnostics]
    folder = load_bundle([VALID / "workflows"])
    assert bundle.process_ids == folder.process_ids == ["handoff", "recall_case"]
    # the same diagnostics, named by the paths as given (no temporary folder in them)
    assert [(d.file, d.line, d.code) for d in bundle.all_diagnostics] == [
        (d.file.removeprefix("workflows/"), d.line, d.code) for d in folder.all_diagnostics]
    assert all("/tmp" not in str(d) and "recall-check" not in str(d) for d in bundle.all_diagnostics)


def test_our_own_workflows_pass_without_errors_or_warnings():
    bundle = load_bundle([ROOT / "workflows"], forms_dir=ROOT / "forms")
    assert bundle.diagnostics == [] and bundle.warnings == [], [str(d) for d in bundle.all_diagnostics]


def test_gateway_whose_enum_value_no_condition_takes_is_an_error():
    bundle = gateway('reason == "salary"', 'reason in ("team", "other")')
    [d] = coded(bundle, "gateway-not-covered")
    assert (d.file, d.element_id, d.severity) == ("recall_case.bpmn", "consent_gateway", "error")
    assert "'counter_offer'" in d.message and "stops with an error" in d.message and "default flow" in d.message
    assert not bundle.ok


def test_gateway_proven_covered_says_nothing():
    for a, b in (('reason == "salary"', 'reason != "salary"'), ("consent", "not consent"),
                 ('reason in ("salary", "team")', 'reason in ["counter_offer", "other"]')):
        bundle = gateway(a, b)
        assert not coded(bundle, "gateway-not-covered") and not coded(bundle, "gateway-no-default"), (a, b)
        assert bundle.ok, [str(d) for d in bundle.diagnostics]


def test_gateway_that_cannot_be_proven_is_a_warning_that_does_not_block():
    bundle = gateway("consent == True", 'stage == "day_30"')
    [d] = coded(bundle, "gateway-no-default")
    assert d.severity == "warning" and d.element_id == "consent_gateway"
    assert "if no condition holds the case stops with an error" in d.message
    assert bundle.ok and d in bundle.warnings
    assert str(d).startswith("recall_case.bpmn:") and ": consent_gateway: warning: " in str(d)


def test_unquoted_string_in_a_condition_is_an_error_with_the_fix():
    bundle = changed("recall_case.bpmn", "consent == True", "reason == salary")
    [d] = coded(bundle, "unquoted-string")
    assert d.severity == "error" and d.element_id == "flow_consent"
    assert "did you mean 'salary'" in d.message
    assert not bundle.ok


def test_unknown_name_in_a_script_is_a_warning_with_a_close_match():
    bundle = changed("recall_case.bpmn", "reason = reason.strip().lower()", "reason = reasn.strip().lower()")
    [d] = coded(bundle, "unknown-variable")
    assert d.severity == "warning" and d.element_id == "normalise_reason"
    assert "reasn" in d.message and "did you mean reason?" in d.message
    # names a script assigns, form fields and the engine's own helpers are known: nothing else reported
    assert bundle.ok


@pytest.mark.parametrize("cell, words", [
    ("true", "write True"), ("false", "write False"), ('not("salary")', "FEEL negation"),
    ("[1..5]", "FEEL range"), ('"salary","team"', "FEEL list"), (" - ", "exact '-'"),
])
def test_feel_in_a_dmn_cell_is_an_error(cell, words):
    bundle = changed("follow_up_template.dmn", '<inputEntry id="rule_salary_30_reason"><text>"salary"</text>',
                     f'<inputEntry id="rule_salary_30_reason"><text>{cell}</text>')
    found = coded(bundle, "dmn-feel")
    assert [d.element_id for d in found] == ["rule_salary_30_reason"], [str(d) for d in bundle.all_diagnostics]
    assert words in found[0].message and "Python" in found[0].message
    assert not bundle.ok


def test_unique_rules_that_overlap_are_an_error_a_later_fallback_a_warning():
    dmn = valid_files()[0]["follow_up_template.dmn"]
    assert "hitPolicy=\"UNIQUE\"" in dmn
    # the fixture's last rule (-, -) is a fallback after a specific rule: allowed, with a warning
    fallback = coded(check_files(valid_files()[0], forms=valid_files()[1]), "dmn-unique-overlap")
    assert [(d.element_id, d.severity) for d in fallback] == [("rule_other", "warning")]
    # a broader rule put first: the job pitch silently picked for day 30, the greeting never used
    pitch = """      <rule id="rule_pitch">
        <inputEntry id="rule_pitch_reason"><text>? in ("salary", "team")</text></inputEntry>
        <inputEntry id="rule_pitch_stage"><text>"day_30"</text></inputEntry>
        <outputEntry id="rule_pitch_template"><text>"job_pitch"</text></outputEntry>
      </rule>
      <rule id="rule_salary_30">"""
    bundle = changed("follow_up_template.dmn", '      <rule id="rule_salary_30">', pitch)
    errors = [d for d in coded(bundle, "dmn-unique-overlap") if d.severity == "error"]
    assert [d.element_id for d in errors] == ["rule_salary_30"]
    assert "rule_pitch and rule_salary_30 both match when Reason is 'salary' and Stage is 'day_30'" in errors[0].message
    assert "silently takes rule_pitch" in errors[0].message
    assert not bundle.ok
    # the same rule twice: the second is never used either
    twice = changed("follow_up_template.dmn", '      <rule id="rule_other">', pitch.replace(
        "rule_pitch", "rule_again").replace('? in ("salary", "team")', '"salary"').replace(
        '<rule id="rule_salary_30">', '<rule id="rule_other">'))
    assert [d.element_id for d in coded(twice, "dmn-unique-overlap") if d.severity == "error"] == ["rule_again"]
    # under FIRST the order is the point: nothing to say
    first = changed("follow_up_template.dmn", 'hitPolicy="UNIQUE"', 'hitPolicy="FIRST"')
    assert not coded(first, "dmn-unique-overlap")


def test_templates_missing_unknown_in_the_dmn_and_unknown_variables():
    files = {"templates/zh/greeting.j2": "你好 {{ candidate_name }}",
             "templates/en/greeting.j2": "Hello {{ candidate_name }}, about {{ salary_band }}",
             "templates/zh/greeting_salary.j2": "你好"}
    bundle = changed("follow_up_template.dmn", 'name="template"', 'name="template_id"', files=files)
    [missing] = coded(bundle, "template-missing-language")
    assert missing.element_id == "greeting_salary" and "has no en version" in missing.message
    [unknown] = coded(bundle, "template-unknown-variable")
    assert (unknown.file, unknown.line, unknown.element_id) == ("templates/en/greeting.j2", 1, "greeting")
    assert "salary_band" in unknown.message
    assert not coded(bundle, "template-unknown")          # both ids the rules pick have a file
    gone = changed("follow_up_template.dmn", 'name="template"', 'name="template_id"',
                   files={k: v for k, v in files.items() if "salary" not in k})
    [d] = coded(gone, "template-unknown")
    assert d.element_id == "rule_salary_30_template" and "'greeting_salary'" in d.message


def test_lane_no_group_maps_to_is_a_warning():
    lanes = """<bpmn:laneSet id="lanes"><bpmn:lane id="lane_legal" name="Legal Review">
        <bpmn:flowNodeRef>archive_decline</bpmn:flowNodeRef></bpmn:lane>
        <bpmn:lane id="lane_hr" name="HR"><bpmn:flowNodeRef>start</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
    <bpmn:startEvent id="start">"""
    bundle = changed("recall_case.bpmn", '<bpmn:startEvent id="start">', lanes)
    [d] = coded(bundle, "lane-no-group")
    assert d.element_id == "lane_legal" and d.severity == "warning" and "'legal_review'" in d.message
    assert bundle.ok


def test_required_field_nobody_can_fill_and_enum_names_of_another_length():
    _, forms = valid_files()
    schema = json.loads(forms["archive_decline.schema.json"])
    schema["required"] = ["reason", "consent", "source"]
    bundle = changed("recall_case.bpmn", "", "", forms={"archive_decline.schema.json": json.dumps(schema)})
    [d] = coded(bundle, "form-required-unfillable")
    assert d.severity == "error" and d.element_id == "archive_decline" and "'source'" in d.message
    ui = {"ui:order": ["reason", "consent"], "consent": {"ui:readonly": True},
          "reason": {"ui:enumNames": ["薪资", "反要约", "团队"]}}
    bundle = changed("recall_case.bpmn", "", "", forms={"archive_decline.uischema.json": json.dumps(ui)})
    [readonly] = coded(bundle, "form-required-unfillable")
    assert readonly.severity == "warning" and "'consent'" in readonly.message
    [names] = coded(bundle, "form-enum-names-length")
    assert names.severity == "error" and "4 values but 3 ui:enumNames" in names.message


def test_camunda_file_is_read_and_its_ignored_parts_are_named():
    bundle = load_bundle([STUDIO / "camunda_modeler.bpmn20.xml"])
    assert bundle.ok and bundle.process_ids == ["camunda_modeler"]          # .bpmn20.xml read; scriptFormat=""
    assert "studio/camunda_modeler.bpmn20.xml" in bundle.files
    got = {(d.code, d.element_id, d.message.split(" ")[0]) for d in bundle.warnings}
    assert got == {("camunda-attribute-ignored", "camunda_modeler", "camunda:historyTimeToLive"),
                   ("camunda-attribute-ignored", "note_reason", "camunda:asyncBefore"),
                   ("camunda-extension-ignored", "note_reason", "camunda:inputOutput")}
    assert all("instead" in d.message for d in bundle.warnings)


def test_a_folder_with_bpmn20_xml_files_reads_them():
    bundle = load_bundle([STUDIO])
    assert "studio/camunda_modeler.bpmn20.xml" in bundle.files


def test_several_pools_and_data_stores_are_refused_with_a_line_and_a_reason():
    pools = load_bundle([STUDIO / "two_pools.bpmn"])
    [d] = coded(pools, "several-executable-processes")
    assert d.line == 17 and "two_pools, candidate_side" in d.message and 'isExecutable="false"' in d.message
    store = load_bundle([STUDIO / "data_store.bpmn"])
    found = coded(store, "data-store-unsupported")
    assert [(d.line, d.element_id) for d in found] == [(4, "talent_db"), (10, "talent_db_ref")]
    # the engine's own words are kept on our diagnostic, not dropped, and no line-less duplicate
    assert found[0].engine_error and "Talent database" in found[0].engine_error
    assert all(d.line is not None for d in store.diagnostics)


def test_engine_error_on_an_element_we_reported_is_kept():
    bundle = changed("recall_case.bpmn", 'messageRef="candidate_replied"', 'messageRef="candidate_reply"')
    [d] = [d for d in bundle.diagnostics if d.element_id == "wait_reply_message" or d.element_id == "wait_reply"]
    assert "does not name a bpmn:message" in d.message
    assert d.engine_error and "SpiffWorkflow:" in str(d)


def test_dmn_input_read_by_its_label_is_accepted_with_a_warning():
    # SpiffWorkflow's own test corpus: an inputExpression without a text; the engine reads the label's variable
    bundle = changed("follow_up_template.dmn", """        <inputExpression id="input_stage_expression" typeRef="string">
          <text>stage</text>
        </inputExpression>""", '        <inputExpression id="input_stage_expression" typeRef="string"/>')
    assert [d.code for d in bundle.diagnostics] == ["dmn-input-missing"] or coded(bundle, "dmn-input-by-label")
    labelled = changed("follow_up_template.dmn", 'label="Stage"', 'label="stage"', files={
        "follow_up_template.dmn": bundle.files["workflows/follow_up_template.dmn"].decode()})
    [d] = coded(labelled, "dmn-input-by-label")
    assert d.severity == "warning" and d.element_id == "input_stage" and "'stage'" in d.message
    assert labelled.ok, [str(x) for x in labelled.diagnostics]
    unlabelled = changed("follow_up_template.dmn", ' label="Stage"', "", files={
        "follow_up_template.dmn": bundle.files["workflows/follow_up_template.dmn"].decode()})
    assert [d.code for d in unlabelled.diagnostics] == ["dmn-input-missing"]


def test_check_files_refuses_paths_outside_a_bundle_folder():
    files, forms = valid_files()
    bundle = check_files({**files, "../evil.bpmn": "<x/>", "/etc/passwd": "x", "notes.txt": "x",
                          "templates/zh/../../x.j2": "x"}, forms={**forms, "../x.json": "{}", "a/b.json": "{}"})
    refused = {d.file for d in coded(bundle, "file-path")}
    assert refused == {"../evil.bpmn", "/etc/passwd", "notes.txt", "templates/zh/../../x.j2", "../x.json", "a/b.json"}
    assert not bundle.ok
    assert check_files({}, forms={}).diagnostics       # nothing at all: said, not a crash
    weird = check_files({"x.bpmn": 12}, forms=None)    # wrong type of content
    assert coded(weird, "file-path")


PARALLEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" id="d_fan" targetNamespace="t">
  <bpmn:process id="fan" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f0</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f0" sourceRef="start" targetRef="fork"/>
    <bpmn:parallelGateway id="fork"><bpmn:incoming>f0</bpmn:incoming>{outgoing}</bpmn:parallelGateway>
    {tasks}
    <bpmn:parallelGateway id="join">{incoming}<bpmn:outgoing>f9</bpmn:outgoing></bpmn:parallelGateway>
    <bpmn:sequenceFlow id="f9" sourceRef="join" targetRef="end"/>
    <bpmn:endEvent id="end"><bpmn:incoming>f9</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>"""
TASK = """<bpmn:userTask id="{id}"><bpmn:extensionElements><spiffworkflow:properties>
      <spiffworkflow:property name="formJsonSchemaFilename" value="check.schema.json"/>
    </spiffworkflow:properties></bpmn:extensionElements>
    <bpmn:incoming>to_{id}</bpmn:incoming><bpmn:outgoing>from_{id}</bpmn:outgoing></bpmn:userTask>
    <bpmn:sequenceFlow id="to_{id}" sourceRef="fork" targetRef="{id}"/>
    <bpmn:sequenceFlow id="from_{id}" sourceRef="{id}" targetRef="join"/>"""


def test_parallel_ready_tasks_come_out_in_diagram_order(engine, tmp_path):
    """Six tasks made ready together, named against the alphabet and uuid order: every list shows them
    in the diagram's order (the fork's outgoing flows), case after case."""
    from tests.support import write_bundle
    ids = ["zeta", "alpha", "mu", "beta", "omega", "kappa"]
    xml = PARALLEL.format(outgoing="".join(f"<bpmn:outgoing>to_{i}</bpmn:outgoing>" for i in ids),
                          incoming="".join(f"<bpmn:incoming>from_{i}</bpmn:incoming>" for i in ids),
                          tasks="\n    ".join(TASK.format(id=i) for i in ids))
    engine.deploy([write_bundle(tmp_path, {"fan": xml})])
    for _ in range(3):
        started = engine.start_instance("fan")
        assert [t.element_id for t in started.ready_tasks] == ids
        assert [t.element_id for t in engine.get_instance(started.id).ready_tasks] == ids
        assert [t.element_id for t in engine.ready_tasks_of([started.id])[started.id]] == ids


def test_every_diagnostic_has_a_stable_code():
    bundle = changed("recall_case.bpmn", '"P30D"', "P30D")
    [d] = bundle.diagnostics
    assert (d.code, d.severity, d.element_id) == ("timer-unquoted", "error", "wait_day_30")
    broken = changed("recall_case.bpmn", 'calledElement="handoff"', 'calledElement="nowhere"')
    assert [d.code for d in broken.diagnostics] == ["call-unknown"]
    assert all(d.code and d.code != "invalid" for d in load_bundle([STUDIO]).all_diagnostics)


def test_a_message_nobody_sends_and_a_loop_nobody_leaves_are_warnings():
    files, forms = valid_files()
    bundle = check_files(files, forms=forms)          # no messages.json: candidate_replied comes from nowhere
    [d] = coded(bundle, "message-never-sent")
    assert d.element_id == "candidate_replied" and "POST /messages" in d.message and bundle.ok
    declared = check_files({**files, "messages.json": '{"messages": {"candidate_replied": '
                            '{"correlation": ["candidate_id"], "buffer": false}}}'}, forms=forms)
    assert not coded(declared, "message-never-sent"), [str(x) for x in declared.all_diagnostics]
    # the day-30 wait loops back to the hand-off's start: from the loop no end can be reached
    loop = changed("recall_case.bpmn",
                   '<bpmn:sequenceFlow id="flow_handed_off" sourceRef="call_handoff" targetRef="end_done"/>',
                   '<bpmn:sequenceFlow id="flow_handed_off" sourceRef="call_handoff" targetRef="wait_day_30"/>')
    loop = changed("recall_case.bpmn", "", "", files={"recall_case.bpmn": loop.files[
        "workflows/recall_case.bpmn"].decode().replace("<bpmn:incoming>flow_consent</bpmn:incoming>",
                                                      "<bpmn:incoming>flow_consent</bpmn:incoming>"
                                                      "<bpmn:incoming>flow_handed_off</bpmn:incoming>")})
    found = coded(loop, "no-path-to-end")
    assert [(d.severity, d.file) for d in found] == [("warning", "recall_case.bpmn")], [str(x) for x in loop.all_diagnostics]
    assert "never finishes" in found[0].message
    assert not coded(check_files(files, forms=forms), "no-path-to-end")


def test_recall_validate_prints_warnings_and_exits_by_errors_only():
    import subprocess
    import sys

    def validate(path):
        return subprocess.run([sys.executable, "-m", "cli", "validate", str(path)], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)
    warned = validate(STUDIO / "camunda_modeler.bpmn20.xml")
    assert warned.returncode == 0, warned.stderr
    assert warned.stdout.startswith("ok: 1 file(s), processes: camunda_modeler, 3 warning(s)")
    lines = warned.stderr.splitlines()
    assert len(lines) == 3 and all(": warning: camunda:" in line for line in lines), lines
    assert lines[0].startswith("studio/camunda_modeler.bpmn20.xml:6: camunda_modeler: warning: ")
    refused = validate(STUDIO / "two_pools.bpmn")
    assert refused.returncode == 1 and "2 executable processes" in refused.stdout
