"""GET /metrics: Prometheus text format (see engine/metrics.py and docs/operations.md).

Public, like /health: a Prometheus server scrapes without a user of its own, and the
figures are aggregate counts with no ids, names or messages in them (restrict the path
at the proxy if even those should stay inside). This module also counts this
process's API answers (task completions, conflicts) as they leave.
"""
from __future__ import annotations

from flask import Response, request
from flask.views import MethodView

from engine import metrics

from ..blueprint import Blueprint
from ..auth import endpoint_key
from ..state import state

blp = Blueprint("metrics", __name__, description="Prometheus metrics")
COMPLETE = "POST /tasks/{task_id}/complete"
CONFLICT_STATUSES = (409, 412)
TEXT = {"text/plain": {"schema": {"type": "string"}}}


@blp.route("/metrics", tags=["monitoring"])
class Metrics(MethodView):
    @blp.doc(security=[], responses={"200": {
        "description": "Prometheus text exposition (version 0.0.4): this process's counters and "
                       "histograms, and gauges read from the database", "content": TEXT}})
    def get(self):
        """Timers fired and their lateness, task completions, conflicts, instances by status and in error."""
        return Response(metrics.render(state().engine), content_type=metrics.CONTENT_TYPE,
                        headers={"Cache-Control": "no-store"})


def count_answer(response):
    """Count this answer in the engine's metrics (installed on the app by RecallAPI.init_app)."""
    if request.url_rule is None:
        return response
    st = state()
    prefix = st.url_prefix
    rule = request.url_rule.rule
    if prefix and not (rule == prefix or rule.startswith(prefix + "/")):
        return response           # a host application's own route
    key = endpoint_key(rule, request.method, prefix)
    status = response.status_code
    counters = st.engine.metrics
    counters.http_responses.inc(endpoint=key, status=str(status))
    if key == COMPLETE and 200 <= status < 300:
        counters.task_completions.inc()
    if status in CONFLICT_STATUSES:
        reason = "precondition_failed" if status == 412 else "conflict"
        body = response.get_json(silent=True) if response.is_json else None
        if isinstance(body, dict) and isinstance(body.get("type"), str):
            reason = body["type"].rsplit(":", 1)[-1].replace("-", "_")
        counters.conflicts.inc(source="api", reason=reason)
    return response
