"""Breaking changes between two OpenAPI 3.0 documents, and the released document.

    breaking_changes(old, new) -> ["GET /tasks: response 200: field items[].assignee removed", ...]

What counts as breaking (docs/api.md, "Compatibility and deprecation"): an operation removed,
its operationId changed, a parameter added as required, made required or removed, a request body
made required, a request field added as required, made required or removed (request bodies refuse
unknown fields), a success status or media type removed, a response field removed or no longer
always present, a response field that may now be null, a type or format changed, an enum value
removed. Additions pass: new operations, optional parameters and request fields, response fields,
statuses, enum values in requests.

Release (regenerate docs/openapi-released.json from the code, after reviewing the diff):

    .venv/bin/python -m tests.http.openapi_compat release
    .venv/bin/python -m tests.http.openapi_compat check      # what the test checks, printed
"""
from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RELEASED = ROOT / "docs" / "openapi-released.json"
PREFIX = "/api/v1"
METHODS = ("get", "put", "post", "patch", "delete")


def current_document() -> dict:
    """The public document the code serves now (a throwaway SQLite file; nothing is read from it)."""
    from api import create_app
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"RECALL_DATABASE_URL": f"sqlite:///{folder}/spec.sqlite3", "TESTING": True})
        try:
            return app.test_client().get(f"{PREFIX}/openapi.json").get_json()
        finally:
            app.extensions["recall"].engine.db.dispose()


def _resolve(doc: dict, node, seen=()):
    """`node` with a top-level $ref followed (and the refs seen so far, for cycles)."""
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if ref in seen:
            return {}, seen
        seen = seen + (ref,)
        target = doc
        for part in ref.lstrip("#/").split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
        node = target
    return node if isinstance(node, dict) else {}, seen


