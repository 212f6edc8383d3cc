"""Webhooks: the event feed (engine/events.py) pushed to an integrator's URL, from the worker.

An admin subscribes a URL to event kinds (`Webhooks.create`; the signing secret is shown once).
The worker does the rest, never a request thread (`webhook_jobs(settings)`, run each round):

1. Fan-out: each active subscription walks the feed from its own cursor, like any reader; the
   events it wants become `webhook_deliveries` rows and the cursor moves on in one transaction
   (compare-and-set on the cursor: two workers never fan the same events out twice; the unique
   (subscription, event) key says so again).
2. Sending: due deliveries are leased (PostgreSQL: FOR UPDATE SKIP LOCKED; their next attempt
   moved to the lease's end, so a delivery in flight when its worker dies is sent again after
   RECALL_WEBHOOK_LEASE_SECONDS), POSTed outside any transaction, several at once, each with
   RECALL_WEBHOOK_TIMEOUT_SECONDS and no redirect followed, and the outcome is recorded only if
   the lease is still theirs. At-least-once: a receiver dedupes on the event id.
3. A failure (no answer, or not 2xx) is retried after RECALL_WEBHOOK_RETRY_SECONDS doubled per
   attempt (capped by RECALL_WEBHOOK_RETRY_MAX_SECONDS) for RECALL_WEBHOOK_RETRY_FOR_SECONDS; a
   delivery that fails that long is given up and disables its subscription (audit
   `webhook_disabled`, visible as status `disabled` with the reason). An admin re-enables it
   (PATCH active) and redelivers by hand.

The request: `POST <url>` with the event as JSON (ids only, engine/events.py) and the headers
`Recall-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`,
`Recall-Event-Id`, `Recall-Event-Kind`, `Recall-Delivery-Id`, `Recall-Webhook-Id`. Only the first
RESPONSE_EXCERPT characters of an answer are kept.
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import logging
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete, insert, select, update

from . import events
from .errors import FieldError, FormValidationError, InvalidState, NotFound
from .models import WebhookDelivery, WebhookSubscription
from .worker import PeriodicJob

log = logging.getLogger("recall.webhooks")

SIGNATURE_HEADER = "Recall-Signature"
EVENT_ID_HEADER = "Recall-Event-Id"
USER_AGENT = "OfferRecall-Webhooks/1"
ALL_KINDS = "*"
RESPONSE_EXCERPT = 200
FAN_OUT_PAGE = 500
PRUNE_SECONDS = 3600.0
_SUBS = WebhookSubscription.__table__
_DELIVERIES = WebhookDelivery.__table__


# ---------------------------------------------------------------- signatures
def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `Recall-Signature` header's value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, *, tolerance_seconds: float = 300, now: float | None = None) -> bool:
    """What a receiver checks: a v1 signature of `body` by `secret`, made within the tolerance."""
    parts = dict(p.split("=", 1) for p in (header or "").split(",") if "=" in p)
    try:
        timestamp = int(parts.get("t", ""))
    except ValueError:
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


# ---------------------------------------------------------------- views
@dataclass
class WebhookView:
    id: str
    url: str
    kinds: list
    description: str | None
    status: str
    disabled_reason: str | None
    disabled_at: datetime | None
    failures_in_row: int
    created_at: datetime
    created_by: str
    updated_at: datetime
    last_success_at: datetime | None
    secret: str | None = None           # only when it was just made (create, rotate)


def _webhook(row, secret: str | None = None) -> WebhookView:
    return WebhookView(row.id, row.url, list(row.kinds), row.description, row.status, row.disabled_reason,
                       row.disabled_at, row.failures_in_row, row.created_at, row.created_by, row.updated_at,
                       row.last_success_at, secret)


@dataclass
class DeliveryView:
    id: str
    webhook_id: str
    event_id: str
    event_kind: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    retry_until: datetime
    last_attempt_at: datetime | None
    response_status: int | None
    response_excerpt: str | None
    error: str | None
    created_at: datetime
    delivered_at: datetime | None
    event: dict


def _delivery(row) -> DeliveryView:
    return DeliveryView(row.id, row.subscription_id, str(row.event_id), row.event_kind, row.status, row.attempts,
                        row.next_attempt_at if row.status == "pending" else None, row.retry_until,
                        row.last_attempt_at, row.response_status, row.response_excerpt, row.error,
                        row.created_at, row.delivered_at, row.payload)


# ---------------------------------------------------------------- checks
def check_url(url) -> str:
    if not isinstance(url, str) or not url.strip():
        raise FormValidationError([FieldError("url", "give the receiver's http(s) URL")])
    url = url.strip()
    parts = urlsplit(url)
    problem = None
    if len(url) > 2048:
        problem = "at most 2048 characters"
    elif parts.scheme not in ("http", "https") or not parts.hostname:
        problem = "an absolute http:// or https:// URL"
    elif parts.username or parts.password:
        problem = "no user or password in the URL (the signature authenticates the sender)"
    elif parts.fragment:
        problem = "no #fragment"
    else:
        try:
            parts.port
        except ValueError:
            problem = "a port between 1 and 65535"
    if problem:
        raise FormValidationError([FieldError("url", f"expected {problem}")])
    return url


def check_kinds(kinds) -> list[str]:
    if not isinstance(kinds, list) or not kinds or not all(isinstance(k, str) for k in kinds):
        raise FormValidationError([FieldError("kinds", f"give a list of event kinds, or [\"{ALL_KINDS}\"] for all")])
    unknown = sorted(set(kinds) - set(events.KINDS) - {ALL_KINDS})
    if unknown:
        raise FormValidationError([FieldError("kinds", f"unknown event kind(s): {', '.join(unknown)}; known: "
                                                       f"{', '.join(events.KINDS)} or {ALL_KINDS}")])
    return [ALL_KINDS] if ALL_KINDS in kinds else sorted(set(kinds))


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


# ---------------------------------------------------------------- the admin's operations
class Webhooks:
    """Subscriptions and their delivery log (admin only, api/resources/webhooks.py); each method one unit of work."""

    def __init__(self, engine):
        self.engine = engine
        self.db = engine.db
        self.settings = engine.settings

    def _load(self, session, webhook_id: str, *, for_update: bool = False) -> WebhookSubscription:
        query = select(WebhookSubscription).where(WebhookSubscription.id == webhook_id)
        row = session.scalars(query.with_for_update() if for_update else query).first()
        if row is None:
            raise NotFound(f"no webhook {webhook_id}")
        return row

    def create(self, *, url, kinds, description: str | None = None, actor: str) -> WebhookView:
        """A new active subscription; it receives events from now on. The secret is in this answer only."""
        url, kinds = check_url(url), check_kinds(kinds)
        with events.snapshot(self.db) as s:
            start = events.tail(s) or events.Position(0, 0)
        now = self.engine.clock.now()
        secret = _new_secret()
        with self.db.write_transaction() as s:
            row = WebhookSubscription(
                id=str(uuid.uuid4()), url=url, kinds=kinds, description=description, secret=secret, status="active",
                failures_in_row=0, cursor_txid=start.txid, cursor_id=start.id, created_at=now, created_by=actor,
                updated_at=now)
            s.add(row)
            s.flush()
            self.engine.ops.audit(s, None, "webhook_created", actor, details={
                "webhook_id": row.id, "host": urlsplit(url).hostname, "kinds": kinds})
            return _webhook(row, secret)

    def list(self) -> list[WebhookView]:
        with self.db.read_transaction() as s:
            return [_webhook(r) for r in s.scalars(select(WebhookSubscription).order_by(WebhookSubscription.created_at,
                                                                                         WebhookSubscription.id))]

    def get(self, webhook_id: str) -> WebhookView:
        with self.db.read_transaction() as s:
            return _webhook(self._load(s, webhook_id))

    def update(self, webhook_id: str, changes: dict, *, actor: str) -> WebhookView:
        """Change url, kinds or description; `active` false disables, true enables again (failures
        forgotten); `rotate_secret` makes a new secret, shown in this answer only."""
        now = self.engine.clock.now()
        with self.db.write_transaction() as s:
            row = self._load(s, webhook_id, for_update=True)
            secret, what = None, sorted(k for k in changes if k != "rotate_secret" or changes[k])
            if "url" in changes:
                row.url = check_url(changes["url"])
            if "kinds" in changes:
                row.kinds = check_kinds(changes["kinds"])
            if "description" in changes:
                row.description = changes["description"]
            if changes.get("rotate_secret"):
                row.secret = secret = _new_secret()
            if changes.get("active") is True and row.status != "active":
                row.status, row.disabled_reason, row.disabled_at, row.failures_in_row = "active", None, None, 0
                self.engine.ops.audit(s, None, "webhook_enabled", actor, details={"webhook_id": row.id})
            elif changes.get("active") is False and row.status == "active":
                _disable(self.engine, s, row, f"disabled by {actor}", actor=actor, now=now)
            row.updated_at = now
            self.engine.ops.audit(s, None, "webhook_changed", actor, details={"webhook_id": row.id, "fields": what})
            return _webhook(row, secret)

    def delete(self, webhook_id: str, *, actor: str) -> None:
        with self.db.write_transaction() as s:
            row = self._load(s, webhook_id, for_update=True)
            s.execute(delete(_DELIVERIES).where(_DELIVERIES.c.subscription_id == row.id))
            s.delete(row)
            self.engine.ops.audit(s, None, "webhook_deleted", actor, details={"webhook_id": webhook_id})

    def deliveries(self, webhook_id: str, *, status: str | None = None, limit: int = 50) -> list[DeliveryView]:
        """The delivery log, newest first."""
        with self.db.read_transaction() as s:
            self._load(s, webhook_id)
            query = select(WebhookDelivery).where(WebhookDelivery.subscription_id == webhook_id)
            if status:
                query = query.where(WebhookDelivery.status == status)
            rows = s.scalars(query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.event_id.desc())
                             .limit(max(1, min(limit, 500))))
            return [_delivery(r) for r in rows]

    def redeliver(self, webhook_id: str, delivery_id: str, *, actor: str) -> DeliveryView:
        """Send a delivery again by hand (whatever its status), with a fresh retry period."""
        now = self.engine.clock.now()
        with self.db.write_transaction() as s:
            row = self._load(s, webhook_id)
            if row.status != "active":
                raise InvalidState(f"webhook {webhook_id} is disabled ({row.disabled_reason}); enable it first")
            delivery = s.scalars(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id,
                                                               WebhookDelivery.subscription_id == webhook_id)).first()
            if delivery is None:
                raise NotFound(f"no delivery {delivery_id} of webhook {webhook_id}")
            delivery.status, delivery.next_attempt_at, delivery.lease_token = "pending", now, None
            delivery.retry_until = now + timedelta(seconds=self.settings.webhook_retry_for_seconds)
            self.engine.ops.audit(s, None, "webhook_redelivered", actor, details={
                "webhook_id": webhook_id, "delivery_id": delivery_id, "event_id": delivery.event_id})
            s.flush()
            return _delivery(delivery)


def _disable(engine, session, row: WebhookSubscription, reason: str, *, actor: str, now: datetime) -> None:
    row.status, row.disabled_reason, row.disabled_at, row.updated_at = "disabled", reason[:255], now, now
    engine.ops.audit(session, None, "webhook_disabled", actor, details={"webhook_id": row.id, "reason": reason[:255]})
    log.warning(json.dumps({"event": "webhook_disabled", "webhook_id": row.id, "reason": reason}))


# ---------------------------------------------------------------- the worker's side
def fan_out(engine, *, page: int = FAN_OUT_PAGE) -> int:
    """Turn new events into deliveries for every active subscription; returns how many were made."""
    with engine.db.read_transaction() as s:
        subs = s.execute(select(_SUBS.c.id, _SUBS.c.kinds, _SUBS.c.cursor_txid, _SUBS.c.cursor_id,
                                _SUBS.c.created_at).where(_SUBS.c.status == "active")).all()
    made = 0
    retry_for = timedelta(seconds=engine.settings.webhook_retry_for_seconds)
    for sub in subs:
        cursor = events.Position(sub.cursor_txid, sub.cursor_id)
        kinds = None if ALL_KINDS in sub.kinds else set(sub.kinds)
        with events.snapshot(engine.db) as s:
            pruned = events.pruned_up_to(s)
            after = pruned if pruned is not None and cursor < pruned else cursor
            found, reached, _ = events.read_page(s, after=after, kinds=kinds, limit=page)
        if reached is None or reached == cursor:
            continue
        if after != cursor:
            log.warning(json.dumps({"event": "webhook_events_pruned", "webhook_id": sub.id,
                                    "from": cursor.cursor(), "to": after.cursor()}))
        now = engine.clock.now()
        with engine.db.write_transaction() as s:
            moved = s.execute(update(_SUBS).where(
                _SUBS.c.id == sub.id, _SUBS.c.status == "active", _SUBS.c.cursor_txid == cursor.txid,
                _SUBS.c.cursor_id == cursor.id).values(cursor_txid=reached.txid, cursor_id=reached.id)).rowcount
            if moved != 1 or not found:
                continue
            s.execute(insert(_DELIVERIES), [dict(
                id=str(uuid.uuid4()), subscription_id=sub.id, event_id=int(event.id), event_kind=event.kind,
                payload=event.as_payload(), status="pending", attempts=0, next_attempt_at=now,
                retry_until=now + retry_for, created_at=now) for event in found])
            made += len(found)
    return made


@dataclass
class Attempt:
    status: int | None = None
    excerpt: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def post(url: str, secret: str, payload: dict, *, webhook_id: str, delivery_id: str, timeout: float) -> Attempt:
    """One delivery attempt: POST, no redirect followed, at most an excerpt of the answer read."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               SIGNATURE_HEADER: signature(secret, int(time.time()), body),
               EVENT_ID_HEADER: str(payload.get("id")), "Recall-Event-Kind": str(payload.get("kind")),
               "Recall-Delivery-Id": delivery_id, "Recall-Webhook-Id": webhook_id}
    connection = None
    try:
        parts = urlsplit(url)
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(parts.hostname, parts.port, timeout=timeout)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        excerpt = response.read(RESPONSE_EXCERPT * 4).decode("utf-8", "replace")[:RESPONSE_EXCERPT]
        return Attempt(status=response.status, excerpt=excerpt or None,
                       error=None if 200 <= response.status < 300 else f"HTTP {response.status}")
    except Exception as exc:  # noqa: BLE001 - refused, timed out, TLS, a URL http.client cannot use: a failure
        return Attempt(error=f"{type(exc).__name__}: {exc}"[:500])
    finally:
        if connection is not None:
            connection.close()


