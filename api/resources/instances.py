"""Process instances: start (idempotent), list, read (ETag), history, cancel, retry."""
from __future__ import annotations

from flask import url_for
from flask.views import MethodView

from engine import readmodels

from ..blueprint import Blueprint
from ..etags import ETAG_HEADER, IF_MATCH_PARAMETER, etag, expected_version
from ..idempotency import IDEMPOTENCY_PARAMETER, idempotent
from ..pagination import page
from ..schemas import (
    CancelInstanceSchema, HistoryPageSchema, InstancePageSchema, InstanceQuerySchema, InstanceSchema,
    PageQuerySchema, RetryInstanceSchema, StartInstanceSchema,
)
from ..state import current_user, engine
from .precondition import stale_is_412

blp = Blueprint("instances", __name__, description="Running and finished cases")
TAGS = ["process-instances"]


def _instance_response(view, status: int = 200, **headers):
    return view, status, {"ETag": etag(view.row_version), **headers}


@blp.route("/process-instances", tags=TAGS)
class Instances(MethodView):
    @blp.arguments(InstanceQuerySchema, location="query", unknown="raise")
    @blp.response(200, InstancePageSchema)
    def get(self, query):
        """Instances filtered by process, status and business key; oldest first."""
        limit, offset = query.pop("limit"), query.pop("offset")
        rows = engine().list_instances(**query, limit=limit + 1, offset=offset)
        return page(rows, limit=limit, offset=offset)

    @idempotent
    @blp.doc(parameters=[IDEMPOTENCY_PARAMETER])
    @blp.arguments(StartInstanceSchema)
    @blp.response(201, InstanceSchema, headers={**ETAG_HEADER, "Location": {"schema": {"type": "string"}}})
    def post(self, body):
        """Start an instance of a deployed process; `Idempotency-Key` makes retries safe."""
        view = engine().start_instance(body["process_key"], business_key=body["business_key"],
                                       variables=body["variables"], version=body["version"],
                                       actor=current_user().name)
        location = url_for(".Instance", instance_id=view.id)
        return _instance_response(view, 201, Location=location)


@blp.route("/process-instances/<instance_id>", tags=TAGS)
class Instance(MethodView):
    @blp.response(200, InstanceSchema, headers=ETAG_HEADER)
    def get(self, instance_id):
        """One instance with its ready tasks (their people by display name), waiting timers (due times) and
        waiting messages."""
        view = engine().get_instance(instance_id)
        readmodels.name_tasks(engine(), view.ready_tasks)
        return _instance_response(view)


@blp.route("/process-instances/<instance_id>/history", tags=TAGS)
class History(MethodView):
    @blp.arguments(PageQuerySchema, location="query", unknown="raise")
    @blp.response(200, HistoryPageSchema)
    def get(self, query, instance_id):
        """The audit trail: who did what, when, in order (people also by display name: `actor_name`)."""
        entries = engine().history(instance_id)
        offset, limit = query["offset"], query["limit"]
        return page(readmodels.name_actors(engine(), entries[offset:offset + limit + 1]), limit=limit, offset=offset)


@blp.route("/process-instances/<instance_id>/cancel", tags=TAGS)
class Cancel(MethodView):
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.arguments(CancelInstanceSchema)
    @blp.response(200, InstanceSchema, headers=ETAG_HEADER)
    def post(self, body, instance_id):
        """Cancel a running instance (409 if it already ended)."""
        expected = expected_version()
        with stale_is_412(expected):
            view = engine().cancel_instance(instance_id, actor=current_user().name, reason=body["reason"],
                                            expected_version=expected)
        return _instance_response(view)


@blp.route("/process-instances/<instance_id>/retry", tags=TAGS)
class Retry(MethodView):
    @blp.doc(parameters=[IF_MATCH_PARAMETER])
    @blp.arguments(RetryInstanceSchema)
    @blp.response(200, InstanceSchema, headers=ETAG_HEADER)
    def post(self, body, instance_id):
        """Re-run the failed step of an instance in `error`, optionally on the latest version."""
        expected = expected_version()
        with stale_is_412(expected):
            view = engine().retry_instance(instance_id, actor=current_user().name, data=body["data"],
                                           upgrade=body["upgrade"], expected_version=expected)
        return _instance_response(view)

