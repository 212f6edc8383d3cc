"""Read, parse and validate a bundle of BPMN/DMN files and the JSON-schema forms they use.

``load_bundle`` never raises for bad content: every problem becomes a ``Diagnostic``
(``file:line: element_id: message``). Checks run on our own safely parsed lxml trees, so
one run reports independent problems across all files; SpiffWorkflow's parser then runs
as a backstop on the files that passed the XML Schema, and its errors are mapped back to
a file line (and dropped when one of our checks already reported that element).

Nothing in here may crash a validation: an exception SpiffWorkflow's parser raises that is not
its own ValidationException is located from the traceback (the innermost XML element its code
was reading) and reported at that line; a failure of one of our own checks is reported as an
`internal` diagnostic for the file it was checking, and every other check still runs
(`recall validate` exits 2 when any diagnostic is internal, 1 for an ordinary refusal).

DMN 1.2: the DMN12.xsd shipped with SpiffWorkflow 3.2 imports a DMNDI12.xsd that is really the
DI schema (wrong target namespace), so lxml cannot load it. We validate DMN 1.2 files against a
copy built in memory from the shipped XSD in which the diagram part (`dmndi:DMNDI`) is accepted
as any element of that namespace, unchecked; everything a decision runs on is still checked.
SpiffWorkflow's parser is given the DMN schemas minus 1.2 (it would try to load the broken one).
"""
from __future__ import annotations

import ast
import json
import re
import threading
import traceback
import warnings
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import cache, lru_cache
from pathlib import Path
from typing import Sequence

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnValidator
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS as DMN_SCHEMAS
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser  # VALIDATOR: built once at import
from SpiffWorkflow.spiff.parser.task_spec import SpiffTaskParser

from .forms import SEPARATE_FROM, start_schema_name
from .lint import StudioChecks
from . import message_rules, vocabulary as vocabulary_rules
from .timer_values import TIME_KINDS, iso_problems
from .scripting import compile_check
from .templates import read_templates

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_SCHEMA_ERRORS = 20  # per file
SCHEMA_2020_12 = "https://json-schema.org/draft/2020-12/schema"
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN, "spiffworkflow": SPIFF}
PREFIXES = {BPMN: "bpmn", SPIFF: "spiffworkflow", **{ns: "dmn" for ns in DMN_SCHEMAS},
            "http://www.omg.org/spec/BPMN/20100524/DI": "bpmndi",
            "http://www.omg.org/spec/DD/20100524/DC": "dc", "http://www.omg.org/spec/DD/20100524/DI": "di"}
# Flow nodes of the BPMN 2.0 XSD; those without a SpiffWorkflow parser class cannot run.
FLOW_NODES = set("""adHocSubProcess boundaryEvent businessRuleTask callActivity callChoreography
    choreographyTask complexGateway endEvent eventBasedGateway exclusiveGateway implicitThrowEvent
    inclusiveGateway intermediateCatchEvent intermediateThrowEvent manualTask parallelGateway
    receiveTask scriptTask sendTask serviceTask startEvent subChoreography subProcess task
    transaction userTask""".split())
_PARSERS = {**SpiffBpmnParser.PARSER_CLASSES, **SpiffBpmnParser.OVERRIDE_PARSER_CLASSES}
RUNNABLE = {n for n in FLOW_NODES if f"{{{BPMN}}}{n}" in _PARSERS}
CONTAINERS = {"process", "subProcess", "transaction", "adHocSubProcess"}
# Event definitions SpiffWorkflow reads per element (bpmn/parser/event_parsers.py); any other
# definition is dropped without a word and the event silently becomes a "none" event.
EVENT_DEFINITIONS = {
    "startEvent": {"message", "signal", "timer", "conditional"},
    "endEvent": {"message", "cancel", "error", "escalation", "terminate"},
    "intermediateCatchEvent": {"message", "signal", "timer", "conditional"},
    "intermediateThrowEvent": {"escalation", "message", "signal"},
    "boundaryEvent": {"cancel", "error", "escalation", "message", "signal", "timer", "conditional"},
    "sendTask": {"message"}, "receiveTask": {"message"},
}
REFS = {"messageRef": "message", "signalRef": "signal", "errorRef": "error", "escalationRef": "escalation"}
EXPRESSIONS = [  # (xpath, compile mode, what); timers and DMN are checked separately
    (".//bpmn:scriptTask/bpmn:script", "exec", "script"),
    (".//spiffworkflow:preScript", "exec", "pre-script"),
    (".//spiffworkflow:postScript", "exec", "post-script"),
    (".//bpmn:sequenceFlow/bpmn:conditionExpression", "eval", "condition"),
    (".//bpmn:conditionalEventDefinition/bpmn:condition", "eval", "condition"),
    (".//spiffworkflow:messagePayload", "eval", "message payload"),
    (".//spiffworkflow:payloadExpression", "eval", "payload expression"),
    (".//bpmn:correlationPropertyRetrievalExpression/*", "eval", "correlation retrieval expression"),
    (".//spiffworkflow:processVariableCorrelation/spiffworkflow:expression", "eval", "correlation expression"),
    (".//bpmn:loopCondition", "eval", "loop condition"),
    (".//bpmn:loopCardinality", "eval", "loop cardinality"),
    (".//bpmn:completionCondition", "eval", "completion condition"),
]
# Values a process owner meant as an ISO 8601 literal but forgot to quote (P30D, R3/PT1H, 2025-01-01...).
UNQUOTED_ISO = re.compile(r"R\d*/\S*|PT?\d\S*|\d{4}-?(\d{2}-?\d{2}|W\d{2})\S*")
DURATION_LIKE = re.compile(r"P[\dT]", re.I)
DMN_QUESTION = re.compile(r"(\?)(?=(?:[^'\"]|['\"][^'\"]*['\"])*$)")  # DMNEngine.evaluate's rule
_NO_OWNER = ("EventDefinition", "conditionExpression", "formalExpression", "messagePath",
             "script", "timeDate", "timeDuration", "timeCycle")
_LOCK = threading.Lock()  # the shared XSD validator keeps its error log on the schema object
XSD = "http://www.w3.org/2001/XMLSchema"
DMN12 = "http://www.omg.org/spec/DMN/20180521/MODEL/"
DMNDI12 = "http://www.omg.org/spec/DMN/20180521/DMNDI/"
# What SpiffWorkflow's own parse validates DMN files against: the shipped DMN 1.2 XSD does not
# load (see the module doc); DMN 1.2 files reach that parse only after passing our fixed copy.
SPIFF_DMN_SCHEMAS = {ns: path for ns, path in DMN_SCHEMAS.items() if ns != DMN12}


