"""Service-task connectors: what a diagram's `bpmn:serviceTask` may do — automatic, internal things.

    <bpmn:serviceTask id="tell_manager" name="提醒经理 / Tell the manager">
      <bpmn:extensionElements>
        <spiffworkflow:serviceTaskOperator id="notify" resultVariable="told">
          <spiffworkflow:parameters>
            <spiffworkflow:parameter id="to" type="str" value="manager_username"/>
            <spiffworkflow:parameter id="text" type="str" value="&quot;请今天联系候选人&quot;"/>
          </spiffworkflow:parameters>
        </spiffworkflow:serviceTaskOperator>
      </bpmn:extensionElements>
    </bpmn:serviceTask>

Parameter values are expressions over the task's data (a literal is quoted), evaluated by the
restricted script engine. Connectors:

- `notify`: `to` (a user name or a group code), `text` or `template` (a message template id of the
  bundle, rendered with the task's data in the person's language), optional `link` (default: the case).
  Each person is notified as they prefer (engine/notifications.py); the result is
  `{"queued": [outbox ids], "to": [user names]}` (a person on the daily digest has no outbox row yet).
- `http`: `url`, optional `method` (POST, PUT, PATCH; default POST) and `body` (JSON), to a host on
  RECALL_HTTP_CONNECTOR_ALLOW; fire and forget through the outbox (channel `http`,
  engine/channels/http.py: a timeout, retries with backoff, no redirect followed). Result:
  `{"queued": <outbox id>}`.

Nothing leaves during the step. A connector checks its parameters and says what it will do (an
effect, with the outbox ids it will use); the one change path (`Runtime.change`) writes the effects
after the step is saved, in the same transaction — a fault before the commit leaves neither the step
nor its sends. Ids are derived from the case and the task (uuid5), so a step run again (a retried
task) finds the sends it made instead of making others.

`recall validate` (engine/bundle.py) refuses a service task whose operator is not a connector, whose
required parameters are missing, or whose literal `url` is not allowed (`check_service_task`).
"""
from __future__ import annotations

import ast
import contextvars
import ipaddress
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable
from urllib.parse import urlsplit

from .errors import RecallError

METHODS = ("POST", "PUT", "PATCH")
MAX_BODY_BYTES = 64 * 1024
MAX_TEXT = 2000


class ConnectorError(RecallError):
    """A service task's connector refused its parameters (the case goes to error with this message)."""


# ---------------------------------------------------------------- the allow-list
def allow_list(text: str | None) -> list[str]:
    return [entry.strip().lower() for entry in (text or "").split(",") if entry.strip()]


