"""The `http` service-task connector's step-time part (engine/connectors.py): the URL checked against
RECALL_HTTP_CONNECTOR_ALLOW, the method and the JSON body; the outbox row (channel `http`,
engine/channels/http.py, which sends it) is written with the step, its id derived from the case and the
task so a retried task finds its earlier send."""
from __future__ import annotations

import json
import uuid
from urllib.parse import urlsplit

from . import connectors
from .channels import outbox
from .channels.http import NAME

NAMESPACE = uuid.UUID("0f4e2a8c-1f7d-4c1e-8d35-59a3f1f4b2c7")


def prepare(collector: connectors.Collector, task, params: dict) -> dict:
    """At step time: the URL allowed, the method known, the body JSON; the outbox row is written with the step."""
    settings = collector.engine.settings
    url = connectors.check_url(params.get("url"), connectors.allow_list(settings.http_connector_allow))
    method = str(params.get("method") or "POST").upper()
    if method not in connectors.METHODS:
        raise connectors.ConnectorError(f"http: method {method!r} is not one of {', '.join(connectors.METHODS)}")
    body = params.get("body")
    try:
        encoded = json.dumps(body, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise connectors.ConnectorError(f"http: body cannot be sent as JSON ({exc})") from None
    if len(encoded.encode()) > connectors.MAX_BODY_BYTES:
        raise connectors.ConnectorError(f"http: body is larger than {connectors.MAX_BODY_BYTES // 1024} KB")
    key = connectors.key_of(collector, task, "http")
    send_id = str(uuid.uuid5(NAMESPACE, key))
    element, instance_id = task.task_spec.bpmn_id, collector.instance_id

    def write(engine, session, now, actor):
        outbox.enqueue(session, channel=NAME, kind="service_call", recipient={"url": url, "method": method},
                       payload={"text": None, "subject": None, "link": None, "language": None, "body": body},
                       actor=actor, instance_id=instance_id, dedupe_key=key[:255], now=now, id=send_id)
        engine.ops.audit(session, instance_id, "connector_http_queued", actor, element, None,
                         {"outbox_id": send_id, "host": urlsplit(url).hostname, "method": method})

    collector.effects.append(connectors.Effect("http", instance_id, str(task.id), element, write))
    return {"queued": send_id}


connectors.implement(NAME, prepare)