# The stable `code` of the diagnostics each check reports when it names none itself.
CHECK_CODES = {
    "collect": "file", "read": "file", "index-definitions": "duplicate-id", "schema": "schema",
    "process-names": "process-name", "elements": "element-unsupported", "refs": "ref-unknown",
    "calls": "call-unknown", "gateways": "gateway-flows", "expressions": "expression-invalid",
    "timers": "timer-invalid", "forms": "form-invalid", "service-tasks": "service-task", "dmn": "dmn-invalid",
    "call-cycles": "call-cycle", "with-spiff": "engine-error", "messages": "message-declaration",
    "read-templates": "template-invalid", "vocabulary": "vocabulary",
}


@dataclass(frozen=True)
class Diagnostic:
    file: str
    line: int | None
    element_id: str | None
    message: str
    internal: bool = False      # the checker failed (not the bundle): `recall validate` exits 2
    severity: str = "error"     # "error" blocks a deploy, "warning" does not
    code: str = "invalid"       # a stable slug per kind of problem ("gateway-no-default", "dmn-feel"...)
    engine_error: str | None = None  # SpiffWorkflow's own error on the same element, when it had one

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        prefix = "warning: " if self.severity == "warning" else ""      # compiler style: file:line: warning: ...
        engine = f" (SpiffWorkflow: {self.engine_error})" if self.engine_error else ""
        return f"{where}: {self.element_id or '-'}: {prefix}{self.message}{engine}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "element_id": self.element_id, "severity": self.severity,
                "code": self.code, "message": self.message + (f" (SpiffWorkflow: {self.engine_error})"
                                                              if self.engine_error else "")}


@dataclass
class Bundle:
    files: dict[str, bytes] = field(default_factory=dict)
    forms: dict[str, dict] = field(default_factory=dict)
    templates: dict[str, str] = field(default_factory=dict)   # "<lang>/<template id>" -> Jinja2 source
    messages: dict[str, message_rules.Declaration] | None = None  # workflows/messages.json; None: no file
    vocabulary: vocabulary_rules.Vocabulary | None = None    # workflows/vocabulary.json; None: no file
    parser: SpiffBpmnParser | None = None
    process_ids: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)   # errors: any of them refuses the bundle
    warnings: list[Diagnostic] = field(default_factory=list)      # shown, never blocking

    @property
    def ok(self) -> bool:
        return not self.diagnostics

    @property
    def all_diagnostics(self) -> list[Diagnostic]:
        """Errors and warnings, by file and line (what `recall validate` and POST /studio/check show)."""
        return sorted(self.diagnostics + self.warnings, key=lambda d: (d.file, d.line or 0))

    @property
    def internal_failure(self) -> bool:
        """True when a check itself failed: the bundle may have problems nobody could report."""
        return any(d.internal for d in self.diagnostics)


@dataclass
class _Doc:
    name: str        # display path
    kind: str        # "bpmn" | "dmn"
    root: etree._Element | None = None
    schema_ok: bool = False


def load_bundle(paths: Sequence[str | Path], *, forms_dir: str | Path | None = None,
                http_allow: str | None = None) -> Bundle:
    """Read, parse and validate. Never raises for bad content: every problem becomes a Diagnostic.
    `http_allow`: RECALL_HTTP_CONNECTOR_ALLOW, the hosts an `http` service task may name."""
    loader = _Loader(paths, forms_dir)
    loader.http_allow = http_allow
    return loader.run()


def _kind(path: Path) -> str | None:
    """"bpmn" for .bpmn and Camunda/Activiti's .bpmn20.xml, "dmn" for .dmn, else None."""
    name = path.name.lower()
    if name.endswith((".bpmn", ".bpmn20.xml")):
        return "bpmn"
    return "dmn" if name.endswith(".dmn") else None


def _stem(name: str) -> str:
    base = Path(name).name
    return base[:-len(".bpmn20.xml")] if base.lower().endswith(".bpmn20.xml") else Path(base).stem


def _local(el) -> str:
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


def _readable(text: str) -> str:
    for ns, prefix in PREFIXES.items():
        text = text.replace(f"{{{ns}}}", f"{prefix}:")
    return text.strip().rstrip(".")


def _owner(el) -> str | None:
    """Id of the element a problem belongs to: the event, not its timerEventDefinition."""
    while el is not None:
        if el.get("id") and not _local(el).endswith(_NO_OWNER):
            return el.get("id")
        el = el.getparent()
    return None


def _extensions(el) -> dict | None:
    """The spiffworkflow extensions exactly as SpiffWorkflow reads them; None if it would crash."""
    try:
        return SpiffTaskParser._parse_extensions(el)
    except (KeyError, IndexError, AttributeError, ValueError, TypeError):
        return None


def _errors(source: str, mode: str, line: int | None) -> list[tuple[int | None, str]]:
    """compile_check with lines moved from the expression to the file (eval mode strips the source)."""
    if line and mode == "eval":
        line += source[:len(source) - len(source.lstrip())].count("\n")
    return [((line + (n or 1) - 1) if line else None, msg) for n, msg in compile_check(source, mode)]


@cache
def _dmn_schema(namespace: str) -> etree.XMLSchema:
    if namespace == DMN12:
        return _dmn12_schema()
    return BpmnValidator(DMN_SCHEMAS[namespace]).validator


def _dmn12_schema() -> etree.XMLSchema:
    """The shipped DMN 1.2 XSD with its broken DMNDI import replaced by an unchecked wildcard."""
    tree = etree.parse(DMN_SCHEMAS[DMN12])
    xs = {"xsd": XSD}
    for imported in tree.xpath("/xsd:schema/xsd:import[@namespace=$ns]", namespaces=xs, ns=DMNDI12):
        imported.getparent().remove(imported)
    for ref in tree.xpath("//xsd:element[@ref='dmndi:DMNDI']", namespaces=xs):
        wildcard = etree.Element(f"{{{XSD}}}any", namespace=DMNDI12, processContents="skip",
                                 minOccurs=ref.get("minOccurs", "0"), maxOccurs=ref.get("maxOccurs", "1"))
        ref.getparent().replace(ref, wildcard)
    return etree.XMLSchema(tree)


@lru_cache(maxsize=256)
def _schema_problem(text: str) -> str | None:
    """'<where>: <why>' when the JSON Schema in `text` is not a valid 2020-12 schema (cached by content:
    the live check asks again on every edit)."""
    try:
        Draft202012Validator.check_schema(json.loads(text))
    except SchemaError as e:
        return f"{'/'.join(str(p) for p in e.absolute_path) or '(root)'}: {e.message}"
    return None


