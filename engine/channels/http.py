"""The `http` channel: a diagram's `http` service task (engine/connectors.py), sent by the outbox worker.

One request per outbox row: the method and URL the task gave, its body as JSON, the headers
`Content-Type: application/json`, `Recall-Send-Id` (the outbox id: the receiver dedupes on it — a
send is retried, at least once) and `User-Agent`. RECALL_HTTP_CONNECTOR_TIMEOUT_SECONDS bounds the
connection and the answer; a redirect is never followed (it fails, reason `redirect`).

The host is checked again when sending (the allow-list may have changed since the step): a host not
on RECALL_HTTP_CONNECTOR_ALLOW fails (`not_allowed`), and so does a host whose address is private,
loopback or link-local unless the allow-list names that host exactly (not through `*.domain`). The
connection goes to the address that was checked, so a name that resolves elsewhere the second time
cannot slip through.

Outcomes: 2xx sent; 408, 425, 429 and 5xx, no answer or a timeout: retry with the outbox's backoff
(the provider's Retry-After honoured); other answers fail (`http_<status>`). Nothing here is personal
data of a candidate unless the process owner puts it in a body; the row is kept like any send.
"""
from __future__ import annotations

import http.client
import json
import socket
import ssl
from urllib.parse import urlsplit

from .. import connectors
from . import registry
from .registry import Channel, Outcome, Outgoing

NAME = "http"
USER_AGENT = "OfferRecall-Connector/1"
EXCERPT = 200
RETRY_STATUSES = {408, 425, 429}


def _resolve(host: str, port: int) -> list[str]:
    try:
        return sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})
    except socket.gaierror as exc:
        raise OSError(f"cannot resolve {host}: {exc}") from None


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the host name for SNI and the certificate check."""

    def __init__(self, host: str, address: str, port: int, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def refusal(url: str, allow: list[str], addresses: list[str]) -> str | None:
    """Why `url` may not be called when its host resolves to `addresses` (None: it may): off the allow-list,
    or a private, loopback or link-local address reached through a `*.domain` entry."""
    try:
        connectors.check_url(url, allow)
    except connectors.ConnectorError as exc:
        return str(exc)
    private = [a for a in addresses if connectors.is_private(a)]
    if private and connectors.allowed(url, allow) != "exact":
        return (f"{urlsplit(url).hostname} resolves to a private or loopback address ({private[0]}); "
                "list the host itself in RECALL_HTTP_CONNECTOR_ALLOW to allow it")
    return None


def send(engine, out: Outgoing) -> Outcome:
    """The outbox's sender for `http` rows (registry.Channel.send)."""
    settings = engine.settings
    url, method = out.recipient.get("url") or "", (out.recipient.get("method") or "POST").upper()
    allow = connectors.allow_list(settings.http_connector_allow)
    refused = refusal(url, allow, [])
    if refused:
        return Outcome("failed", reason="not_allowed", detail=refused)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = _resolve(parts.hostname, port)
    except OSError as exc:
        return Outcome("retry", reason="unreachable", detail=str(exc))
    refused = refusal(url, allow, addresses)
    if refused:
        return Outcome("failed", reason="not_allowed", detail=refused)
    address = addresses[0]
    body = json.dumps((out.payload or {}).get("body"), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, "Recall-Send-Id": out.id,
               "Host": parts.netloc.rpartition("@")[2]}
    timeout = settings.http_connector_timeout_seconds
    connection = (_PinnedHTTPS(parts.hostname, address, port, timeout) if parts.scheme == "https"
                  else http.client.HTTPConnection(address, port, timeout=timeout))
    try:
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(EXCERPT * 4).decode("utf-8", "replace")[:EXCERPT]
        status = response.status
        retry_after = response.getheader("Retry-After")
    except (OSError, http.client.HTTPException) as exc:
        return Outcome("retry", reason="unreachable", detail=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        connection.close()
    detail = f"HTTP {status} {excerpt}".strip()[:500]
    if 200 <= status < 300:
        return Outcome("sent", provider_id=f"HTTP {status}", detail=detail)
    if 300 <= status < 400:
        return Outcome("failed", reason="redirect", detail=f"{detail} (redirects are not followed)")
    if status in RETRY_STATUSES or status >= 500:
        wait = float(retry_after) if retry_after and retry_after.isdigit() else None
        return Outcome("retry", reason=f"http_{status}", detail=detail, retry_after=wait)
    return Outcome("failed", reason=f"http_{status}", detail=detail)


CHANNEL = Channel(name=NAME, label_zh="HTTP 服务任务", label_en="HTTP service task", fields=(), send=send)
registry.register(CHANNEL)