def _host_port(url: str) -> tuple[str, int | None, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConnectorError(f"url {url!r} is not an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise ConnectorError("url must not carry a user name or password")
    try:
        port = parts.port
    except ValueError:
        raise ConnectorError(f"url {url!r} has an invalid port") from None
    return parts.hostname.lower(), port, parts.scheme


def allowed(url: str, allow: list[str]) -> str | None:
    """How `url`'s host is allowed: "exact" (listed as it is, with or without its port), "pattern" (by a
    `*.domain` entry) or None (not allowed)."""
    host, port, scheme = _host_port(url)
    effective = port or (443 if scheme == "https" else 80)
    for entry in allow:
        if entry in (host, f"{host}:{effective}") or (port is not None and entry == f"{host}:{port}"):
            return "exact"
    for entry in allow:
        if entry.startswith("*.") and (host.endswith(entry[1:]) and host != entry[2:]):
            return "pattern"
    return None


def check_url(url: str, allow: list[str]) -> str:
    """`url` if a diagram may call it (ConnectorError saying why not)."""
    if not isinstance(url, str) or not url.strip():
        raise ConnectorError("url must be a text like \"https://hooks.example.com/recall\"")
    how = allowed(url.strip(), allow)
    if how is None:
        host = _host_port(url.strip())[0]
        raise ConnectorError(f"host {host!r} is not on the allow-list (RECALL_HTTP_CONNECTOR_ALLOW: "
                             f"{', '.join(allow) or 'empty'})")
    return url.strip()


def is_private(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not ip.is_global or ip.is_multicast


# ---------------------------------------------------------------- effects and their collector
@dataclass
class Effect:
    """What a connector will do once the step is saved: `write(engine, session, now, actor)`."""

    connector: str
    instance_id: str
    task_id: str
    element_id: str | None
    write: Callable[[Any, Any, datetime, str], None]


@dataclass
class Collector:
    """The effects of one change's engine steps (set around them by `Runtime.run`)."""

    engine: Any
    session: Any
    instance_id: str
    templates: dict = field(default_factory=dict)
    effects: list[Effect] = field(default_factory=list)

    def write(self, *, now: datetime, actor: str) -> None:
        """Write every collected effect in the change's unit of work (after its save), once."""
        effects, self.effects = self.effects, []
        for effect in effects:
            effect.write(self.engine, self.session, now, actor)


_current: contextvars.ContextVar[Collector | None] = contextvars.ContextVar("recall_connectors", default=None)


@contextmanager
def collecting(collector: Collector | None):
    token = _current.set(collector)
    try:
        yield collector
    finally:
        _current.reset(token)


# ---------------------------------------------------------------- running a service task
@dataclass(frozen=True)
class Connector:
    """What a connector takes; what it does is `implement`ed by its module (engine/notifications.py for
    `notify`, engine/http_connector.py for `http`: the engine imports both when it is made)."""

    name: str
    required: tuple[tuple[str, ...], ...]       # each: one of these names must be given
    optional: tuple[str, ...]


Prepare = Callable[[Collector, Any, dict], dict]     # (collector, spiff task, params) -> the result variable
_implementations: dict[str, Prepare] = {}


def implement(name: str, prepare: Prepare) -> None:
    """Install what connector `name` does at step time: check its parameters, append its effect, answer."""
    if name not in CONNECTORS:
        raise ValueError(f"no connector {name!r} is declared")
    _implementations[name] = prepare


def call(task, operation_name: str, operation_params: dict) -> str:
    """SpiffWorkflow's `call_service`: run connector `operation_name`; its result as JSON text."""
    connector = CONNECTORS.get(operation_name)
    if connector is None:
        raise ConnectorError(f"service task operator {operation_name!r} is not a connector "
                             f"(known: {', '.join(sorted(CONNECTORS))})")
    collector = _current.get()
    if collector is None:
        raise ConnectorError("service tasks run only inside the engine's change path")
    params = {name: (p.get("value") if isinstance(p, dict) else p) for name, p in (operation_params or {}).items()}
    missing = [" or ".join(group) for group in connector.required if not any(params.get(n) is not None for n in group)]
    if missing:
        raise ConnectorError(f"{operation_name}: missing parameter {', '.join(missing)}")
    prepare = _implementations.get(operation_name)
    if prepare is None:
        raise ConnectorError(f"connector {operation_name!r} is not installed in this process")
    return json.dumps(prepare(collector, task, params))


def key_of(collector: Collector, task, connector: str) -> str:
    """The send key of one run of one service task (its ids derive from it)."""
    return f"connector:{connector}:{collector.instance_id}:{task.id}"


CONNECTORS = {
    "notify": Connector("notify", (("to",), ("text", "template")), ("link",)),
    "http": Connector("http", (("url",),), ("method", "body")),
}


# ---------------------------------------------------------------- validation (engine/bundle.py)
def _literal(expression: str | None):
    """(True, value) when a parameter's expression is a literal; (False, None) otherwise."""
    try:
        return True, ast.literal_eval((expression or "").strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None


def check_service_task(operator: str | None, parameters: dict[str, str | None], allow: list[str]) -> list[str]:
    """Problems of one service task, in a process owner's words (empty: it can run)."""
    connector = CONNECTORS.get(operator or "")
    if connector is None:
        return [f"service task operator {operator!r} is not a connector: use one of "
                f"{', '.join(sorted(CONNECTORS))} (docs/engine.md, service tasks)"]
    problems = []
    for group in connector.required:
        if not any(parameters.get(name) not in (None, "") for name in group):
            problems.append(f"{operator} needs the parameter {' or '.join(repr(n) for n in group)}")
    unknown = sorted(set(parameters) - {n for g in connector.required for n in g} - set(connector.optional))
    if unknown:
        problems.append(f"{operator} has no parameter {', '.join(map(repr, unknown))}; it takes "
                        f"{', '.join(n for g in connector.required for n in g)}, {', '.join(connector.optional)}")
    if operator == "http":
        literal, url = _literal(parameters.get("url"))
        if literal:
            try:
                check_url(url, allow)
            except ConnectorError as exc:
                problems.append(f"http: {exc}")
        literal, method = _literal(parameters.get("method"))
        if literal and method is not None and str(method).upper() not in METHODS:
            problems.append(f"http: method {method!r} is not one of {', '.join(METHODS)}")
    return problems
