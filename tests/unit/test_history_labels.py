"""Names, not codes: every kind of history entry the product writes, and every group a lane of the shipped
workflows puts tasks in, has a zh and an en label in GET /vocabulary (engine/vocabulary.py HISTORY_KINDS,
GROUPS), so the workspace never shows `decline_recorded` or `hiring_manager`. The kinds are read from the
source (AST): an `audit(...)`/`_audit_row(...)` call or a `Change(...)` with a literal kind; a new kind
without its labels fails here, naming the file and line."""
from __future__ import annotations

import ast
import re

from engine.sidetables import lane_group
from engine.vocabulary import GROUPS, HISTORY_KINDS
from tests.support import ROOT, WORKFLOWS

KIND = re.compile(r"^[a-z][a-z_]+$")
AUDIT_CALLS = {"audit": 2, "_audit_row": 1,       # function -> position of the kind among its arguments
               "audit_send": 3}                  # engine/channels/archive_hooks.py: a send's change


def _name(func: ast.expr) -> str | None:
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) and KIND.match(node.value) \
        else None


def written_kinds() -> dict[str, str]:
    """kind -> 'file:line' of a place that writes it."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "engine").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = _name(node.func)
            candidates = [k.value for k in node.keywords if k.arg == "kind"]
            if name in AUDIT_CALLS and len(node.args) > AUDIT_CALLS[name]:
                candidates.append(node.args[AUDIT_CALLS[name]])
            elif name == "Change" and node.args:
                candidates.append(node.args[0])
            elif name not in AUDIT_CALLS and name not in ("Change", "AuditEvent"):
                continue
            for kind in filter(None, map(_literal, candidates)):
                found.setdefault(kind, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_every_history_kind_written_has_a_label_in_both_languages():
    kinds = written_kinds()
    # the scan sees the engine's, the archive's and the sign-in's kinds (it would pass vacuously otherwise)
    assert {"task_claimed", "task_reassigned", "definition_deployed", "candidate_created", "signed_in"} <= set(kinds)
    missing = {kind: where for kind, where in kinds.items() if kind not in HISTORY_KINDS}
    assert not missing, f"history kinds without a label in engine/vocabulary.py HISTORY_KINDS: {missing}"
    for kind, (zh, en) in HISTORY_KINDS.items():
        assert zh.strip() and en.strip() and zh != kind and en != kind, kind


def test_every_group_of_the_shipped_lanes_has_a_label():
    lanes = {m for path in WORKFLOWS.glob("*.bpmn")
             for m in re.findall(r'<bpmn:lane\b[^>]*\bname="([^"]+)"', path.read_text(encoding="utf-8"))}
    groups = {lane_group(lane) for lane in lanes}
    assert {"hr", "hiring_manager"} <= groups
    assert groups <= set(GROUPS), groups - set(GROUPS)
    for group, (zh, en) in GROUPS.items():
        assert zh.strip() and en.strip(), group