def _failure_element(error: BaseException):
    """The innermost XML element the failing code was working on (from the traceback's locals)."""
    found = None
    for frame, _ in traceback.walk_tb(error.__traceback__):
        candidates = [frame.f_locals.get(n) for n in ("node", "element", "el")]
        candidates += [v for k, v in frame.f_locals.items() if k.lower().endswith("element")]
        candidates.append(getattr(frame.f_locals.get("self"), "node", None))   # a parser's own element
        for value in candidates:
            if isinstance(value, etree._Element) and isinstance(value.tag, str) and value.sourceline:
                found = value
                break
    return found


class _Loader(StudioChecks):
    def __init__(self, paths, forms_dir):
        self.paths = [Path(p) for p in paths]
        self.bundle = Bundle()
        self.docs: list[_Doc] = []
        self.reported: set[tuple[str, str | None]] = set()
        first_dir = next((p for p in self.paths if p.is_dir()), None)
        if first_dir is None and self.paths:
            first_dir = self.paths[0].parent
        self.root = (first_dir or Path(".")).resolve().parent
        self.forms_dir = Path(forms_dir) if forms_dir is not None else self.root / "forms"
        self.forms_label = self._display(self.forms_dir)
        self.form_problems: dict[str, list[str]] = {}
        found = [p / message_rules.FILE_NAME for p in self.paths if p.is_dir()]
        found += [p for p in self.paths if p.name == message_rules.FILE_NAME and p.is_file()]
        self.messages_path = next((p for p in found if p.is_file()), None)
        found = [p / vocabulary_rules.FILE_NAME for p in self.paths if p.is_dir()]
        found += [p for p in self.paths if p.name == vocabulary_rules.FILE_NAME and p.is_file()]
        self.vocabulary_path = next((p for p in found if p.is_file()), None)
        self.http_allow: str | None = None
        self.check_code = "invalid"

    # -- reporting ---------------------------------------------------------
    def report(self, file: str, el, message: str, line: int | None = None, element_id: str | None = None,
               *, internal: bool = False, code: str | None = None, severity: str = "error"):
        if el is not None:
            line = line or el.sourceline
            element_id = element_id or _owner(el)
        code = "internal" if internal else code or self.check_code
        diagnostic = Diagnostic(file, line, element_id, message, internal, severity, code)
        if severity == "warning":
            self.bundle.warnings.append(diagnostic)
            return
        self.reported.add((file, element_id))
        self.bundle.diagnostics.append(diagnostic)

    def run(self) -> Bundle:
        for path in self._guarded(None, self._collect) or []:
            self._guarded(path, self._read, path)
        self._guarded(None, self.index_definitions)
        for doc in self._ok("bpmn"):
            for check in (self.check_schema, self.check_process_names, self.check_elements, self.check_refs,
                          self.check_calls, self.check_gateways, self.check_expressions, self.check_timers,
                          self.check_forms, self.check_service_tasks, self.check_gateway_coverage,
                          self.check_unquoted_names, self.check_lanes, self.check_form_fields, self.check_foreign,
                          self.check_dead_ends):
                self._guarded(doc, check, doc)
        for doc in self._ok("dmn"):
            self._guarded(doc, self.check_dmn, doc)
            self._guarded(doc, self.check_dmn_cells, doc)
        self._guarded(None, self.check_call_cycles)
        self._guarded(None, self.check_with_spiff)
        self._guarded(self.messages_path, self.check_messages)
        self._guarded(None, self.read_templates)
        self._guarded(self.vocabulary_path, self.check_vocabulary)
        self._guarded(None, self.check_template_refs)
        self._guarded(None, self.check_message_senders)
        self.bundle.process_ids = sorted({p.get("id") for d in self._ok("bpmn") for p in self._processes(d)})
        self.bundle.diagnostics.sort(key=lambda d: (d.file, d.line or 0))
        self.bundle.warnings.sort(key=lambda d: (d.file, d.line or 0))
        return self.bundle

    def _guarded(self, subject, check, *args):
        """Run one check; if it fails, report that as an internal diagnostic and go on."""
        name = getattr(check, "__name__", "check").removeprefix("check_").replace("_", "-")
        self.check_code = CHECK_CODES.get(name, name)
        try:
            return check(*args)
        except Exception as error:  # noqa: BLE001 - a broken check must not hide the other files' problems
            if isinstance(subject, _Doc):
                subject.schema_ok = False           # keep a half-checked file away from SpiffWorkflow's parse
                file = subject.name
            else:
                file = self._display(subject) if isinstance(subject, Path) else "-"
            el = _failure_element(error)
            if el is None and isinstance(subject, _Doc):
                el = subject.root
            name = getattr(check, "__name__", "check").replace("_", " ").strip()
            self.report(file, el, f"internal error in {name}: {type(error).__name__}: {error} (the bundle is "
                        "refused; the other checks still ran)", internal=True)
            return None

    def check_messages(self) -> None:
        """workflows/messages.json (see engine/message_rules.py); when present, every message a
        process catches must be declared there."""
        if self.messages_path is None:
            return
        label = self._display(self.messages_path)
        try:
            raw = self.messages_path.read_bytes()
            text = raw.decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            return self.report(label, None, f"cannot read {message_rules.FILE_NAME}: {e}", line=1)
        self.bundle.files[label] = raw
        named = {m.get("name") or m.get("id") for d in self._ok("bpmn") for m in d.root.iterfind("bpmn:message", NS)}
        declarations, problems = message_rules.read_declarations(text, known_messages=named)
        for line, name, message in problems:
            self.report(label, None, message, line=line, element_id=name)
        self.bundle.messages = declarations
        if not declarations and any(name is None for _, name, _ in problems):
            return                                  # the file itself is unreadable: said once, above
        declared = {name for name in declarations} | {name for _, name, _ in problems if name}
        for doc in self._ok("bpmn"):
            for message in doc.root.iterfind("bpmn:message", NS):
                name = message.get("name") or message.get("id")
                if name not in declared and self._caught(doc, message.get("id")):
                    self.report(doc.name, message, f"message {name!r} is caught in this file but not declared in "
                                f"{label} (say whether it may wait, and which payload fields it carries)")

    def check_vocabulary(self) -> None:
        """workflows/vocabulary.json (see engine/vocabulary.py): its reasons, stages and roles agree
        with the diagrams, the forms, the follow-up template decision and the templates."""
        if self.vocabulary_path is None:
            return
        label = self._display(self.vocabulary_path)
        try:
            text = self.vocabulary_path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as e:
            return self.report(label, None, f"cannot read {vocabulary_rules.FILE_NAME}: {e}", line=1)
        self.bundle.files[label] = text.encode("utf-8")
        vocabulary, problems = vocabulary_rules.read(text)
        for line, key, message in problems:
            self.report(label, None, message, line=line, element_id=key)
        if vocabulary is None:
            return
        self.bundle.vocabulary = vocabulary
        elements, timers, names = {}, set(), set()
        for doc in self._ok("bpmn"):
            for el in doc.root.iter(etree.Element):
                if el.get("id") and el.tag.startswith(f"{{{BPMN}}}"):
                    elements.setdefault(el.get("id"), (doc.name, _local(el), el.sourceline))
                    if el.find("bpmn:timerEventDefinition", NS) is not None:
                        timers.add(el.get("id"))
            names.update(m.get("name") or m.get("id") for m in doc.root.iterfind("bpmn:message", NS))
            names.update(m.get("name") or m.get("id") for m in doc.root.iterfind("bpmn:signal", NS))
        decisions = {}
        for doc in self._ok("dmn"):
            for decision in doc.root.iter(f"{{{etree.QName(doc.root).namespace}}}decision"):
                decisions.setdefault(decision.get("id"), (doc.name, decision))
        facts = vocabulary_rules.BundleFacts(elements, timers, names, self.bundle.forms, self.forms_label,
                                             decisions, self.bundle.templates)
        for file, line, element_id, message in vocabulary_rules.check(vocabulary, text, label, facts):
            self.report(file, None, message, line=line, element_id=element_id)

    @staticmethod
    def _caught(doc: _Doc, message_id: str | None) -> bool:
        catchers = ("startEvent", "intermediateCatchEvent", "boundaryEvent")
        for definition in doc.root.xpath("//bpmn:messageEventDefinition[@messageRef=$id]", namespaces=NS,
                                         id=message_id):
            if _local(definition.getparent()) in catchers:
                return True
        return bool(doc.root.xpath("//bpmn:receiveTask[@messageRef=$id]", namespaces=NS, id=message_id))

    def read_templates(self) -> None:
        templates, problems = read_templates([p for p in self.paths if p.is_dir()])
        self.bundle.templates = templates
        for label, line, message in problems:
            self.report(label, None, message, line=line)

    def _ok(self, kind: str) -> list[_Doc]:
        return [d for d in self.docs if d.kind == kind and d.root is not None]

    @staticmethod
    def _processes(doc: _Doc) -> list:
        return [p for p in doc.root.findall("bpmn:process", NS) if p.get("isExecutable", "true") == "true"]

    # -- reading -----------------------------------------------------------
    def _collect(self) -> list[Path]:
        found: dict[Path, None] = {}
        for path in self.paths:
            if path.is_dir():
                candidates = sorted(f for f in path.rglob("*") if f.is_file() and not f.name.startswith("."))
                found.update((f.resolve(), None) for f in candidates if _kind(f))
            elif path.is_file() and _kind(path):
                found[path.resolve()] = None
            elif path.is_file() and path.name in (message_rules.FILE_NAME, vocabulary_rules.FILE_NAME):
                continue                                    # read by check_messages / check_vocabulary
            else:
                why = "is not a .bpmn, .bpmn20.xml or .dmn file" if path.exists() else "does not exist"
                self.report(str(path), None, f"{path} {why}")
        if not found and not self.bundle.diagnostics:
            self.report(str(self.paths[0]) if self.paths else "-", None, "no .bpmn or .dmn files found")
        return list(found)

    def _display(self, path: Path) -> str:
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def _read(self, path: Path) -> None:
        doc = _Doc(self._display(path), _kind(path))
        self.docs.append(doc)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                return self.report(doc.name, None, f"file is {size} bytes, above the {MAX_FILE_BYTES} byte limit")
            data = path.read_bytes()
        except OSError as e:
            return self.report(doc.name, None, f"cannot read file: {e.strerror}")
        self.bundle.files[doc.name] = data
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as e:
            return self.report(doc.name, None, f"file is not UTF-8 encoded ({e.reason} at byte {e.start})",
                               line=data.count(b"\n", 0, e.start) + 1)
        dtd = re.search(rb"<!(DOCTYPE|ENTITY)", data, re.I)
        if dtd:
            return self.report(doc.name, None, "DOCTYPE/ENTITY declarations are not allowed (entity expansion)",
                               line=data.count(b"\n", 0, dtd.start()) + 1)
        # Comments and processing instructions are dropped: SpiffWorkflow's parser crashes on them
        # inside a scriptTask or a DMN rule (it calls .tag.endswith on every child).
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False,
                                 remove_comments=True, remove_pis=True)
        try:
            root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError as e:
            return self.report(doc.name, None, f"malformed XML: {e.msg}", line=e.lineno)
        if root.getroottree().docinfo.doctype:
            return self.report(doc.name, root, "DOCTYPE declarations are not allowed")
        ns, local = etree.QName(root).namespace, etree.QName(root).localname
        if local != "definitions" or (ns != BPMN if doc.kind == "bpmn" else ns not in DMN_SCHEMAS):
            expected = "BPMN 2.0" if doc.kind == "bpmn" else "DMN 1.1/1.2/1.3"
            return self.report(doc.name, root, f"not a {expected} definitions file (root element {_readable(root.tag)})")
        doc.root = root

    def index_definitions(self) -> None:
        """Process and decision ids -> file. A file that is not even XML counts by its stem (house
        rule), so calls into it do not cascade. SpiffWorkflow keys a DMN file by its first decision."""
        self.processes = {_stem(d.name): d.name for d in self.docs if d.root is None and d.kind == "bpmn"}
        self.decisions = {_stem(d.name): d.name for d in self.docs if d.root is None and d.kind == "dmn"}
        found = [(self.processes, d, p) for d in self._ok("bpmn") for p in self._processes(d)]
        found += [(self.decisions, d, d.root.find(f"{{{etree.QName(d.root).namespace}}}decision"))
                  for d in self._ok("dmn")]
        for index, doc, el in found:
            if el is not None and el.get("id") in index:
                self.report(doc.name, el, f"{el.get('id')!r} is also defined in {index[el.get('id')]}")
            elif el is not None:
                index[el.get("id")] = doc.name

    # -- BPMN checks -------------------------------------------------------
    def check_schema(self, doc: _Doc) -> None:
        """Every XML Schema error, not only the first one (SpiffWorkflow stops at the first)."""
        if doc.kind == "bpmn":
            VALIDATOR.preprocess(doc.root)  # SpiffWorkflow's own rewrite of bpmn-js correlation XML
            schema = VALIDATOR.validator
        else:
            schema = _dmn_schema(etree.QName(doc.root).namespace)
        with _LOCK:
            doc.schema_ok = schema.validate(doc.root)
            errors = list(schema.error_log)
        if doc.schema_ok:
            return
        by_line = {}
        for el in doc.root.iter(etree.Element):
            by_line.setdefault(el.sourceline, el)
        for error in errors[:MAX_SCHEMA_ERRORS]:
            self.report(doc.name, by_line.get(error.line), f"schema: {_readable(error.message)}", line=error.line)
        if len(errors) > MAX_SCHEMA_ERRORS:
            self.report(doc.name, None, f"{len(errors) - MAX_SCHEMA_ERRORS} more schema errors not shown")

    def check_process_names(self, doc: _Doc) -> None:
        stem, processes = _stem(doc.name), self._processes(doc)
        if not processes:
            self.report(doc.name, doc.root, "file defines no executable process")
        for process in processes:
            if process.get("id") != stem:
                self.report(doc.name, process, f"process id {process.get('id')!r} does not match the file name "
                            f"{Path(doc.name).name!r} (house rule: one process per file, named <process id>.bpmn)")

    def _containers(self, doc: _Doc):
        return (el for el in doc.root.iter(*(f"{{{BPMN}}}{c}" for c in CONTAINERS)))

    def check_elements(self, doc: _Doc) -> None:
        """Elements SpiffWorkflow rejects when reached, or drops without a word."""
        for container in self._containers(doc):
            for el in container:
                local = _local(el)
                if isinstance(el.tag, str) and el.tag.startswith(f"{{{BPMN}}}") and local in FLOW_NODES - RUNNABLE:
                    self.report(doc.name, el, f"bpmn:{local} is not supported by SpiffWorkflow")
                if local == "scriptTask" and el.find("bpmn:script", NS) is None:
                    self.report(doc.name, el, "script task has no script")
                if local == "scriptTask" and "python" not in (el.get("scriptFormat") or "python").lower():
                    self.report(doc.name, el, f"scriptFormat {el.get('scriptFormat')!r}: scripts always run as Python")
                for definition in el if local in EVENT_DEFINITIONS else ():
                    kind = _local(definition)
                    if kind == "eventDefinitionRef" or (kind.endswith("EventDefinition")
                                                        and kind[:-15] not in EVENT_DEFINITIONS[local]):
                        self.report(doc.name, definition, f"bpmn:{kind} on a bpmn:{local} is not supported by "
                                    "SpiffWorkflow (it would be ignored)")
        for start in doc.root.iterfind(".//bpmn:subProcess[@triggeredByEvent='true']/bpmn:startEvent", NS):
            kinds = {_local(d)[:-15] for d in start if _local(d).endswith("EventDefinition")}
            if not kinds:
                self.report(doc.name, start, "event sub-process start event has no trigger: SpiffWorkflow would "
                            "start the sub-process together with the process")
            elif kinds <= EVENT_DEFINITIONS["startEvent"] and start.get("isInterrupting", "true") != "false":
                self.report(doc.name, start, "SpiffWorkflow ignores isInterrupting: this event sub-process would run "
                            "alongside the process, not interrupt it (set isInterrupting=\"false\" to say so)")

    def check_refs(self, doc: _Doc) -> None:
        """SpiffWorkflow looks message/signal/error/escalation refs up in the same file; a miss is a TypeError."""
        for attr, kind in REFS.items():
            defined = set(doc.root.xpath(f"//bpmn:{kind}/@id", namespaces=NS))
            for el in doc.root.xpath(f"//*[@{attr}]"):
                if el.get(attr) not in defined:
                    self.report(doc.name, el, f"{attr} {el.get(attr)!r} does not name a bpmn:{kind} in this file")
        for message in doc.root.iterfind("bpmn:message", NS):
            if message.find("bpmn:extensionElements/spiffworkflow:messagePayload", NS) is not None \
                    or message.find("bpmn:extensionElements/spiffworkflow:messageVariable", NS) is not None:
                self.report(doc.name, message, "spiffworkflow:messagePayload/messageVariable on bpmn:message is "
                            "deprecated: put it in the event's bpmn:messageEventDefinition")

    def check_calls(self, doc: _Doc) -> None:
        for call in doc.root.iterfind(".//bpmn:callActivity", NS):
            called = call.get("calledElement")
            if not called:
                self.report(doc.name, call, "call activity has no calledElement")
            elif called not in self.processes:
                self.report(doc.name, call, f"call activity calls {called!r}, which is not an executable "
                            "process in this bundle")
        for task in doc.root.iterfind(".//bpmn:businessRuleTask", NS):
            decision = (_extensions(task) or {}).get("calledDecisionId")
            if not decision:
                self.report(doc.name, task, "business rule task has no spiffworkflow:calledDecisionId")
            elif decision not in self.decisions:
                self.report(doc.name, task, f"decision {decision!r} is not defined in any DMN file of the bundle")

    def check_call_cycles(self) -> None:
        """A process that calls itself, directly or through others, recurses without end."""
        calls: dict[str, list] = defaultdict(list)        # process id -> [(doc, callActivity)]
        for doc in self._ok("bpmn"):
            for process in self._processes(doc):
                for call in process.iterfind(".//bpmn:callActivity", NS):
                    if call.get("calledElement"):
                        calls[process.get("id")].append((doc, call))

        def path_back(start: str, target: str, seen: set) -> list[str] | None:
            for _, call in calls.get(start, []):
                called = call.get("calledElement")
                if called == target:
                    return [called]
                if called not in seen:
                    seen.add(called)
                    rest = path_back(called, target, seen)
                    if rest is not None:
                        return [called, *rest]
            return None

        for process_id, entries in calls.items():
            for doc, call in entries:
                called = call.get("calledElement")
                cycle = [called] if called == process_id else path_back(called, process_id, {called})
                if cycle is not None:
                    chain = " → ".join([process_id, *([] if called == process_id else [called]), *cycle])
                    self.report(doc.name, call, f"call activity makes {process_id!r} call itself ({chain}): "
                                "it would recurse without end")

    def check_gateways(self, doc: _Doc) -> None:
        """A flow without condition that is not the default fails at run time; one with a condition
        that SpiffWorkflow does not evaluate (default flow, flow leaving a task) is silently ignored."""
        for container in self._containers(doc):
            outgoing = defaultdict(list)
            for flow in container.iterfind("bpmn:sequenceFlow", NS):
                outgoing[flow.get("sourceRef")].append(flow)
            nodes = {el.get("id"): el for el in container if el.get("id")}
            for source, flows in outgoing.items():
                node = nodes.get(source)
                kind = _local(node) if node is not None else ""
                default = node.get("default") if kind in ("exclusiveGateway", "inclusiveGateway") else None
                for flow in flows:
                    has_condition = flow.find("bpmn:conditionExpression", NS) is not None
                    if has_condition and (flow.get("id") == default or kind in RUNNABLE - {"exclusiveGateway", "inclusiveGateway"}):
                        where = "the default flow" if default else f"a flow leaving a bpmn:{kind}"
                        self.report(doc.name, flow, f"condition on {where} is ignored by SpiffWorkflow")
                if kind not in ("exclusiveGateway", "inclusiveGateway"):
                    continue
                name = kind.replace("Gateway", "")
                bare = [f for f in flows if f.get("id") != default
                        and not f.findtext("bpmn:conditionExpression", None, NS)]
                if default and default not in {f.get("id") for f in flows}:
                    self.report(doc.name, node, f"default flow {default!r} is not an outgoing flow of {name} gateway {source}")
                elif len(flows) > 1 and bare:
                    tail = "besides the default flow" if default else "and no default flow"
                    self.report(doc.name, node, f"{name} gateway {source} has {len(bare)} outgoing "
                                f"flow{'s' if len(bare) > 1 else ''} without conditions {tail}")

    def check_expressions(self, doc: _Doc) -> None:
        for xpath, mode, what in EXPRESSIONS:
            for el in doc.root.xpath(xpath, namespaces=NS):
                if not (el.text or "").strip():
                    if what == "script":
                        self.report(doc.name, el, "script task has no script")
                    continue
                for line, message in _errors(el.text, mode, el.sourceline):
                    self.report(doc.name, el, f"{what} does not compile under the restricted policy: {message}", line=line)

    def check_service_tasks(self, doc: _Doc) -> None:
        """A service task runs one of our connectors (engine/connectors.py) or is refused here."""
        from .connectors import allow_list, check_service_task
        for task in doc.root.iterfind(".//bpmn:serviceTask", NS):
            operator = task.find("bpmn:extensionElements/spiffworkflow:serviceTaskOperator", NS)
            if operator is None:
                self.report(doc.name, task, "service task has no spiffworkflow:serviceTaskOperator: name the "
                            "connector that runs it (notify or http, docs/engine.md)")
                continue
            params = {}
            for param in operator.iterfind("spiffworkflow:parameters/spiffworkflow:parameter", NS):
                if not param.get("id") or param.get("value") is None or not param.get("type"):
                    self.report(doc.name, param, "service task parameter needs id, type and value "
                                "(value is an expression: quote a literal text)", element_id=task.get("id"))
                    continue
                params[param.get("id")] = param.get("value")
                for line, message in _errors(param.get("value"), "eval", param.sourceline):
                    self.report(doc.name, param, f"parameter {param.get('id')!r} does not compile under the "
                                f"restricted policy: {message}", line=line, element_id=task.get("id"))
            for message in check_service_task(operator.get("id"), params, allow_list(self.http_allow)):
                self.report(doc.name, task, message)

    def check_timers(self, doc: _Doc) -> None:
        for timer in doc.root.iterfind(".//bpmn:timerEventDefinition", NS):
            parts = [el for el in timer if _local(el) in TIME_KINDS]
            if len(parts) != 1:
                self.report(doc.name, timer, "timer needs exactly one of timeDate, timeDuration, timeCycle "
                            f"(found {len(parts)})")
            for part in parts:
                for message in timer_problems(_local(part), part.text):
                    self.report(doc.name, part, message, code="timer-unquoted" if "unquoted" in message else None)

    def check_forms(self, doc: _Doc) -> None:
        user_tasks = {t.get("id") for t in doc.root.iterfind(".//bpmn:userTask", NS)}
        for task in doc.root.iterfind(".//bpmn:userTask", NS):
            extensions = _extensions(task)
            if extensions is None:
                self.report(doc.name, task, "every spiffworkflow:property needs a name and a value")
                continue
            properties = extensions.get("properties", {})
            schema = properties.get("formJsonSchemaFilename")
            if not schema:
                self.report(doc.name, task, "user task has no form: add the spiffworkflow:property "
                            "formJsonSchemaFilename")
            for checked in filter(None, (p.strip() for p in properties.get(SEPARATE_FROM, "").split(","))):
                if checked not in user_tasks:     # a typo would switch the four-eyes rule off
                    self.report(doc.name, task, f"{SEPARATE_FROM} names {checked!r}, which is not a user task "
                                "in this file")
            for name, is_schema in ((schema, True), (properties.get("formUiSchemaFilename"), False)):
                if name and name not in self.form_problems:  # report each form's problems once
                    self.form_problems[name] = self._load_form(name, is_schema)
                    for message in self.form_problems[name]:
                        self.report(doc.name, task, message)
        for process in self._processes(doc):       # what a starter may send (engine/forms.py)
            name = start_schema_name(process.get("id") or "")
            if (self.forms_dir / name).is_file() and name not in self.form_problems:
                self.form_problems[name] = self._load_form(name, True)
                for message in self.form_problems[name]:
                    self.report(doc.name, process, message)

    def _load_form(self, name: str, is_schema: bool) -> list[str]:
        if Path(name).name != name or name in (".", ".."):
            return [f"form file name {name!r} must be a plain file name in the forms directory"]
        path = self.forms_dir / name
        if not self.forms_dir.is_dir():
            return [f"form file {name}: forms directory {self.forms_label} not found"]
        if not path.is_file():
            return [f"form file {name} not found in {self.forms_label}"]
        if path.stat().st_size > MAX_FILE_BYTES:
            return [f"form file {name} is above the {MAX_FILE_BYTES} byte limit"]
        try:
            raw_text = path.read_bytes().decode("utf-8")
            value = json.loads(raw_text)
        except UnicodeDecodeError:
            return [f"form file {name} is not UTF-8 encoded"]
        except json.JSONDecodeError as e:
            return [f"form file {name} is not valid JSON: line {e.lineno} column {e.colno}: {e.msg}"]
        if not isinstance(value, dict):
            return [f"form file {name} must contain a JSON object"]
        if is_schema:
            problem = _schema_problem(raw_text)
            if problem:
                return [f"form schema {name} is not a valid JSON Schema 2020-12 at {problem}"]
            if value.get("type") != "object":
                return [f'form schema {name} must have "type": "object"']
            if value.get("$schema", SCHEMA_2020_12).rstrip("#") != SCHEMA_2020_12:
                return [f"form schema {name} declares $schema {value['$schema']!r}; forms are JSON Schema 2020-12"]
        self.bundle.forms[name] = value
        return []

    # -- DMN checks --------------------------------------------------------
    def check_dmn(self, doc: _Doc) -> None:
        self.check_schema(doc)
        ns = {"dmn": etree.QName(doc.root).namespace}
        decisions = doc.root.findall(".//dmn:decision", ns)
        if len(decisions) != 1:
            self.report(doc.name, doc.root, f"DMN file defines {len(decisions)} decisions; SpiffWorkflow reads "
                        "exactly one decision per file")
        for decision in decisions:
            tables = decision.findall("dmn:decisionTable", ns)
            if not tables:
                self.report(doc.name, decision, "decision has no decision table (the only kind SpiffWorkflow runs)")
            for table in tables:
                self._check_table(doc, table, ns)

    def _check_table(self, doc: _Doc, table, ns) -> None:
        policy = table.get("hitPolicy", "UNIQUE").upper()
        if policy not in ("UNIQUE", "FIRST", "COLLECT"):
            self.report(doc.name, table, f"hit policy {policy} is not supported by SpiffWorkflow (it returns the "
                        "first matching rule)")
        if table.get("aggregation"):
            self.report(doc.name, table, "aggregation is ignored by SpiffWorkflow")
        inputs = []
        for column in table.findall("dmn:input", ns):
            text = column.find("dmn:inputExpression/dmn:text", ns)
            inputs.append(text.text or "" if text is not None else "")
            if not inputs[-1].strip():
                if column.get("label"):          # SpiffWorkflow then reads the variable named by the label
                    self.report(doc.name, column, f"decision table input has no input expression: SpiffWorkflow "
                                f"reads the variable named by its label {column.get('label')!r} (the case stops "
                                "with an error if it has none); write the expression", code="dmn-input-by-label",
                                severity="warning")
                    inputs[-1] = column.get("label")
                else:
                    self.report(doc.name, column, "decision table input has neither an input expression nor a "
                                "label: SpiffWorkflow cannot evaluate it", code="dmn-input-missing")
                continue
            for line, message in _errors(text.text, "eval", text.sourceline):
                self.report(doc.name, column, f"input expression does not compile: {message}", line=line)
        outputs = len(table.findall("dmn:output", ns))
        for rule in table.findall("dmn:rule", ns):
            counts = len(rule.findall("dmn:inputEntry", ns)), len(rule.findall("dmn:outputEntry", ns))
            if counts != (len(inputs), outputs):  # missing input entries silently match anything
                self.report(doc.name, rule, f"rule has {counts[0]} input and {counts[1]} output entries; the table "
                            f"has {len(inputs)} inputs and {outputs} outputs")
            for i, entry in enumerate(rule.findall("dmn:inputEntry", ns)):
                text = entry.find("dmn:text", ns)
                source = (text.text or "").strip() if text is not None else ""
                if source in ("", "-"):
                    continue
                for line, message in _dmn_entry_errors(inputs[i] if i < len(inputs) else "x", text):
                    self.report(doc.name, entry, message, line=line)
            for entry in rule.findall("dmn:outputEntry", ns):
                text = entry.find("dmn:text", ns)
                if text is not None and (text.text or "").strip():
                    for line, message in _errors(text.text, "eval", text.sourceline):
                        self.report(doc.name, entry, f"output entry does not compile: {message}", line=line)

    # -- SpiffWorkflow's own parse ----------------------------------------
    def check_with_spiff(self) -> None:
        parser, self.spiff_failed = SpiffBpmnParser(validator=VALIDATOR, dmn_schemas=SPIFF_DMN_SCHEMAS), False
        with _LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DeprecationWarning for payloads on bpmn:message: reported above
            for doc in self.docs:
                if not doc.schema_ok:
                    continue
                try:
                    if doc.kind == "bpmn":
                        parser.add_bpmn_xml(doc.root, filename=doc.name)
                    else:
                        parser.add_dmn_xml(doc.root, filename=doc.name)
                except Exception as e:  # noqa: BLE001 - any parser failure is a diagnostic
                    self._spiff_error(e, doc.name)
            for dmn in parser.dmn_parsers.values():  # parsed lazily otherwise: only when a task calls it
                try:
                    dmn.parse()
                except Exception as e:  # noqa: BLE001
                    self._spiff_error(e, dmn.filename)
            failed, done = set(), set()
            while todo := [p for p in parser.process_parsers if p not in done]:
                for pid in todo:  # get_spec may create parsers for embedded subprocesses: loop until none left
                    done.add(pid)
                    process = parser.process_parsers[pid]
                    try:
                        if process.process_executable:
                            process.get_spec()
                    except Exception as e:  # noqa: BLE001
                        failed.add(pid)
                        self._spiff_error(e, process.filename)
        self._check_reachable(parser, failed)
        if all(doc.schema_ok for doc in self.docs) and not self.spiff_failed:
            self.bundle.parser = parser

    def _check_reachable(self, parser, failed: set[str]) -> None:
        """SpiffWorkflow parses by following sequence flows: a node it never reached is silently dropped."""
        for pid, process in parser.process_parsers.items():
            if pid in failed or process.spec is None:
                continue
            specs = process.spec.task_specs
            for el in process.node:
                local = _local(el)
                if local in RUNNABLE and el.get("id") not in specs and not (
                        local == "boundaryEvent" and el.get("attachedToRef") not in specs):
                    self.report(process.filename, el, f"bpmn:{local} is not reachable from a start event "
                                "(SpiffWorkflow ignores it)")

    def _spiff_error(self, error: Exception, file: str) -> None:
        self.spiff_failed = True
        if not isinstance(error, ValidationException):
            if any(d.file == file for d in self.bundle.diagnostics):
                return  # e.g. a DMN file without a decision: already explained
            el = _failure_element(error)
            return self.report(file, el, f"SpiffWorkflow's parser failed on this element: {type(error).__name__}: "
                               f"{error}", line=None if el is not None else 1)
        file = error.file_name or file
        message = _readable(error.args[0] if error.args else str(error))
        el = self._find(file, error.id) if error.id else self._named_in(file, message)
        sources = {error.id or (el.get("id") if el is not None else None),
                   el.get("sourceRef") if el is not None else None}
        if any((file, s) in self.reported for s in sources if s):
            return self._attach_engine_error(file, sources, message)  # ours explains it; keep the engine's words
        if el is not None and _local(el) == "businessRuleTask":
            dmn = self.decisions.get((_extensions(el) or {}).get("calledDecisionId"))
            if any(d.file == dmn for d in self.bundle.diagnostics):
                return  # the DMN file's own problem, already reported there
        wrapped = re.fullmatch(r"(\w+(Error|Exception))\((.*)\)", message, re.S)
        if wrapped:
            message = f"SpiffWorkflow failed on this element: {wrapped[1]}: {wrapped[3]}"
        line = error.line_number if isinstance(error.line_number, int) else None
        self.report(file, el, message, line=line, element_id=error.id or None, code="engine-error")

    def _attach_engine_error(self, file: str, sources: set, message: str) -> None:
        """A diagnostic of ours on the element SpiffWorkflow also refused gets the engine's own message too."""
        for i, d in enumerate(self.bundle.diagnostics):
            if d.file == file and d.element_id in sources and d.element_id and not d.engine_error:
                self.bundle.diagnostics[i] = replace(d, engine_error=message)
                return

    def _named_in(self, file: str, message: str):
        """The element an id-less engine error is about, by the name or id it quotes (a data store's name)."""
        for doc in self.docs:
            if doc.name == file and doc.root is not None:
                for el in doc.root.iter(etree.Element):
                    label = el.get("name") or el.get("id")
                    if el.get("id") and label and re.search(rf"\b{re.escape(label)}\b", message):
                        return el
        return None

    def _find(self, file: str, element_id: str):
        for doc in self.docs:
            if doc.name == file and doc.root is not None:
                found = doc.root.xpath("//*[@id=$id]", id=element_id)
                return found[0] if found else None
        return None