@dataclass
class SendReport:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    given_up: int = 0


def _claim(engine, *, limit: int):
    settings = engine.settings
    now = engine.clock.now()
    token = str(uuid.uuid4())
    with engine.db.write_transaction() as s:
        ids = s.scalars(
            select(_DELIVERIES.c.id).join(_SUBS, _SUBS.c.id == _DELIVERIES.c.subscription_id)
            .where(_DELIVERIES.c.status == "pending", _DELIVERIES.c.next_attempt_at <= now, _SUBS.c.status == "active")
            .order_by(_DELIVERIES.c.next_attempt_at).limit(limit)
            .with_for_update(skip_locked=True, of=_DELIVERIES)).all()
        if not ids:
            return token, []
        s.execute(update(_DELIVERIES).where(_DELIVERIES.c.id.in_(ids)).values(
            lease_token=token, attempts=_DELIVERIES.c.attempts + 1, last_attempt_at=now,
            next_attempt_at=now + timedelta(seconds=settings.webhook_lease_seconds)))
        rows = s.execute(select(_DELIVERIES.c.id, _DELIVERIES.c.subscription_id, _DELIVERIES.c.payload,
                                _DELIVERIES.c.attempts, _DELIVERIES.c.retry_until, _SUBS.c.url, _SUBS.c.secret)
                         .join(_SUBS, _SUBS.c.id == _DELIVERIES.c.subscription_id)
                         .where(_DELIVERIES.c.id.in_(ids))).all()
    return token, rows