class _Diff:
    def __init__(self, old: dict, new: dict):
        self.old, self.new = old, new
        self.found: list[str] = []

    def say(self, where: str, what: str) -> None:
        self.found.append(f"{where}: {what}")

    # ---- schemas -------------------------------------------------------------------------------
    def schema(self, where: str, old, new, direction: str, seen_old=(), seen_new=()) -> None:
        """direction 'request' (what clients send) or 'response' (what they read)."""
        old, seen_old = _resolve(self.old, old, seen_old)
        new, seen_new = _resolve(self.new, new, seen_new)
        if len(seen_old) > 16:      # a recursive schema: deep enough
            return
        label = where
        old_type, new_type = _type(old), _type(new)
        if old_type and new_type and old_type != new_type:
            self.say(label, f"type changed from {old_type} to {new_type}")
            return
        if old.get("format") and old.get("format") != new.get("format"):
            self.say(label, f"format changed from {old['format']} to {new.get('format')}")
        if "enum" in old:
            removed = [v for v in old["enum"] if v not in new.get("enum", old["enum"])]
            if removed:
                self.say(label, f"enum value(s) removed: {', '.join(map(str, removed))}")
        if direction == "response" and not old.get("nullable") and new.get("nullable"):
            self.say(label, "may now be null")
        if direction == "request" and old.get("nullable") and new.get("nullable") is not True:
            self.say(label, "null no longer accepted")
        for combiner in ("anyOf", "oneOf", "allOf"):
            if combiner in old and combiner in new and len(old[combiner]) == len(new[combiner]):
                for i, (a, b) in enumerate(zip(old[combiner], new[combiner])):
                    self.schema(f"{where}<{combiner}[{i}]>", a, b, direction, seen_old, seen_new)
        if "items" in old and "items" in new:
            self.schema(f"{where}[]", old["items"], new["items"], direction, seen_old, seen_new)
        self.properties(where, old, new, direction, seen_old, seen_new)

    def properties(self, where, old, new, direction, seen_old, seen_new) -> None:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
        for name, old_prop in old_props.items():
            if name not in new_props:
                if direction == "response" or old.get("additionalProperties") is False \
                        or new.get("additionalProperties") is False:
                    self.say(where, f"field {name} removed")
                continue
            if direction == "response" and name in old_required and name not in new_required:
                self.say(where, f"field {name} no longer always present (not required)")
            if direction == "request" and name in new_required and name not in old_required:
                self.say(where, f"field {name} made required")
            self.schema(f"{where}.{name}", old_prop, new_props[name], direction, seen_old, seen_new)
        if direction == "request":
            for name in sorted(new_required - set(old_props)):
                self.say(where, f"field {name} added as required")

    # ---- operations ----------------------------------------------------------------------------
    def operation(self, key: str, old: dict, new: dict) -> None:
        if old.get("operationId") and old.get("operationId") != new.get("operationId"):
            self.say(key, f"operationId changed from {old['operationId']} to {new.get('operationId')}")
        self.parameters(key, old, new)
        self.request_body(key, old.get("requestBody"), new.get("requestBody"))
        old_answers, new_answers = old.get("responses", {}), new.get("responses", {})
        for status, old_answer in old_answers.items():
            if status not in new_answers:
                if status.startswith("2"):
                    self.say(key, f"response {status} removed")
                continue
            old_answer, _ = _resolve(self.old, old_answer)
            new_answer, _ = _resolve(self.new, new_answers[status])
            for media, old_media in old_answer.get("content", {}).items():
                new_media = new_answer.get("content", {}).get(media)
                if new_media is None:
                    self.say(key, f"response {status}: media type {media} removed")
                    continue
                self.schema(f"{key}: response {status}", old_media.get("schema", {}), new_media.get("schema", {}),
                            "response")

    def parameters(self, key: str, old: dict, new: dict) -> None:
        def index(doc, op):
            found = {}
            for param in op.get("parameters", []):
                param, _ = _resolve(doc, param)
                found[(param.get("in"), param.get("name"))] = param
            return found
        old_params, new_params = index(self.old, old), index(self.new, new)
        for (where, name), param in new_params.items():
            before = old_params.get((where, name))
            if param.get("required") and (before is None or not before.get("required")):
                self.say(key, f"{where} parameter {name} " + ("added as required" if before is None
                                                              else "made required"))
        for (where, name), param in old_params.items():
            if (where, name) not in new_params:
                self.say(key, f"{where} parameter {name} removed")
                continue
            self.schema(f"{key}: {where} parameter {name}", param.get("schema", {}),
                        new_params[(where, name)].get("schema", {}), "request")

    def request_body(self, key: str, old, new) -> None:
        old, _ = _resolve(self.old, old or {})
        new, _ = _resolve(self.new, new or {})
        if not new:
            return
        if new.get("required") and not old.get("required"):
            self.say(key, "request body made required")
        for media, old_media in old.get("content", {}).items():
            new_media = new.get("content", {}).get(media)
            if new_media is None:
                self.say(key, f"request media type {media} no longer accepted")
                continue
            self.schema(f"{key}: request", old_media.get("schema", {}), new_media.get("schema", {}), "request")


def _type(schema: dict) -> str | None:
    return schema.get("type")


def operations(doc: dict) -> dict[str, dict]:
    return {f"{method.upper()} {path}": item[method] for path, item in doc.get("paths", {}).items()
            for method in METHODS if method in item}


def breaking_changes(old: dict, new: dict) -> list[str]:
    """Every breaking change from `old` to `new`, one line each; [] when `new` only adds."""
    diff = _Diff(old, new)
    new_ops = operations(new)
    for key, op in operations(old).items():
        if key not in new_ops:
            diff.say(key, "operation removed")      # deprecated ones too: they go with a new major version
            continue
        diff.operation(key, op, new_ops[key])
    return diff.found


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "check"
    current = current_document()
    if command == "release":
        RELEASED.write_text(json.dumps(current, indent=1, ensure_ascii=False, sort_keys=True) + "\n")
        print(f"wrote {RELEASED.relative_to(ROOT)} ({len(operations(current))} operations)")
        return 0
    found = breaking_changes(json.loads(RELEASED.read_text()), current)
    print("\n".join(found) if found else "no breaking change against docs/openapi-released.json")
    return 1 if found else 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv))