# -- expression helpers (module level: also usable by the engine) --------------
def timer_problems(kind: str, text: str | None) -> list[str]:
    """Problems of one timeDate/timeDuration/timeCycle expression ([] when fine)."""
    expr = (text or "").strip()
    if not expr:
        return [f"{kind} is empty"]
    if UNQUOTED_ISO.fullmatch(expr):
        return [f'timer expression {expr} looks like an unquoted ISO 8601 literal, write "{expr}"']
    errors = compile_check(text, "eval")
    if errors:
        return [f"timer expression does not compile under the restricted policy: {m}" for _, m in errors]
    try:
        value = ast.literal_eval(expr)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        try:
            nodes = list(ast.walk(ast.parse(expr, mode="eval")))
        except SyntaxError:
            return []
        constants = [n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)]
        names = [n.id for n in nodes if isinstance(n, ast.Name) and UNQUOTED_ISO.fullmatch(n.id)]
        return [f'timer expression uses {n} as a name: it looks like an unquoted ISO 8601 literal, write "{n}"'
                for n in names] + [f"timer expression contains {s!r}, which is not a valid ISO 8601 duration"
                                   for s in constants if DURATION_LIKE.match(s) and iso_problems("timeDuration", s)]
    if not isinstance(value, str):
        return [f"timer expression evaluates to {type(value).__name__}, expected an ISO 8601 string"]
    return iso_problems(kind, value)


