"""Prometheus metrics: process-local counters and histograms, database-wide gauges.

Counters and histograms count what *this process* did (Prometheus adds them up across
processes), each engine in its own `Metrics` (`engine.metrics`): timers its worker fired and their lateness, timer failures and incidents,
conflicts, task completions, messages taken and expired, and HTTP answers of its API.
Gauges are read from the database at scrape time and are the same from every process:
instances by status, open incidents, waiting / due timers and the age of the oldest due
timer, buffered messages by status (an expired message stays counted there).

`render(engine)` returns the text exposition format (version 0.0.4); `GET
/api/v1/metrics` serves it, and a `recall worker` serves it on
`RECALL_WORKER_METRICS_PORT` when that is set.
"""
from __future__ import annotations

import math
import threading
from typing import Iterable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Iterable[str], values: Iterable[str], extra: str = "") -> str:
    parts = [f'{n}="{_escape(v)}"' for n, v in zip(names, values)]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


class Counter:
    kind = "counter"

    def __init__(self, name: str, help_text: str, labels: tuple[str, ...] = ()):
        self.name, self.help, self.label_names = name, help_text, labels
        self._values: dict[tuple[str, ...], float] = {}
        self._lock = threading.Lock()

    def inc(self, amount: float = 1, **labels) -> None:
        key = tuple(str(labels.get(n, "")) for n in self.label_names)
        with self._lock:
            self._values[key] = self._values.get(key, 0) + amount

    def value(self, **labels) -> float:
        key = tuple(str(labels.get(n, "")) for n in self.label_names)
        with self._lock:
            return self._values.get(key, 0)

    def samples(self) -> list[str]:
        with self._lock:
            items = sorted(self._values.items())
        if not items and not self.label_names:
            items = [((), 0)]
        return [f"{self.name}{_labels(self.label_names, key)} {_number(v)}" for key, v in items]


class Histogram:
    kind = "histogram"

    def __init__(self, name: str, help_text: str, buckets: tuple[float, ...]):
        self.name, self.help = name, help_text
        self.buckets = tuple(sorted(buckets)) + (math.inf,)
        self._counts = [0] * len(self.buckets)
        self._sum = 0.0
        self._count = 0
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self._lock:
            self._sum += value
            self._count += 1
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    self._counts[i] += 1
                    break

    @property
    def count(self) -> int:
        return self._count

    def samples(self) -> list[str]:
        with self._lock:
            counts, total, count = list(self._counts), self._sum, self._count
        lines, cumulative = [], 0
        for bound, n in zip(self.buckets, counts):
            cumulative += n
            lines.append(f'{self.name}_bucket{{le="{_number(bound)}"}} {cumulative}')
        lines.append(f"{self.name}_sum {_number(total)}")
        lines.append(f"{self.name}_count {count}")
        return lines


class Registry:
    def __init__(self):
        self.metrics: list[Counter | Histogram] = []

    def counter(self, name: str, help_text: str, labels: tuple[str, ...] = ()) -> Counter:
        metric = Counter(name, help_text, labels)
        self.metrics.append(metric)
        return metric

    def histogram(self, name: str, help_text: str, buckets: tuple[float, ...]) -> Histogram:
        metric = Histogram(name, help_text, buckets)
        self.metrics.append(metric)
        return metric

    def lines(self) -> list[str]:
        out: list[str] = []
        for metric in self.metrics:
            out.append(f"# HELP {metric.name} {metric.help}")
            out.append(f"# TYPE {metric.name} {metric.kind}")
            out.extend(metric.samples())
        return out


