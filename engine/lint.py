"""The studio's checks (issue 19): mistakes a process owner makes that SpiffWorkflow accepts at
deploy time and that fail (or silently do the wrong thing) when a case reaches them, some of it a
year later. A mixin of `engine.bundle._Loader`: each check reports through `self.report` with a
stable `code` and a severity ("error" blocks a deploy, "warning" does not), in a process owner's
words: which element, what happens at run time, what to do.

Also the files from other tools (Camunda Modeler, SpiffWorkflow's own test corpus): Camunda
attributes and extension elements that nothing reads, data stores, several executable pools.
"""
from __future__ import annotations

import ast
import builtins
import difflib
import functools
import itertools
import json

from jinja2 import nodes
from lxml import etree

CAMUNDA = "http://camunda.org/schema/1.0/bpmn"
CAMUNDA_DMN = "http://camunda.org/schema/1.0/dmn"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN, "spiffworkflow": SPIFF}
# What a Camunda attribute meant, and what our engine reads instead.
CAMUNDA_INSTEAD = {
    "candidateGroups": "put the task in a bpmn:lane named after the group (lane 'HR' -> group hr)",
    "candidateUsers": "put the task in a lane; a named person comes from the case's lane_owners",
    "assignee": "put the task in a lane; a named person comes from the case's lane_owners",
    "formKey": "add the spiffworkflow:property formJsonSchemaFilename (a JSON Schema file in forms/)",
    "formRef": "add the spiffworkflow:property formJsonSchemaFilename (a JSON Schema file in forms/)",
    "asyncBefore": "nothing: every step runs in its own unit of work already; remove it",
    "asyncAfter": "nothing: every step runs in its own unit of work already; remove it",
    "exclusive": "nothing: remove it",
    "jobPriority": "nothing: remove it",
    "dueDate": "a timer boundary event on the task (its due date is the timer's)",
    "followUpDate": "a non-interrupting timer boundary event",
    "priority": "nothing: remove it",
    "class": "a spiffworkflow:serviceTaskOperator (notify or http, docs/engine.md)",
    "expression": "a script task (Python)",
    "delegateExpression": "a spiffworkflow:serviceTaskOperator (notify or http, docs/engine.md)",
    "type": "a spiffworkflow:serviceTaskOperator (notify or http, docs/engine.md)",
    "topic": "a spiffworkflow:serviceTaskOperator (notify or http, docs/engine.md)",
    "resultVariable": "assign the result in the script itself",
    "decisionRef": "spiffworkflow:calledDecisionId in the task's extensionElements",
    "calledElementBinding": "nothing: a call activity calls the deployed process of that id",
    "versionTag": "nothing: every deploy makes a version",
    "historyTimeToLive": "nothing: retention is the archive's (recall privacy)",
    "isStartableInTasklist": "the process's start form (forms/<process>.start.schema.json)",
    "initiator": "nothing: the starter is recorded in the audit",
    "inputVariable": "name the input in the expression itself",
}
CAMUNDA_ELEMENT_INSTEAD = {
    "inputOutput": "script tasks or spiffworkflow:preScript/postScript to map variables",
    "formData": "a JSON Schema form file (spiffworkflow:property formJsonSchemaFilename)",
    "formField": "a JSON Schema form file (spiffworkflow:property formJsonSchemaFilename)",
    "taskListener": "a spiffworkflow:preScript or postScript",
    "executionListener": "a spiffworkflow:preScript or postScript",
    "properties": "spiffworkflow:properties",
    "in": "call activities pass the whole case data; nothing to map",
    "out": "call activities return the whole case data; nothing to map",
    "connector": "a spiffworkflow:serviceTaskOperator (notify or http, docs/engine.md)",
    "field": "spiffworkflow:parameters of a serviceTaskOperator",
    "failedJobRetryTimeCycle": "nothing: remove it (a failed step is retried by `recall retry`)",
}
# Data a case has without any form, start variable or script: what the engine itself puts in.
ENGINE_CONTEXT = frozenset({
    "candidate_name", "candidate_id", "needs", "role", "lang", "decline_reason", "decline_date", "stage",
    "template_id", "suggestion_template_id", "open_questions", "case_id", "instance_id", "process_key",
    "lane_owners", "today", "now", "signal", "reply", "message_sent", "suggested_message",
})
COMPARE_VALUE = (ast.Eq, ast.NotEq, ast.In, ast.NotIn)
_FLOW_NODES = set("""boundaryEvent businessRuleTask callActivity complexGateway endEvent eventBasedGateway
    exclusiveGateway inclusiveGateway intermediateCatchEvent intermediateThrowEvent manualTask parallelGateway
    receiveTask scriptTask sendTask serviceTask startEvent subProcess task transaction userTask""".split())


