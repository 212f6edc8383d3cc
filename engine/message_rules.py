"""What a message may carry and whether it may wait: `workflows/messages.json`, the process owner's data.

    {"messages": {"candidate_replied": {"correlation": ["candidate_id"], "buffer": "P7D",
                                        "payload": {"text": {"type": "string"}}}}}

Per message name: `correlation` (the correlation keys a sender must give, exactly), `buffer`
(`false`: the message is taken only by a case that waits for it now, else 409; or an ISO 8601
duration: how long it may wait for a case to reach its catch event) and `payload` (the fields
it may carry, each a JSON Schema 2020-12 whose formats are checked; none declared: it carries none;
any other field is refused with 422 naming it; a `"format": "date-time"` field is a moment the message
reports, such as when the candidate replied: it must not be after the engine's now; the
engine's reserved variables and the correlation keys cannot be declared). `description` is free
text. The file is validated when the bundle is (file:line diagnostics, see `read_declarations`),
stored with each deployed version, and read back by `engine.messages` when a message arrives.

A bundle without messages.json keeps the defaults: any caught message may wait for the engine's
message TTL, and its payload may carry anything but the reserved variables.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .forms import RESERVED_VARIABLES  # the one list of names that steer the engine
from .timer_values import iso_problems  # one meaning of "an ISO 8601 duration"

FILE_NAME = "messages.json"
MESSAGE_KEYS = {"description", "correlation", "buffer", "payload"}
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")



@dataclass(frozen=True)
class Declaration:
    name: str
    correlation: tuple[str, ...]
    buffer_for: timedelta | None          # None: never waits
    payload_schema: dict                  # an object schema with additionalProperties false

    @property
    def payload_fields(self) -> list[str]:
        return sorted(self.payload_schema.get("properties", {}))

    def payload_validator(self) -> Draft202012Validator:
        # formats are checked: a "date-time" is RFC 3339 with its offset, a "date" a calendar day
        return Draft202012Validator(self.payload_schema, format_checker=Draft202012Validator.FORMAT_CHECKER)

    @property
    def moments(self) -> list[str]:
        """Payload fields that are a moment the message reports ("format": "date-time"): never after now."""
        return sorted(k for k, v in self.payload_schema.get("properties", {}).items()
                      if isinstance(v, dict) and v.get("format") == "date-time")


def _line(text: str, *keys: str) -> int:
    """Line of the last of `keys`, each looked up as a JSON object key after the one before."""
    position = 0
    for key in keys:
        found = re.compile(r'"' + re.escape(json.dumps(key)[1:-1]) + r'"\s*:').search(text, position)
        if found is None:
            break
        position = found.start()
    return text.count("\n", 0, position) + 1


def _duration(value: str) -> timedelta:
    from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

    parts = TimerEventDefinition.parse_iso_duration(value)
    days = parts.get("years", 0) * 365 + parts.get("months", 0) * 30 + parts.get("weeks", 0) * 7
    return timedelta(days=days + parts.get("days", 0), hours=parts.get("hours", 0),
                     minutes=parts.get("minutes", 0), seconds=parts.get("seconds", 0))


def read_declarations(text: str, *, known_messages: set[str] | None = None
                      ) -> tuple[dict[str, Declaration], list[tuple[int, str | None, str]]]:
    """Parse messages.json: (declarations, problems as (line, message name, text))."""
    problems: list[tuple[int, str | None, str]] = []
    try:
        document = json.loads(text)
    except json.JSONDecodeError as e:
        return {}, [(e.lineno, None, f"not valid JSON: {e.msg} (column {e.colno})")]
    if not isinstance(document, dict) or not isinstance(document.get("messages"), dict):
        return {}, [(1, None, 'must be a JSON object {"messages": {"<message name>": {...}}}')]
    for key in sorted(set(document) - {"messages", "description", "$comment"}):
        problems.append((_line(text, key), None, f"unknown key {key!r} (expected \"messages\")"))
    declarations: dict[str, Declaration] = {}
    for name, entry in document["messages"].items():
        where = _line(text, "messages", name)
        before = len(problems)

        def problem(message: str, *keys: str) -> None:
            problems.append((_line(text, "messages", name, *keys) if keys else where, name, message))

        if known_messages is not None and name not in known_messages:
            problem(f"declares message {name!r}, which no bpmn:message of the bundle names")
        if not isinstance(entry, dict):
            problem("a message declaration must be a JSON object")
            continue
        for key in sorted(set(entry) - MESSAGE_KEYS):
            problem(f"unknown key {key!r} (expected one of {', '.join(sorted(MESSAGE_KEYS))})", key)
        correlation = entry.get("correlation")
        if not (isinstance(correlation, list) and correlation and all(isinstance(c, str) and FIELD_NAME.match(c)
                                                                      for c in correlation)
                and len(set(correlation)) == len(correlation)):
            problem('"correlation" must list the correlation keys, e.g. ["candidate_id"]',
                    *(("correlation",) if "correlation" in entry else ()))
            correlation = []
        buffer = entry.get("buffer")
        buffer_for = None
        if buffer is False:
            pass
        elif isinstance(buffer, str) and not iso_problems("timeDuration", buffer):
            buffer_for = _duration(buffer)
            if buffer_for <= timedelta(0):
                problem(f'"buffer" {buffer!r} is not a positive duration', "buffer")
        else:
            problem('"buffer" must be false (never waits) or an ISO 8601 duration such as "P7D"',
                    *(("buffer",) if "buffer" in entry else ()))
        payload = entry.get("payload", {})
        schema = None
        if payload is not None:
            if not isinstance(payload, dict):
                problem('"payload" must map each field the message may carry to its JSON Schema', "payload")
            else:
                for field, field_schema in payload.items():
                    if not FIELD_NAME.match(field):
                        problem(f"payload field {field!r} is not a plain name", "payload", field)
                    elif field in RESERVED_VARIABLES:
                        problem(f"payload field {field!r} is set by the engine; a message may not carry it",
                                "payload", field)
                    elif field in correlation:
                        problem(f"payload field {field!r} is a correlation key: senders give it in \"correlation\"",
                                "payload", field)
                    if not isinstance(field_schema, (dict, bool)):
                        problem(f"payload field {field!r} must be a JSON Schema object", "payload", field)
                schema = {"type": "object", "properties": payload, "additionalProperties": False}
                try:
                    Draft202012Validator.check_schema(schema)
                except SchemaError as e:
                    at = [str(p) for p in e.absolute_path][1:]
                    problem(f"payload is not valid JSON Schema 2020-12 at {'/'.join(at) or '(root)'}: {e.message}",
                            "payload", *at[:1])
        if len(problems) == before:
            declarations[name] = Declaration(name, tuple(correlation), buffer_for, schema)
    return declarations, problems


def declarations_from_files(files: dict[str, str]) -> dict[str, Declaration]:
    """The declarations stored with a deployed version (its files_json); {} without messages.json."""
    for path, text in files.items():
        if path.rsplit("/", 1)[-1] == FILE_NAME:
            return read_declarations(text)[0]
    return {}