class Metrics(Registry):
    """One engine's counters and histograms (`engine.metrics`): what it and the API and worker
    serving it did. Owned by the engine, not the module, so two engines in one process count apart."""

    def __init__(self):
        super().__init__()
        self.timers_fired = self.counter("recall_timers_fired_total", "Timers fired by this process's worker.")
        self.timer_lateness = self.histogram(
            "recall_timer_lateness_seconds", "How long after its due time a timer fired (this process's worker).",
            (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86400))
        self.timer_failures = self.counter(
            "recall_timer_failures_total", "Timer firings that failed outside the diagram (rolled back, retried).")
        self.timer_incidents = self.counter(
            "recall_timer_incidents_total", "Timers that ran out of attempts and put their instance in error.")
        self.conflicts = self.counter(
            "recall_conflicts_total", "Changes refused because the instance changed first (optimistic lock, "
            "task no longer ready, stale If-Match, stale timer claim).", ("source", "reason"))
        self.task_completions = self.counter(
            "recall_task_completions_total", "Tasks completed through this process's API.")
        self.http_responses = self.counter("recall_http_responses_total", "API answers by endpoint and status.",
                                           ("endpoint", "status"))
        self.messages = self.counter(
            "recall_messages_total", "Messages from outside taken by this process: delivered, "
            "buffered, or replayed (a repeated message_id).", ("name", "outcome"))
        self.messages_expired = self.counter(
            "recall_messages_expired_total", "Buffered messages that expired undelivered (this process's worker).",
            ("name",))
        self.worker_rounds = self.counter("recall_worker_rounds_total", "Worker rounds run by this process.")
        self.worker_round_failures = self.counter(
            "recall_worker_round_failures_total", "Worker rounds that failed as a whole (e.g. database unreachable).")
        self.channel_sends = self.counter(
            "recall_channel_sends_total", "Channel sends (engine/channels/outbox.py) reaching a status.",
            ("channel", "status"))


def database_lines(engine) -> list[str]:
    """Gauges read from the database now (the same from every process)."""
    from sqlalchemy import func, select

    from .models import BufferedMessage, ProcessInstance, WaitingTimer
    from .status import LIVE, STATUSES, database_now

    now = database_now(engine)
    live = ProcessInstance.status.in_(LIVE)
    with engine.db.read_transaction() as s:
        by_status = dict(s.execute(select(ProcessInstance.status, func.count())
                                   .group_by(ProcessInstance.status)).all())
        incidents = s.scalar(select(func.count()).select_from(ProcessInstance).where(
            ProcessInstance.status == "error", ProcessInstance.error["kind"].as_string() == "incident")) or 0
        waiting = s.scalar(select(func.count()).select_from(WaitingTimer)) or 0
        due_live = (select(WaitingTimer.due_at)
                    .join(ProcessInstance, ProcessInstance.id == WaitingTimer.instance_id)
                    .where(WaitingTimer.due_at <= now, live).subquery())
        due = s.scalar(select(func.count()).select_from(due_live)) or 0
        oldest = s.scalar(select(func.min(due_live.c.due_at)))
        messages = s.execute(select(BufferedMessage.status, func.count()).group_by(BufferedMessage.status)).all()
    lines = ["# HELP recall_instances Process instances by status.", "# TYPE recall_instances gauge"]
    for status in sorted({*STATUSES, *by_status}):
        lines.append(f'recall_instances{{status="{_escape(status)}"}} {by_status.get(status, 0)}')
    lines += ["# HELP recall_instances_in_error Process instances in error (script failures and incidents).",
              "# TYPE recall_instances_in_error gauge", f"recall_instances_in_error {by_status.get('error', 0)}",
              "# HELP recall_incidents_open Instances in error because a timer ran out of attempts.",
              "# TYPE recall_incidents_open gauge", f"recall_incidents_open {incidents}",
              "# HELP recall_timers_waiting Timers waiting (all instances).",
              "# TYPE recall_timers_waiting gauge", f"recall_timers_waiting {waiting}",
              "# HELP recall_timers_due Timers of live instances past their due time, not fired yet.",
              "# TYPE recall_timers_due gauge", f"recall_timers_due {due}",
              "# HELP recall_timer_oldest_due_seconds How long the oldest unfired due timer is overdue.",
              "# TYPE recall_timer_oldest_due_seconds gauge",
              f"recall_timer_oldest_due_seconds {_number(round((now - oldest).total_seconds(), 3)) if oldest else 0}"]
    lines += ["# HELP recall_buffered_messages Messages kept for later, by status (buffered, delivered, expired).",
              "# TYPE recall_buffered_messages gauge"]
    by_message_status = dict(messages)
    for status in sorted({"buffered", "delivered", "expired", *by_message_status}):
        lines.append(f'recall_buffered_messages{{status="{_escape(status)}"}} {by_message_status.get(status, 0)}')
    return lines


def render(engine) -> str:
    """The text exposition: the engine's counters, then the database gauges."""
    return "\n".join(engine.metrics.lines() + database_lines(engine)) + "\n"
