"""The three process-owner changes of docs/lifecycle.md ("The vocabulary: reasons, stages, roles", its "How to ..." recipes),
applied to a copy of workflows/ and forms/ exactly as that page lists the file edits — no code.

1. a new decline reason `relocation` (搬迁): vocabulary, the two forms' enum (and the archive
   form's labels), the template decision's input values and rules, the templates;
2. the day-90 follow-up comes on day 60: the timer and the labels;
3. a new day-365 follow-up: timer, stage, template pick, suggestion and task in the diagram, its
   form, the decision's rule, the templates and the vocabulary's stage.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from lxml import etree

from .lifecycle import ROOT

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS = {"bpmn": BPMN}


def copy_bundle(target: Path) -> Path:
    shutil.copytree(ROOT / "workflows", target / "workflows")
    shutil.copytree(ROOT / "forms", target / "forms")
    return target / "workflows"


def _json(path: Path, change) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def _dmn_rule(rule_id: str, reason: str, stage: str, template: str) -> str:
    entry = f'"{reason}"' if reason != "-" else "-"
    return (f'<rule id="{rule_id}"><inputEntry id="{rule_id}_in_0"><text>{entry}</text></inputEntry>'
            f'<inputEntry id="{rule_id}_in_1"><text>"{stage}"</text></inputEntry>'
            f'<outputEntry id="{rule_id}_out_0"><text>"{template}"</text></outputEntry></rule>')


def _dmn(workflows: Path, *, reasons: list[str], stages: list[str], rules: list[str]) -> None:
    """Add input values and rules (before the fallback rules, which come last)."""
    path = workflows / "follow_up_template.dmn"
    text = path.read_text(encoding="utf-8")
    for value in reasons:
        text = text.replace('"location","other"</text>', f'"location","other","{value}"</text>', 1) \
            if '"location","other"' in text else text.replace('"other"</text>', f'"other","{value}"</text>', 1)
    for value in stages:
        text = text.replace('"snooze"</text>\n        </inputValues>', f'"snooze","{value}"</text>\n        </inputValues>', 1)
    text = text.replace('<rule id="rule_day_90_fallback">', "".join(rules) + '<rule id="rule_day_90_fallback">', 1)
    path.write_text(text, encoding="utf-8")


def _template(workflows: Path, template: str, like: str) -> None:
    for lang in ("zh", "en"):
        shutil.copy(workflows / "templates" / lang / f"{like}.j2", workflows / "templates" / lang / f"{template}.j2")


def add_relocation(workflows: Path) -> None:
    forms = workflows.parent / "forms"
    _json(workflows / "vocabulary.json",
          lambda d: d["decline_reasons"].append({"key": "relocation", "zh": "搬迁", "en": "Relocation"}))
    for name in ("archive_decline.schema.json", "offer_recall.start.schema.json"):
        _json(forms / name, lambda d: d["properties"]["decline_reason"]["enum"].append("relocation"))
    _json(forms / "archive_decline.uischema.json",
          lambda d: d["decline_reason"]["ui:enumNames"].append("搬迁 / Relocation"))
    rules = [_dmn_rule(f"rule_{stage}_relocation", "relocation", stage, f"{stage}_relocation")
             for stage in ("day_90", "day_180", "snooze")]
    _dmn(workflows, reasons=["relocation"], stages=[], rules=rules)
    for stage in ("day_90", "day_180", "snooze"):
        _template(workflows, f"{stage}_relocation", like=f"{stage}_location")


def day_90_on_day_60(workflows: Path) -> None:
    path = workflows / "offer_recall.bpmn"
    text = path.read_text(encoding="utf-8")
    text = text.replace('add_duration(decline_date, "P90D")', 'add_duration(decline_date, "P60D")')
    text = text.replace("第 90 天", "第 60 天").replace("Day 90", "Day 60").replace("Day-90", "Day-60") \
        .replace("day 90", "day 60")
    path.write_text(text, encoding="utf-8")

    def relabel(d):
        stage = next(s for s in d["stages"] if s["key"] == "day_90")
        stage.update(zh="第 60 天跟进", en="Day-60 follow-up")
    _json(workflows / "vocabulary.json", relabel)


def add_day_365(workflows: Path) -> None:
    path = workflows / "offer_recall.bpmn"
    tree = etree.parse(str(path))
    cadence = tree.find(".//bpmn:subProcess[@id='follow_up_cadence']", NS)
    last_flow = cadence.find("bpmn:sequenceFlow[@id='flow_follow_up_day_180_done']", NS)
    last_flow.set("targetRef", "wait_day_365")
    wait_reply = cadence.find("bpmn:intermediateCatchEvent[@id='wait_reply_after_day_180']", NS)
    wait_reply.find("bpmn:incoming", NS).text = "flow_follow_up_day_365_done"

    def node(tag, id_, name, incoming, outgoing, **attrs):
        el = etree.SubElement(cadence, f"{{{BPMN}}}{tag}", id=id_, name=name, **attrs)
        etree.SubElement(el, f"{{{BPMN}}}incoming").text = incoming
        etree.SubElement(el, f"{{{BPMN}}}outgoing").text = outgoing
        return el

    wait = node("intermediateCatchEvent", "wait_day_365", "未到岗后第 365 天 / Day 365 after decline",
                "flow_follow_up_day_180_done", "flow_wait_day_365_to_stage")
    timer = etree.SubElement(wait, f"{{{BPMN}}}timerEventDefinition", id="wait_day_365_timer")
    date = etree.SubElement(timer, f"{{{BPMN}}}timeDate")
    date.set(f"{{{XSI}}}type", "bpmn:tFormalExpression")
    date.text = 'add_duration(decline_date, "P365D")'
    etree.SubElement(node("scriptTask", "set_stage_day_365", "设定阶段:第 365 天 / Stage: day 365",
                          "flow_wait_day_365_to_stage", "flow_set_stage_day_365"),
                     f"{{{BPMN}}}script").text = 'stage = "day_365"'
    pick = node("businessRuleTask", "pick_template_day_365", "选择消息模板 / Pick template (day 365)",
                "flow_set_stage_day_365", "flow_pick_template_day_365")
    ext = etree.SubElement(pick, f"{{{BPMN}}}extensionElements")
    etree.SubElement(ext, "{http://spiffworkflow.org/bpmn/schema/1.0/core}calledDecisionId").text = "follow_up_template"
    pick.insert(0, ext)
    etree.SubElement(node("scriptTask", "prepare_suggestion_day_365", "准备推荐消息 / Prepare suggestion (day 365)",
                          "flow_pick_template_day_365", "flow_prepare_suggestion_day_365"),
                     f"{{{BPMN}}}script").text = ('suggestion_template_id = template_id\noutcome = None\n'
                                                   'skip_reason = ""\nmessage_sent = ""')
    task = node("userTask", "follow_up_day_365", "第 365 天跟进 / Day-365 follow-up",
                "flow_prepare_suggestion_day_365", "flow_follow_up_day_365_done")
    ext = etree.Element(f"{{{BPMN}}}extensionElements")
    props = etree.SubElement(ext, "{http://spiffworkflow.org/bpmn/schema/1.0/core}properties")
    for name, value in (("formJsonSchemaFilename", "follow_up_day_365.schema.json"),
                        ("formUiSchemaFilename", "follow_up_day_365.uischema.json")):
        etree.SubElement(props, "{http://spiffworkflow.org/bpmn/schema/1.0/core}property", name=name, value=value)
    task.insert(0, ext)
    for flow_id, source, target in (
            ("flow_wait_day_365_to_stage", "wait_day_365", "set_stage_day_365"),
            ("flow_set_stage_day_365", "set_stage_day_365", "pick_template_day_365"),
            ("flow_pick_template_day_365", "pick_template_day_365", "prepare_suggestion_day_365"),
            ("flow_prepare_suggestion_day_365", "prepare_suggestion_day_365", "follow_up_day_365"),
            ("flow_follow_up_day_365_done", "follow_up_day_365", "wait_reply_after_day_180")):
        etree.SubElement(cadence, f"{{{BPMN}}}sequenceFlow", id=flow_id, sourceRef=source, targetRef=target)
    # flow nodes before the flows (the XML Schema's order does not care, diagrams read better)
    tree.write(str(path), xml_declaration=True, encoding="UTF-8")

    forms = workflows.parent / "forms"
    for suffix in ("schema.json", "uischema.json"):
        shutil.copy(forms / f"follow_up_day_180.{suffix}", forms / f"follow_up_day_365.{suffix}")
    _json(forms / "follow_up_day_365.schema.json", lambda d: d.update(title="第 365 天跟进 / Day-365 follow-up"))
    _dmn(workflows, reasons=[], stages=["day_365"],
         rules=[_dmn_rule("rule_day_365_checkin", "-", "day_365", "day_365_checkin")])
    _template(workflows, "day_365_checkin", like="day_180_other")
    _json(workflows / "vocabulary.json", lambda d: d["stages"].insert(3, {
        "key": "day_365", "zh": "第 365 天跟进", "en": "Day-365 follow-up", "task": "follow_up_day_365",
        "timer": "wait_day_365"}))


def apply_all(target: Path) -> Path:
    """A copy of the shipped bundle under `target` with the three changes; returns its workflows dir."""
    workflows = copy_bundle(target)
    add_relocation(workflows)
    day_90_on_day_60(workflows)
    add_day_365(workflows)
    return workflows