def _local(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _literal(node):
    """(True, value) for a literal (string, number, bool, None, -number), else (False, None)."""
    try:
        return True, ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


class StudioChecks:
    """Mixin of engine.bundle._Loader (uses self.report, self.docs, self.bundle, self._ok...)."""

    # -- names a case may hold ----------------------------------------------
    def known_names(self) -> set[str]:
        if getattr(self, "_known", None) is not None:
            return self._known
        from .forms import RESERVED_VARIABLES
        from .scripting import _BUILTINS, _HELPERS
        known = set(ENGINE_CONTEXT) | set(RESERVED_VARIABLES) | set(_BUILTINS) | set(_HELPERS)
        known |= set(dir(builtins))
        for doc in self._ok("bpmn"):
            for xpath in (".//bpmn:script", ".//spiffworkflow:preScript", ".//spiffworkflow:postScript"):
                for el in doc.root.xpath(xpath, namespaces=NS):
                    known |= _assigned(el.text or "")
            for el in doc.root.xpath(".//spiffworkflow:messageVariable | .//spiffworkflow:resultVariable",
                                     namespaces=NS):
                known.add((el.text or "").strip())
            for el in doc.root.xpath(".//bpmn:dataObject | .//bpmn:dataObjectReference | .//bpmn:dataInput"
                                     " | .//bpmn:dataOutput | .//bpmn:correlationProperty", namespaces=NS):
                known.update(filter(None, (el.get("id"), el.get("name"))))
            for el in doc.root.xpath(".//spiffworkflow:processVariableCorrelation/spiffworkflow:propertyId",
                                     namespaces=NS):
                known.add((el.text or "").strip())
        for doc in self._ok("dmn"):
            ns = etree.QName(doc.root).namespace
            known.update(o.get("name") for o in doc.root.iter(f"{{{ns}}}output") if o.get("name"))
        for form in self._all_forms().values():
            known |= _properties(form)
        self._known = known
        return known

    def _all_forms(self) -> dict[str, dict]:
        """Every JSON file in the forms directory (a start variable may be declared by any of them)."""
        forms = dict(self.bundle.forms)
        if self.forms_dir.is_dir():
            for path in sorted(self.forms_dir.glob("*.json")):
                if path.name not in forms:
                    try:
                        value = json.loads(path.read_text(encoding="utf-8"))
                    except (OSError, ValueError):
                        continue
                    if isinstance(value, dict):
                        forms[path.name] = value
        return forms

    # -- gateways ----------------------------------------------------------
    def check_gateway_coverage(self, doc) -> None:
        """An exclusive/inclusive gateway whose conditions can all be false and that has no default."""
        domains = self._enum_domains()
        for gateway in doc.root.xpath(".//bpmn:exclusiveGateway | .//bpmn:inclusiveGateway", namespaces=NS):
            if gateway.get("default"):
                continue
            container = gateway.getparent()
            flows = container.xpath("bpmn:sequenceFlow[@sourceRef=$id]", namespaces=NS, id=gateway.get("id"))
            conditions = [(f.findtext("bpmn:conditionExpression", None, NS) or "").strip() for f in flows]
            if len(flows) < 2 or not all(conditions):
                continue                    # one way out, or a bare flow: reported by check_gateways
            kind = _local(gateway).replace("Gateway", "")
            name = gateway.get("name") or gateway.get("id")
            verdict = _coverage(conditions, domains)
            if verdict is True:
                continue
            if isinstance(verdict, tuple):
                variable, value = verdict
                self.report(doc.name, gateway, f"{kind} gateway {name!r}: when {variable} is {value!r} none of "
                            "its conditions holds and it has no default flow, so the case stops with an error "
                            "there; add a default flow (or a condition for that value)",
                            code="gateway-not-covered")
            else:
                self.report(doc.name, gateway, f"{kind} gateway {name!r} has no default flow: if no condition "
                            "holds the case stops with an error there; mark one flow as the default",
                            code="gateway-no-default", severity="warning")

    def _enum_domains(self) -> dict[str, list]:
        """Variable -> the values a form lets HR choose (its enum), when every form agrees."""
        domains: dict[str, list] = {}
        for form in self._all_forms().values():
            for key, prop in _flat_properties(form):
                values = prop.get("enum") or [o.get("const") for o in prop.get("oneOf", []) if isinstance(o, dict)]
                if values and all(v is not None for v in values):
                    domains[key] = list(values) if key not in domains else domains[key] + [
                        v for v in values if v not in domains[key]]
        return domains

    # -- unquoted strings --------------------------------------------------
    def check_unquoted_names(self, doc) -> None:
        """A bare name in a script or condition that nothing assigns: almost always a string the
        owner forgot to quote (`outcome == sent`); it fails with a NameError when the case gets there."""
        known = self.known_names()
        sources = [(".//bpmn:scriptTask/bpmn:script", "exec", "script"),
                   (".//spiffworkflow:preScript", "exec", "pre-script"),
                   (".//spiffworkflow:postScript", "exec", "post-script"),
                   (".//bpmn:sequenceFlow/bpmn:conditionExpression", "eval", "condition"),
                   (".//bpmn:conditionalEventDefinition/bpmn:condition", "eval", "condition")]
        for xpath, mode, what in sources:
            for el in doc.root.xpath(xpath, namespaces=NS):
                try:
                    tree = ast.parse((el.text or "").strip(), mode=mode)
                except (SyntaxError, ValueError):
                    continue                            # reported by check_expressions
                local = _assigned_tree(tree)
                for node, as_value in _loaded_names(tree):
                    if node.id in known or node.id in local:
                        continue
                    line = (el.sourceline or 0) + (node.lineno - 1 if mode == "exec" else 0) or None
                    guess = difflib.get_close_matches(node.id, sorted(known), n=1, cutoff=0.8)
                    if as_value:
                        self.report(doc.name, el, f"{what} compares with {node.id}, which no form, start variable "
                                    f"or script sets: did you mean '{node.id}' (a text, in quotes)? As written the "
                                    "case stops with an error when it gets here", line=line, code="unquoted-string")
                    else:
                        hint = f" (did you mean {guess[0]}?)" if guess else ""
                        self.report(doc.name, el, f"{what} uses {node.id}, which no form, start variable, script "
                                    f"or decision sets{hint}: the case stops with an error here if it is "
                                    "still unset", line=line, code="unknown-variable", severity="warning")

    # -- messages nobody sends, loops nobody leaves ---------------------------
    def check_message_senders(self) -> None:
        """Without workflows/messages.json, a message a process waits for that no process of the bundle
        sends can only come through the API: say so (with the file, the existing check already refuses
        a caught message that is not declared)."""
        if self.messages_path is not None:
            return
        thrown = set()
        throwers = ("intermediateThrowEvent", "endEvent", "sendTask")
        for doc in self._ok("bpmn"):
            names = {m.get("id"): m.get("name") or m.get("id") for m in doc.root.iterfind("bpmn:message", NS)}
            for definition in doc.root.iterfind(".//bpmn:messageEventDefinition", NS):
                if _local(definition.getparent()) in throwers:
                    thrown.add(names.get(definition.get("messageRef")))
            for task in doc.root.iterfind(".//bpmn:sendTask", NS):
                thrown.add(names.get(task.get("messageRef")))
        for doc in self._ok("bpmn"):
            for message in doc.root.iterfind("bpmn:message", NS):
                name = message.get("name") or message.get("id")
                if name not in thrown and self._caught(doc, message.get("id")):
                    self.report(doc.name, message, f"message {name!r} is waited for, but no process in this bundle "
                                "sends it: only a delivery through the API (POST /messages) can move these cases "
                                f"on; declare it in {self.bundle_messages_label()} to say who sends it",
                                code="message-never-sent", severity="warning")

    def bundle_messages_label(self) -> str:
        base = next((p for p in self.paths if p.is_dir()), None)
        return f"{base.name}/messages.json" if base is not None else "messages.json"

    def check_dead_ends(self, doc) -> None:
        """An element from which no path reaches an end (a loop without a way out): a case that gets there
        never finishes. Containers left by other means (boundary events on them, event sub-processes,
        terminate ends) are not judged."""
        for container in doc.root.iter(*(f"{{{BPMN}}}{c}" for c in ("process", "subProcess", "transaction"))):
            if container.get("triggeredByEvent") == "true":
                continue
            if container.xpath("bpmn:subProcess[@triggeredByEvent='true'] | .//bpmn:terminateEventDefinition",
                               namespaces=NS):
                continue
            cid = container.get("id")
            if cid and doc.root.xpath("//bpmn:boundaryEvent[@attachedToRef=$id]", namespaces=NS, id=cid):
                continue
            nodes = {el.get("id"): el for el in container if el.get("id") and _local(el) in _FLOW_NODES}
            edges: dict[str, set] = {n: set() for n in nodes}
            for flow in container.iterfind("bpmn:sequenceFlow", NS):
                if flow.get("sourceRef") in edges:
                    edges[flow.get("sourceRef")].add(flow.get("targetRef"))
            for boundary in container.iterfind("bpmn:boundaryEvent", NS):
                if boundary.get("attachedToRef") in edges:
                    edges[boundary.get("attachedToRef")].add(boundary.get("id"))
            reaches = {n for n, out in edges.items() if not out or _local(nodes[n]) == "endEvent"}
            changed = True
            while changed:
                changed = False
                for n, out in edges.items():
                    if n not in reaches and out & reaches:
                        reaches.add(n)
                        changed = True
            for n in nodes:
                if n not in reaches and _local(nodes[n]) != "boundaryEvent":
                    self.report(doc.name, nodes[n], "no path reaches an end from here: a case that gets here goes "
                                "round without a way out and never finishes; add a way out of the loop (a "
                                "condition, a timer or an end event)", code="no-path-to-end", severity="warning")
                    break                               # one per loop is enough

    # -- lanes -------------------------------------------------------------
    def check_lanes(self, doc) -> None:
        from .sidetables import lane_group
        from .users import DEFAULT_GROUPS
        from .vocabulary import GROUPS           # the groups the workspace knows by name
        groups = {g for gs in DEFAULT_GROUPS.values() for g in gs} | set(GROUPS)
        for lane in doc.root.iterfind(".//bpmn:lane", NS):
            if lane.find("bpmn:childLaneSet", NS) is not None:
                continue
            group = lane_group(lane.get("name"))
            if group is None:
                self.report(doc.name, lane, "lane has no name: its tasks would go to no group's queue; name the "
                            "lane after the group that does them (e.g. 'HR')", code="lane-no-group")
            elif group not in groups:
                self.report(doc.name, lane, f"lane {lane.get('name')!r} gives its tasks to group {group!r}, which is not "
                            f"a known group ({', '.join(sorted(groups))}): nobody sees them unless users are "
                            f"put in that group (recall users add --groups {group})", code="lane-no-group",
                            severity="warning")

    # -- forms -------------------------------------------------------------
    def check_form_fields(self, doc) -> None:
        """Required fields nobody can fill; enum and enumNames of different lengths."""
        for task in doc.root.iterfind(".//bpmn:userTask", NS):
            props = {p.get("name"): p.get("value") for p in task.iterfind(
                "bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)}
            schema = self.bundle.forms.get(props.get("formJsonSchemaFilename") or "")
            ui = self.bundle.forms.get(props.get("formUiSchemaFilename") or "") or {}
            if not isinstance(schema, dict):
                continue
            name = props.get("formJsonSchemaFilename")
            for path, sub, ui_sub in _objects(schema, ui):
                fields = sub.get("properties") if isinstance(sub.get("properties"), dict) else {}
                for field in sub.get("required") or []:
                    where = f"{path}{field}"
                    if field not in fields:
                        self.report(doc.name, task, f"form {name}: field {where!r} is required but not in the "
                                    "form's properties, so HR can never submit it; add the field or drop it from "
                                    "required", code="form-required-unfillable")
                        continue
                    options = ui_sub.get(field) if isinstance(ui_sub.get(field), dict) else {}
                    blocked = [k for k in ("ui:readonly", "ui:disabled") if options.get(k) is True]
                    blocked += ["hidden"] if options.get("ui:widget") == "hidden" else []
                    blocked += ["readOnly"] if fields[field].get("readOnly") is True else []
                    if blocked and "default" not in fields[field]:
                        self.report(doc.name, task, f"form {name}: field {where!r} is required but {blocked[0]} "
                                    "(HR cannot fill it) and has no default, so the form can never be "
                                    "submitted unless the case already holds it", code="form-required-unfillable",
                                    severity="warning")
                for field, prop in fields.items():
                    if not isinstance(prop, dict):
                        continue
                    items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
                    enum = prop.get("enum") or items.get("enum")
                    options = ui_sub.get(field) if isinstance(ui_sub.get(field), dict) else {}
                    names = options.get("ui:enumNames") or prop.get("enumNames")
                    if isinstance(enum, list) and isinstance(names, list) and len(enum) != len(names):
                        self.report(doc.name, task, f"form {name}: field {path}{field} has {len(enum)} values but "
                                    f"{len(names)} ui:enumNames; HR picks a label and the case stores the value "
                                    "at the same position, so labels and values no longer match; give one label "
                                    "per value", code="form-enum-names-length")

    # -- Camunda, data stores, several pools --------------------------------
    def check_foreign(self, doc) -> None:
        for el in doc.root.iter(etree.Element):
            for attr in el.attrib:
                q = etree.QName(attr)
                if q.namespace == CAMUNDA:
                    instead = CAMUNDA_INSTEAD.get(q.localname, "nothing reads it; remove it")
                    self.report(doc.name, el, f"camunda:{q.localname} is ignored by this engine (nothing reads "
                                f"Camunda attributes); instead: {instead}", code="camunda-attribute-ignored",
                                severity="warning")
            if isinstance(el.tag, str) and etree.QName(el).namespace == CAMUNDA \
                    and _local(el.getparent()) == "extensionElements":
                instead = CAMUNDA_ELEMENT_INSTEAD.get(_local(el), "nothing reads it; remove it")
                self.report(doc.name, el.getparent().getparent(), f"camunda:{_local(el)} is ignored by this engine; "
                            f"instead: {instead}", line=el.sourceline, code="camunda-extension-ignored",
                            severity="warning")
        for el in doc.root.xpath(".//bpmn:dataStore | .//bpmn:dataStoreReference", namespaces=NS):
            self.report(doc.name, el, f"bpmn:{_local(el)} is not supported: this engine keeps a case's data in "
                        "the case itself; use a data object or a variable set by a script or form",
                        code="data-store-unsupported")
        executable = [p for p in doc.root.findall("bpmn:process", NS) if p.get("isExecutable", "true") == "true"]
        if len(executable) > 1:
            ids = ", ".join(p.get("id") for p in executable)
            self.report(doc.name, executable[1], f"this file has {len(executable)} executable processes ({ids}), "
                        "a collaboration of several pools; one file deploys one process: keep the pool this "
                        "engine runs executable (isExecutable=\"true\") and set isExecutable=\"false\" on the "
                        "others, or put each in its own file named <process id>.bpmn",
                        code="several-executable-processes")

    # -- DMN ---------------------------------------------------------------
    def check_dmn_cells(self, doc) -> None:
        ns = {"dmn": etree.QName(doc.root).namespace}
        for table in doc.root.iterfind(".//dmn:decisionTable", ns):
            inputs = table.findall("dmn:input", ns)
            rules = table.findall("dmn:rule", ns)
            for rule in rules:
                for entry in rule.findall("dmn:inputEntry", ns) + rule.findall("dmn:outputEntry", ns):
                    text = entry.find("dmn:text", ns)
                    raw = text.text if text is not None else None
                    problem = _feel(raw or "", output=_local(entry) == "outputEntry")
                    if problem:
                        self.report(doc.name, entry, problem, code="dmn-feel")
            if table.get("hitPolicy", "UNIQUE").upper() == "UNIQUE":
                cells = [[_cell_values(e.findtext("dmn:text", "", ns)) for e in r.findall("dmn:inputEntry", ns)]
                         for r in rules]
                labels = [i.get("label") or i.findtext("dmn:inputExpression/dmn:text", "", ns) or i.get("id")
                          for i in inputs]
                fallbacks = set()               # one warning per fallback rule, not one per rule before it
                for (a, ra), (b, rb) in itertools.combinations(list(zip(rules, cells)), 2):
                    example = _overlap(ra, rb)
                    if example is None or (b.get("id") in fallbacks and _covers(rb, ra)):
                        continue
                    when = " and ".join(f"{labels[i]} is {v!r}" for i, v in enumerate(example)
                                        if i < len(labels) and v is not _ANY) or "always"
                    if _covers(rb, ra) and not _covers(ra, rb):   # a later, broader rule: an "otherwise"
                        fallbacks.add(b.get("id"))
                        self.report(doc.name, b, f"rules {a.get('id')} and {b.get('id')} both match when {when}; "
                                    f"{b.get('id')} works as a fallback only because SpiffWorkflow takes the first "
                                    "match; say so with the FIRST hit policy", code="dmn-unique-overlap",
                                    severity="warning")
                        continue
                    self.report(doc.name, b, f"rules {a.get('id')} and {b.get('id')} both match when {when}; "
                                f"under the UNIQUE hit policy SpiffWorkflow silently takes {a.get('id')} and "
                                f"{b.get('id')} is never used there; make the rules exclusive (or use the FIRST "
                                "hit policy and put the specific rule first)", code="dmn-unique-overlap")

    # -- templates ---------------------------------------------------------
    def check_template_refs(self) -> None:
        """Template ids a decision outputs must have a file in every language; templates use only
        variables something sets."""
        from .templates import LANGUAGES, TEMPLATE_VAR, _environment
        templates = self.bundle.templates
        ids = {key.split("/", 1)[1] for key in templates}
        for template_id in sorted(ids):
            missing = [lang for lang in LANGUAGES if f"{lang}/{template_id}" not in templates]
            for lang in missing:
                have = next(lang for lang in LANGUAGES if f"{lang}/{template_id}" in templates)
                self.report(f"{self._templates_label()}/{have}/{template_id}.j2", None, f"template {template_id} "
                            f"has no {lang} version: a case in {lang} gets no suggested message at that step; add "
                            f"templates/{lang}/{template_id}.j2", line=1, element_id=template_id,
                            code="template-missing-language")
        for doc in self._ok("dmn"):
            ns = {"dmn": etree.QName(doc.root).namespace}
            for table in doc.root.iterfind(".//dmn:decisionTable", ns):
                outputs = [o.get("name") for o in table.findall("dmn:output", ns)]
                for rule in table.findall("dmn:rule", ns):
                    for i, entry in enumerate(rule.findall("dmn:outputEntry", ns)):
                        if i >= len(outputs) or outputs[i] not in ("template_id", TEMPLATE_VAR):
                            continue
                        ok, value = _literal_text(entry.findtext("dmn:text", "", ns))
                        if ok and isinstance(value, str) and templates and value not in ids:
                            self.report(doc.name, entry, f"rule {rule.get('id')} picks template {value!r}, but no "
                                        f"templates/<zh|en>/{value}.j2 exists: those cases get no suggested "
                                        "message", code="template-unknown")
        if not templates:
            return
        known = self.known_names() | {"role", "lang", "loop", "range", "dict", "namespace", "joiner", "cycler"}
        env = _environment({}, autoescape=False)
        for key, source in sorted(templates.items()):
            try:
                names = _template_names(env, source)
            except Exception:  # noqa: BLE001 - a syntax error is reported by read_templates
                continue
            for name in sorted(names - known):
                line = next((n + 1 for n, text in enumerate(source.splitlines()) if name in text), None)
                self.report(f"{self._templates_label()}/{key}.j2", None, f"template uses {name}, which no form, "
                            "start variable, script or decision sets: rendering stops and HR gets no suggested "
                            "message", line=line, element_id=key.split("/", 1)[1], code="template-unknown-variable")

    def _templates_label(self) -> str:
        base = next((p for p in self.paths if p.is_dir()), None)
        return f"{base.name}/templates" if base is not None else "templates"


# -- helpers -------------------------------------------------------------------
_ANY = object()


@functools.lru_cache(maxsize=512)
def _template_names_cached(source: str) -> frozenset[str]:
    from .templates import _environment
    tree = _environment({}, autoescape=False).parse(source)
    loaded, stored = set(), set()
    for node in tree.find_all(nodes.Name):
        (loaded if node.ctx == "load" else stored).add(node.name)
    for node in tree.find_all(nodes.Macro):
        stored.add(node.name)
    return frozenset(loaded - stored)


def _template_names(env, source: str) -> set[str]:
    """Variables a template reads and never sets itself (without compiling it: jinja2.meta compiles)."""
    return set(_template_names_cached(source))


def _assigned(source: str) -> set[str]:
    try:
        return _assigned_tree(ast.parse(source.strip()))
    except (SyntaxError, ValueError):
        return set()


def _assigned_tree(tree) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            out.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in node.names)
    return out


def _loaded_names(tree):
    """(Name node, used as a compared value?) for every name read."""
    values = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and all(isinstance(op, COMPARE_VALUE) for op in node.ops):
            operands = [node.left, *node.comparators]
            if any(_literal(o)[0] for o in operands) or len(operands) < 2:
                continue
            for o in operands[1:]:              # `x == sent`: the right side is the value
                for item in (o.elts if isinstance(o, (ast.Tuple, ast.List, ast.Set)) else [o]):
                    if isinstance(item, ast.Name):
                        values.add(id(item))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            yield node, id(node) in values


def _properties(schema) -> set[str]:
    return {key for key, _ in _flat_properties(schema)}


def _flat_properties(schema, depth: int = 0):
    if not isinstance(schema, dict) or depth > 20:
        return
    props = schema.get("properties")
    if isinstance(props, dict):
        for key, prop in props.items():
            if isinstance(prop, dict):
                yield key, prop
                yield from _flat_properties(prop, depth + 1)
    for keyword in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(keyword) or []:
            yield from _flat_properties(sub, depth + 1)
    for keyword in ("then", "else", "if", "items"):
        yield from _flat_properties(schema.get(keyword), depth + 1)
    for sub in (schema.get("$defs") or {}).values():
        yield from _flat_properties(sub, depth + 1)


def _objects(schema, ui, path: str = "", depth: int = 0):
    """(path, object schema, its ui schema) for the form and each nested object."""
    if not isinstance(schema, dict) or depth > 10:
        return
    ui = ui if isinstance(ui, dict) else {}
    yield path, schema, ui
    for key, prop in (schema.get("properties") or {}).items() if isinstance(schema.get("properties"), dict) else ():
        if isinstance(prop, dict) and prop.get("type") == "object":
            yield from _objects(prop, ui.get(key), f"{path}{key}/", depth + 1)


def _literal_text(text: str):
    try:
        return True, ast.literal_eval((text or "").strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def _coverage(conditions: list[str], domains: dict[str, list]):
    """True: some condition always holds; (variable, value): a value none matches; None: unknown."""
    variable, accepted, rejected = None, [], []
    for text in conditions:
        try:
            node = ast.parse(text, mode="eval").body
        except SyntaxError:
            return None
        negate = False
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            negate, node = True, node.operand
        if isinstance(node, ast.Name):               # `flag` / `not flag`
            name, op, values = node.id, ast.Eq, [True]
        elif isinstance(node, ast.Compare) and len(node.ops) == 1 and isinstance(node.left, ast.Name) \
                and isinstance(node.ops[0], COMPARE_VALUE):
            name, op = node.left.id, type(node.ops[0])
            right = node.comparators[0]
            items = right.elts if op in (ast.In, ast.NotIn) and isinstance(right, (ast.Tuple, ast.List, ast.Set)) \
                else [right] if op in (ast.Eq, ast.NotEq) else None
            if items is None:
                return None
            found = [_literal(i) for i in items]
            if not all(ok for ok, _ in found):
                return None
            values = [v for _, v in found]
        else:
            return None
        if variable not in (None, name):
            return None
        variable = name
        positive = op in (ast.Eq, ast.In)
        if negate:
            positive = not positive
        (accepted if positive else rejected).append(set(map(repr, values)))
    if rejected:
        # `x != a` holds for everything but a: covered if every excluded value is accepted elsewhere
        excluded = set.intersection(*rejected)
        if excluded <= set().union(*accepted) if accepted else not excluded:
            return True
        return None
    taken = set().union(*accepted)
    domain = domains.get(variable)
    if isinstance(domain, list) and domain and all(isinstance(v, (str, int, float, bool)) for v in domain):
        missing = [v for v in domain if repr(v) not in taken]
        return (variable, missing[0]) if missing else True
    if taken <= {"True", "False"} and taken == {"True", "False"}:
        return True
    return None


_FEEL_WORDS = {"true": "True", "false": "False", "null": "None"}


def _feel(text: str, *, output: bool) -> str | None:
    """A FEEL habit in a DMN cell that SpiffWorkflow (which evaluates cells as Python) gets wrong."""
    stripped = text.strip()
    if not stripped or (stripped == "-" and not output and text == "-"):
        return None
    if stripped == "-":
        if output:
            return "output cell '-' is FEEL for 'nothing'; SpiffWorkflow evaluates cells as Python: leave it empty"
        return ("input cell '-' with spaces around it: SpiffWorkflow treats only an exact '-' as 'any value' and "
                "evaluates this one as Python, which fails; write just '-'")
    if stripped in _FEEL_WORDS:
        return (f"cell {stripped!r} is FEEL; SpiffWorkflow evaluates cells as Python, where {stripped} is an unset "
                f"variable and the decision stops with an error: write {_FEEL_WORDS[stripped]}")
    if stripped.startswith("not(") and not output:
        return (f"cell {stripped!r} is FEEL negation; as Python it compares the input with False: write "
                f"'? not in (...)' or '? != ...'")
    if ".." in stripped and stripped[:1] in "[(]" and stripped[-1:] in "[])":
        return (f"cell {stripped!r} is a FEEL range; SpiffWorkflow evaluates cells as Python: write "
                "'low <= ? <= high' (use < for an open end)")
    if not output:
        try:
            node = ast.parse(stripped, mode="eval").body
        except SyntaxError:
            return None
        if isinstance(node, ast.Tuple) and node.elts and all(_literal(e)[0] for e in node.elts):
            return (f"cell {stripped!r} is a FEEL list; as Python it compares the input with the whole tuple "
                    f"and never matches: write '? in ({stripped})'")
    return None


def _cell_values(text: str):
    """_ANY, a frozenset of values (equality / `? in (...)`), or None when the form is not analysed."""
    stripped = (text or "").strip()
    if stripped in ("", "-"):
        return _ANY
    ok, value = _literal_text(stripped)
    if ok and not isinstance(value, (tuple, list, set, dict)):
        return frozenset([repr(value)])
    if stripped.startswith("?"):
        rest = stripped[1:].strip()
        if rest.startswith("in "):
            ok, value = _literal_text(rest[3:])
            if ok and isinstance(value, (tuple, list, set)):
                return frozenset(map(repr, value))
        if rest.startswith("=="):
            ok, value = _literal_text(rest[2:])
            if ok:
                return frozenset([repr(value)])
    return None


def _overlap(a: list, b: list):
    """Per column a value both rules accept (_ANY when both accept anything), or None."""
    if len(a) != len(b):
        return None
    example = []
    for x, y in zip(a, b):
        if x is None or y is None:
            return None
        if x is _ANY and y is _ANY:
            example.append(_ANY)
            continue
        common = (y if x is _ANY else x if y is _ANY else x & y)
        if not common:
            return None
        example.append(ast.literal_eval(sorted(common)[0]))
    return example


def _covers(general: list, specific: list) -> bool:
    """Every input `specific` accepts, `general` accepts too."""
    return len(general) == len(specific) and all(
        g is _ANY or (s is not _ANY and s is not None and g is not None and s <= g) for g, s in zip(general, specific))


def camunda_namespaces(root) -> bool:
    return any(ns in (CAMUNDA, CAMUNDA_DMN) for ns in (root.nsmap or {}).values())