def _dmn_entry_errors(input_expr: str, text) -> list[tuple[int | None, str]]:
    """Mirror DMNEngine.evaluate: '?' stands for the input; else `(input) == (entry)` if the entry
    compiles alone, else the engine glues the texts together: `input + entry` (`> 5` -> `age> 5`)."""
    entry, what = text.text, "input entry does not compile: "
    if DMN_QUESTION.search(entry):
        return [(n, what + m) for n, m in _errors(DMN_QUESTION.sub("dmninputexpr", entry), "eval", text.sourceline)]
    alone = [(n, what + m) for n, m in _errors(entry, "eval", text.sourceline)]
    if not alone or compile_check(input_expr + entry, "eval"):
        return alone
    if (input_expr[-1:] + entry[:1]).replace("_", "a").isalnum():
        return [(text.sourceline, f"input entry: SpiffWorkflow glues it to the input expression "
                 f"({(input_expr.strip() + entry)[:40]!r}); write it with '?', e.g. '? {entry.strip()}'")]
    return []


# -- in-memory bundles (the studio's live check) ----------------------------
_TEMPLATE_PATH = re.compile(r"templates/[a-z]{2}/[A-Za-z0-9_.-]+\.j2")


def check_files(files: dict[str, bytes | str], *, forms: dict[str, bytes | str] | None = None,
                http_allow: str | None = None) -> Bundle:
    """Validate a bundle held in memory exactly as `recall validate` validates a folder: the files are
    written to a private temporary `workflows/` (paths as in the folder: "offer_recall.bpmn",
    "templates/zh/day_30_greeting.j2", "messages.json") and `forms/` (plain file names), and the
    diagnostics name the paths as given. A path that could not be in such a folder is a diagnostic."""
    import tempfile
    refused: list[Diagnostic] = []
    with tempfile.TemporaryDirectory(prefix="recall-check-") as tmp:
        workflows, forms_dir = Path(tmp) / "workflows", Path(tmp) / "forms"
        workflows.mkdir()
        forms_dir.mkdir()
        for given, target_dir, allowed in ((files or {}, workflows, _bundle_path),
                                           (forms or {}, forms_dir, _form_name)):
            for name, content in given.items():
                problem = allowed(name) if isinstance(name, str) else "a file name must be a text"
                if problem is None and not isinstance(content, (str, bytes)):
                    problem = "the file's content must be a text"
                if problem:
                    refused.append(Diagnostic(str(name), None, None, problem, code="file-path"))
                    continue
                target = target_dir / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        bundle = load_bundle([workflows], forms_dir=forms_dir, http_allow=http_allow)
    prefix = "workflows/"
    bundle.diagnostics = refused + [replace(d, file=d.file[len(prefix):]) if d.file.startswith(prefix) else d
                                    for d in bundle.diagnostics]
    bundle.warnings = [replace(d, file=d.file[len(prefix):]) if d.file.startswith(prefix) else d
                       for d in bundle.warnings]
    return bundle


def _bundle_path(name: str) -> str | None:
    parts = name.split("/")
    if not name or name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        return "a file path must be relative, with no '..', '.' or empty parts"
    if len(parts) == 1 and (_kind(Path(name)) or name in (message_rules.FILE_NAME, vocabulary_rules.FILE_NAME)):
        return None
    if _TEMPLATE_PATH.fullmatch(name):
        return None
    return (f"{name!r} is not a bundle file: .bpmn, .bpmn20.xml, .dmn, {message_rules.FILE_NAME}, "
            f"{vocabulary_rules.FILE_NAME} or templates/<lang>/<id>.j2")


def _form_name(name: str) -> str | None:
    if not name or "/" in name or "\\" in name or name in (".", "..") or not name.endswith(".json"):
        return "a form is named by a plain file name ending in .json"
    return None
