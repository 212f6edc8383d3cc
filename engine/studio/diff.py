"""What a draft changes against the deployed bundle: BPMN elements by id (type, name, timer, form, script,
condition, message, lane, called element, ...), forms by JSON pointer, DMN rules by rule id, templates by
language and id (with a unified text diff), messages.json and vocabulary.json by JSON pointer.

Pure functions over the two bundles' texts ({path: text} as drafts hold them): nothing is parsed by
SpiffWorkflow, so a diff answers for a draft that does not validate yet."""
from __future__ import annotations

import difflib
import json
from pathlib import PurePosixPath

from lxml import etree

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
CONTAINERS = {"subProcess", "transaction", "adHocSubProcess"}
SKIPPED = {"laneSet", "extensionElements", "documentation", "ioSpecification", "dataInputAssociation",
           "dataOutputAssociation", "multiInstanceLoopCharacteristics", "standardLoopCharacteristics"}
TIMERS = ("timeDate", "timeDuration", "timeCycle")
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=True,
                          remove_pis=True)


def _local(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _parse(text: str):
    try:
        return etree.fromstring(text.encode("utf-8"), _PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None


def _text(el) -> str | None:
    return el.text.strip() if el is not None and el.text is not None else None


# ---------------------------------------------------------------- BPMN
def _describe(el, lanes: dict[str, str]) -> dict:
    """The properties of one element the engine reads (only those present)."""
    found: dict = {"type": _local(el)}
    for attr, key in (("name", "name"), ("calledElement", "called_element"), ("default", "default"),
                      ("attachedToRef", "attached_to"), ("cancelActivity", "cancel_activity"),
                      ("sourceRef", "source"), ("targetRef", "target"), ("messageRef", "message")):
        if el.get(attr) is not None:
            found[key] = el.get(attr)
    if el.get("id") in lanes:
        found["lane"] = lanes[el.get("id")]
    for child in el:
        name = _local(child)
        if name == "timerEventDefinition":
            for kind in TIMERS:
                value = child.find(f"{{{BPMN}}}{kind}")
                if value is not None:
                    found["timer"] = f"{kind}: {_text(value) or ''}"
        elif name == "messageEventDefinition" and child.get("messageRef"):
            found["message"] = child.get("messageRef")
        elif name == "signalEventDefinition" and child.get("signalRef"):
            found["signal"] = child.get("signalRef")
        elif name == "errorEventDefinition" and child.get("errorRef"):
            found["error"] = child.get("errorRef")
        elif name == "conditionExpression":
            found["condition"] = _text(child)
        elif name == "script":
            found["script"] = _text(child)
        elif name == "extensionElements":
            for ext in child.iter():
                ext_name = _local(ext)
                if ext_name == "property" and ext.get("name") in ("formJsonSchemaFilename", "formUiSchemaFilename"):
                    found["form" if ext.get("name") == "formJsonSchemaFilename" else "form_ui"] = ext.get("value")
                elif ext_name in ("preScript", "postScript", "calledDecisionId", "instructionsForEndUser"):
                    key = {"calledDecisionId": "decision", "instructionsForEndUser": "instructions",
                           "preScript": "pre_script", "postScript": "post_script"}[ext_name]
                    found[key] = _text(ext)
        elif name == "multiInstanceLoopCharacteristics":
            found["multi_instance"] = "sequential" if child.get("isSequential") == "true" else "parallel"
    return found


def bpmn_elements(text: str) -> dict[str, dict[str, dict]]:
    """{process id: {element id: properties}} of one BPMN file (an unparsable file has none)."""
    root = _parse(text)
    if root is None:
        return {}
    processes = {}
    for process in root.iter(f"{{{BPMN}}}process"):
        lanes = {}
        for lane in process.iter(f"{{{BPMN}}}lane"):
            for ref in lane.findall(f"{{{BPMN}}}flowNodeRef"):
                if _text(ref):
                    lanes[_text(ref)] = lane.get("name") or lane.get("id")
        elements: dict[str, dict] = {}

        def walk(container):
            for child in container:
                name = _local(child)
                if not name or name in SKIPPED or child.get("id") is None:
                    continue
                elements[child.get("id")] = _describe(child, lanes)
                if name in CONTAINERS:
                    walk(child)
        walk(process)
        processes[process.get("id")] = elements
    return processes


def _all_processes(files: dict[str, str]) -> dict[str, dict[str, dict]]:
    found: dict[str, dict[str, dict]] = {}
    for path, text in sorted(files.items()):
        if path.lower().endswith((".bpmn", ".bpmn20.xml")):
            found.update(bpmn_elements(text))
    return found


def diff_processes(old: dict[str, str], new: dict[str, str]) -> dict:
    before, after = _all_processes(old), _all_processes(new)
    result = {}
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key), after.get(key)
        entry = {"status": "added" if a is None else "removed" if b is None else "kept",
                 "added": [], "removed": [], "changed": []}
        a, b = a or {}, b or {}
        for element_id in sorted(set(b) - set(a)):
            entry["added"].append({"id": element_id, **_head(b[element_id])})
        for element_id in sorted(set(a) - set(b)):
            entry["removed"].append({"id": element_id, **_head(a[element_id])})
        for element_id in sorted(set(a) & set(b)):
            if a[element_id] != b[element_id]:
                changes = {field: {"from": a[element_id].get(field), "to": b[element_id].get(field)}
                           for field in sorted(set(a[element_id]) | set(b[element_id]))
                           if a[element_id].get(field) != b[element_id].get(field)}
                entry["changed"].append({"id": element_id, **_head(b[element_id]), "changes": changes})
        if entry["status"] != "kept" or entry["added"] or entry["removed"] or entry["changed"]:
            result[key] = entry
    return result


def _head(props: dict) -> dict:
    return {"type": props.get("type"), "name": props.get("name")}


# ---------------------------------------------------------------- JSON (forms, messages, vocabulary)
def json_changes(a, b, path: str = "") -> list[dict]:
    """JSON pointer changes from `a` to `b` (RFC 6901 paths; lists compared by index)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            sub = f"{path}/{str(key).replace('~', '~0').replace('/', '~1')}"
            if key not in a:
                out.append({"path": sub, "op": "added", "to": b[key]})
            elif key not in b:
                out.append({"path": sub, "op": "removed", "from": a[key]})
            else:
                out.extend(json_changes(a[key], b[key], sub))
        return out
    if isinstance(a, list) and isinstance(b, list):
        out = []
        for index in range(max(len(a), len(b))):
            sub = f"{path}/{index}"
            if index >= len(a):
                out.append({"path": sub, "op": "added", "to": b[index]})
            elif index >= len(b):
                out.append({"path": sub, "op": "removed", "from": a[index]})
            else:
                out.extend(json_changes(a[index], b[index], sub))
        return out
    if a != b or type(a) is not type(b):
        return [{"path": path or "/", "op": "changed", "from": a, "to": b}]
    return []


def _json(text: str | None):
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return {"unparsable": text}


def diff_named_json(old: dict[str, str], new: dict[str, str]) -> dict:
    out = {"added": sorted(set(new) - set(old)), "removed": sorted(set(old) - set(new)), "changed": []}
    for name in sorted(set(old) & set(new)):
        changes = json_changes(_json(old[name]), _json(new[name]))
        if changes:
            out["changed"].append({"name": name, "changes": changes})
    return out


# ---------------------------------------------------------------- DMN
def dmn_rules(text: str) -> dict[str, dict]:
    """{decision id: {"inputs": [labels], "outputs": [labels], "hit_policy", "rules": {rule id: {...}}}}."""
    root = _parse(text)
    if root is None:
        return {}
    decisions = {}
    for decision in root.iter():
        if _local(decision) != "decision":
            continue
        table = next((c for c in decision if _local(c) == "decisionTable"), None)
        if table is None:
            continue
        inputs, outputs, rules = [], [], {}
        for child in table:
            name = _local(child)
            if name == "input":
                expression = next((_text(e) for e in child.iter() if _local(e) == "text"), None)
                inputs.append(child.get("label") or expression or child.get("id"))
            elif name == "output":
                outputs.append(child.get("name") or child.get("label") or child.get("id"))
            elif name == "rule":
                rules[child.get("id")] = {
                    "inputs": [_text(next((t for t in e if _local(t) == "text"), None))
                               for e in child if _local(e) == "inputEntry"],
                    "outputs": [_text(next((t for t in e if _local(t) == "text"), None))
                                for e in child if _local(e) == "outputEntry"],
                    # the rule's annotation: what the owner wrote about why (dmn-js keeps it in <description>)
                    "annotation": " ".join(filter(None, [_text(e) for e in child if _local(e) == "description"] + [
                        _text(next((t for t in e if _local(t) == "text"), None))
                        for e in child if _local(e) == "annotationEntry"])) or None,
                    "order": len(rules)}
        decisions[decision.get("id")] = {"inputs": inputs, "outputs": outputs,
                                         "hit_policy": table.get("hitPolicy", "UNIQUE"), "rules": rules}
    return decisions


def diff_decisions(old: dict[str, str], new: dict[str, str]) -> dict:
    def collect(files):
        found = {}
        for path, text in sorted(files.items()):
            if path.lower().endswith(".dmn"):
                found.update(dmn_rules(text))
        return found
    before, after = collect(old), collect(new)
    result = {}
    for key in sorted(set(before) | set(after)):
        a, b = before.get(key) or {"rules": {}}, after.get(key) or {"rules": {}}
        entry = {"status": "added" if key not in before else "removed" if key not in after else "kept",
                 "added": sorted(set(b["rules"]) - set(a["rules"])),
                 "removed": sorted(set(a["rules"]) - set(b["rules"])), "changed": []}
        if a.get("hit_policy") != b.get("hit_policy") and entry["status"] == "kept":
            entry["hit_policy"] = {"from": a.get("hit_policy"), "to": b.get("hit_policy")}
        for rule_id in sorted(set(a["rules"]) & set(b["rules"])):
            ra, rb = a["rules"][rule_id], b["rules"][rule_id]
            change = {"rule_id": rule_id}
            for side, labels in (("inputs", b.get("inputs", [])), ("outputs", b.get("outputs", []))):
                cells = {}
                for index in range(max(len(ra[side]), len(rb[side]))):
                    va = ra[side][index] if index < len(ra[side]) else None
                    vb = rb[side][index] if index < len(rb[side]) else None
                    if va != vb:
                        cells[labels[index] if index < len(labels) else str(index)] = {"from": va, "to": vb}
                if cells:
                    change[side] = cells
            if ra.get("annotation") != rb.get("annotation"):
                change["annotation"] = {"from": ra.get("annotation"), "to": rb.get("annotation")}
            if ra["order"] != rb["order"]:
                change["order"] = {"from": ra["order"], "to": rb["order"]}
            if len(change) > 1:
                entry["changed"].append(change)
        if entry["status"] != "kept" or entry["added"] or entry["removed"] or entry["changed"] or "hit_policy" in entry:
            result[key] = entry
    return result


# ---------------------------------------------------------------- templates
def _templates(files: dict[str, str]) -> dict[str, str]:
    out = {}
    for path, text in files.items():
        p = PurePosixPath(path)
        if len(p.parts) == 3 and p.parts[0] == "templates" and p.suffix == ".j2":
            out[f"{p.parts[1]}/{p.stem}"] = text
    return out


def diff_templates(old: dict[str, str], new: dict[str, str]) -> dict:
    a, b = _templates(old), _templates(new)
    changed = []
    for key in sorted(set(a) & set(b)):
        if a[key] != b[key]:
            lang, template_id = key.split("/", 1)
            changed.append({"lang": lang, "id": template_id, "diff": "".join(difflib.unified_diff(
                a[key].splitlines(keepends=True), b[key].splitlines(keepends=True),
                fromfile=f"deployed/templates/{key}.j2", tofile=f"draft/templates/{key}.j2"))})
    split = lambda keys: [{"lang": k.split("/", 1)[0], "id": k.split("/", 1)[1]} for k in sorted(keys)]  # noqa: E731
    return {"added": split(set(b) - set(a)), "removed": split(set(a) - set(b)), "changed": changed}


def diff_bundles(old_files: dict[str, str], old_forms: dict[str, str],
                 new_files: dict[str, str], new_forms: dict[str, str]) -> dict:
    """Everything a draft changes: processes, forms, decisions, templates, messages.json, vocabulary.json."""
    def data_file(files, name):
        return _json(files.get(name))
    return {
        "processes": diff_processes(old_files, new_files),
        "forms": diff_named_json(old_forms, new_forms),
        "decisions": diff_decisions(old_files, new_files),
        "templates": diff_templates(old_files, new_files),
        "messages": json_changes(data_file(old_files, "messages.json"), data_file(new_files, "messages.json")),
        "vocabulary": json_changes(data_file(old_files, "vocabulary.json"),
                                   data_file(new_files, "vocabulary.json")),
    }
