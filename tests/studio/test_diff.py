"""The studio's diff as pure functions over bundle texts (no database): elements added and removed, a
flow's condition, a lane change, DMN rules added/removed/reordered, a form field's enum, a broken file."""
from __future__ import annotations

import json
from pathlib import Path

from engine.studio.diff import diff_bundles, json_changes

ROOT = Path(__file__).resolve().parents[2]

HEAD = ('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/'
        '20100524/MODEL" id="d" targetNamespace="t"><bpmn:process id="p" isExecutable="true">')
TAIL = "</bpmn:process></bpmn:definitions>"


def _bpmn(body: str, lanes: str = "") -> str:
    return HEAD + lanes + body + TAIL


def _lanes(task_lane: str) -> str:
    return (f'<bpmn:laneSet id="ls"><bpmn:lane id="l1" name="{task_lane}"><bpmn:flowNodeRef>t</bpmn:flowNodeRef>'
            f'</bpmn:lane></bpmn:laneSet>')


def _dmn(rules: list[tuple[str, str, str]], hit: str = "UNIQUE") -> str:
    body = "".join(f'<rule id="{rid}"><inputEntry id="{rid}_i"><text>{i}</text></inputEntry>'
                   f'<outputEntry id="{rid}_o"><text>{o}</text></outputEntry></rule>' for rid, i, o in rules)
    return ('<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/" id="x" name="x" namespace="n">'
            f'<decision id="pick" name="pick"><decisionTable id="t" hitPolicy="{hit}">'
            '<input id="in" label="reason"><inputExpression id="ie"><text>reason</text></inputExpression></input>'
            f'<output id="out" name="template_id"/>{body}</decisionTable></decision></definitions>')


def test_elements_added_removed_and_changed_by_id():
    old = _bpmn('<bpmn:startEvent id="s"/><bpmn:userTask id="t" name="Call"/><bpmn:endEvent id="e"/>'
                '<bpmn:sequenceFlow id="f" sourceRef="t" targetRef="e">'
                '<bpmn:conditionExpression>x == 1</bpmn:conditionExpression></bpmn:sequenceFlow>', _lanes("HR"))
    new = _bpmn('<bpmn:startEvent id="s"/><bpmn:userTask id="t" name="Call"/><bpmn:scriptTask id="n">'
                '<bpmn:script>y = 2</bpmn:script></bpmn:scriptTask>'
                '<bpmn:sequenceFlow id="f" sourceRef="t" targetRef="n">'
                '<bpmn:conditionExpression>x == 2</bpmn:conditionExpression></bpmn:sequenceFlow>', _lanes("HRBP"))
    diff = diff_bundles({"a.bpmn": old}, {}, {"a.bpmn": new}, {})["processes"]["p"]
    assert diff["added"] == [{"id": "n", "type": "scriptTask", "name": None}]
    assert diff["removed"] == [{"id": "e", "type": "endEvent", "name": None}]
    assert {c["id"]: c["changes"] for c in diff["changed"]} == {
        "f": {"condition": {"from": "x == 1", "to": "x == 2"}, "target": {"from": "e", "to": "n"}},
        "t": {"lane": {"from": "HR", "to": "HRBP"}}}


def test_a_new_process_and_an_unparsable_file():
    diff = diff_bundles({}, {}, {"a.bpmn": _bpmn('<bpmn:startEvent id="s"/>'), "b.bpmn": "<not xml"}, {})
    assert diff["processes"]["p"]["status"] == "added" and list(diff["processes"]) == ["p"]


def test_dmn_rules_by_rule_id():
    old = _dmn([("r1", '"salary"', '"a"'), ("r2", '"team"', '"b"'), ("r3", "-", '"c"')])
    new = _dmn([("r2", '"team"', '"b"'), ("r1", '"salary"', '"a2"'), ("r4", '"family"', '"d"')], hit="FIRST")
    diff = diff_bundles({"d.dmn": old}, {}, {"d.dmn": new}, {})["decisions"]["pick"]
    assert diff["added"] == ["r4"] and diff["removed"] == ["r3"]
    assert diff["hit_policy"] == {"from": "UNIQUE", "to": "FIRST"}
    assert diff["changed"] == [
        {"rule_id": "r1", "outputs": {"template_id": {"from": '"a"', "to": '"a2"'}}, "order": {"from": 0, "to": 1}},
        {"rule_id": "r2", "order": {"from": 1, "to": 0}}]


def test_a_rule_annotation_edited_in_dmn_js_is_a_change():
    """dmn-js keeps a rule's annotation in <description>: the owner's note on why is part of the diff."""
    old = (ROOT / "workflows" / "follow_up_template.dmn").read_text(encoding="utf-8")
    before = "<description>第 30 天:只关心近况的问候,不提岗位(所有原因通用)"
    assert old.count(before) == 1
    new = old.replace(before, "<description>注 60 第 30 天:只关心近况的问候,不提岗位(所有原因通用)")
    diff = diff_bundles({"follow_up_template.dmn": old}, {}, {"follow_up_template.dmn": new}, {})["decisions"]
    [(decision, entry)] = diff.items()
    [change] = entry["changed"]
    assert set(change) == {"rule_id", "annotation"}
    assert change["annotation"]["to"].startswith("注 60 第 30 天") and change["annotation"]["from"].startswith("第 30 天")
    assert diff_bundles({"follow_up_template.dmn": old}, {}, {"follow_up_template.dmn": old}, {})["decisions"] == {}


def test_forms_and_json_files_by_json_pointer():
    old = {"type": "object", "properties": {"outcome": {"enum": ["sent", "skipped"]}, "a/b": {"type": "string"}}}
    new = {"type": "object", "properties": {"outcome": {"enum": ["sent", "later"]}}}
    diff = diff_bundles({"messages.json": "{}"}, {"f.json": json.dumps(old), "gone.json": "{}"},
                        {"messages.json": '{"messages": {}}'}, {"f.json": json.dumps(new), "new.json": "{}"})
    assert diff["forms"]["added"] == ["new.json"] and diff["forms"]["removed"] == ["gone.json"]
    assert diff["forms"]["changed"][0]["changes"] == [
        {"path": "/properties/a~1b", "op": "removed", "from": {"type": "string"}},
        {"path": "/properties/outcome/enum/1", "op": "changed", "from": "skipped", "to": "later"}]
    assert diff["messages"] == [{"path": "/messages", "op": "added", "to": {}}]
    assert json_changes(1, 1.0) == [{"path": "/", "op": "changed", "from": 1, "to": 1.0}]


def test_templates_by_language_and_id():
    diff = diff_bundles({"templates/zh/a.j2": "你好\n", "templates/en/a.j2": "Hi\n"}, {},
                        {"templates/zh/a.j2": "您好\n", "templates/zh/b.j2": "新\n"}, {})["templates"]
    assert diff["added"] == [{"lang": "zh", "id": "b"}] and diff["removed"] == [{"lang": "en", "id": "a"}]
    assert diff["changed"][0]["diff"].splitlines()[2:] == ["@@ -1 +1 @@", "-你好", "+您好"]