def retry_delay(settings, attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones (doubling, capped)."""
    return min(settings.webhook_retry_seconds * 2 ** max(attempts - 1, 0), settings.webhook_retry_max_seconds)


def _record(engine, row, token: str, attempt: Attempt, report: SendReport) -> None:
    settings = engine.settings
    now = engine.clock.now()
    mine = (_DELIVERIES.c.id == row.id) & (_DELIVERIES.c.lease_token == token)
    answer = dict(lease_token=None, response_status=attempt.status, response_excerpt=attempt.excerpt,
                  error=attempt.error)
    with engine.db.write_transaction() as s:
        if attempt.ok:
            if s.execute(update(_DELIVERIES).where(mine).values(status="delivered", delivered_at=now,
                                                                **answer)).rowcount != 1:
                return              # redelivered or re-leased meanwhile: the newer one records
            s.execute(update(_SUBS).where(_SUBS.c.id == row.subscription_id).values(failures_in_row=0,
                                                                                    last_success_at=now))
            report.delivered += 1
            return
        following = now + timedelta(seconds=retry_delay(settings, row.attempts))
        give_up = following > row.retry_until
        values = dict(status="failed") if give_up else dict(status="pending", next_attempt_at=following)
        if s.execute(update(_DELIVERIES).where(mine).values(**values, **answer)).rowcount != 1:
            return
        s.execute(update(_SUBS).where(_SUBS.c.id == row.subscription_id)
                  .values(failures_in_row=_SUBS.c.failures_in_row + 1))
        report.failed += 1
        if give_up:
            report.given_up += 1
            sub = s.scalars(select(WebhookSubscription).where(WebhookSubscription.id == row.subscription_id)
                            .with_for_update()).first()
            if sub is not None and sub.status == "active":
                _disable(engine, s, sub, f"delivery {row.id} failed {row.attempts} time(s) over "
                                         f"{settings.webhook_retry_for_seconds:g} s (last: {attempt.error})",
                         actor="worker:webhooks", now=now)


def send_due(engine, *, limit: int | None = None) -> SendReport:
    """Lease due deliveries, send them (several at once) and record each outcome."""
    settings = engine.settings
    token, rows = _claim(engine, limit=limit or settings.webhook_batch_size)
    report = SendReport(claimed=len(rows))
    if not rows:
        return report

    def attempt(row) -> Attempt:
        return post(row.url, row.secret, row.payload, webhook_id=row.subscription_id, delivery_id=row.id,
                    timeout=settings.webhook_timeout_seconds)

    with ThreadPoolExecutor(max_workers=min(8, len(rows)), thread_name_prefix="recall-webhook") as pool:
        attempts = list(pool.map(attempt, rows))
    for row, result in zip(rows, attempts):
        _record(engine, row, token, result, report)
    return report


def run_webhooks(engine) -> SendReport:
    made = fan_out(engine)
    report = send_due(engine)
    if made or report.claimed:
        log.info(json.dumps({"event": "webhooks", "deliveries_made": made, **vars(report)}))
    return report


def prune(engine) -> int:
    """The retention job: events and finished deliveries older than RECALL_EVENT_RETENTION_DAYS."""
    now = engine.clock.now()
    retention = timedelta(days=engine.settings.event_retention_days)
    removed = events.prune(engine.db, now=now, retention=retention)
    with engine.db.write_transaction() as s:
        removed += s.execute(delete(_DELIVERIES).where(_DELIVERIES.c.created_at < now - retention,
                                                       _DELIVERIES.c.status != "pending")).rowcount
    if removed:
        log.info(json.dumps({"event": "events_pruned", "rows": removed}))
    return removed


def webhook_jobs(settings) -> list[PeriodicJob]:
    """The worker's jobs for the feed: webhooks every round, the retention hourly."""
    return [PeriodicJob("webhooks", 0.0, run_webhooks), PeriodicJob("events_prune", PRUNE_SECONDS, prune)]
