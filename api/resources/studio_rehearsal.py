"""Rehearsals (issue 19): `POST /studio/rehearsals` runs a draft (or the deployed version) on a scratch
database in a background thread (engine/studio/rehearsal.py) and answers 202 with the rehearsal's id;
`GET /studio/rehearsals/{rehearsal_id}` gives its status and, when done, the report;
`GET /studio/rehearsals/defaults` what a rehearsal assumes when it is not told (the studio page's form
is prefilled with it): the reply probability per follow-up stage as the funnel measured it, the archive's mix
of decline reasons, the limits.

Rehearsals live in this process's memory (the newest MAX_KEPT; a restart forgets them) and run one at a time
(the machine has 2 CPUs): a second one waits its turn with status "queued". A person sees their own
rehearsals (an admin everyone's). Nothing is written to the live database.
"""
from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from flask.views import MethodView
from marshmallow import ValidationError, fields, validate

from engine.errors import NotFound
from engine.studio import rehearsal as R

from ..blueprint import Blueprint
from ..state import current_user, engine, state
from ..schemas import Strict
from .studio import _studio, _viewer

blp = Blueprint("studio_rehearsal", __name__, description="Rehearse a draft before it goes live")
TAGS = ["studio"]
MAX_KEPT = 50
_RUNS: OrderedDict[str, dict] = OrderedDict()
_LOCK = threading.Lock()
_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rehearsal")


class RehearsalInSchema(Strict):
    draft_id = fields.String(required=True, validate=validate.Length(1, 64), metadata={
        "description": "a draft's id, or \"deployed\" for the deployed version alone"})
    candidates = fields.Integer(load_default=R.DEFAULT_CANDIDATES, strict=True,
                                validate=validate.Range(1, R.MAX_CANDIDATES))
    days = fields.Integer(load_default=R.DEFAULT_DAYS, strict=True, validate=validate.Range(1, R.MAX_DAYS))
    seed = fields.Integer(load_default=0, strict=True, validate=validate.Range(-2**31, 2**31 - 1))
    reply_probabilities = fields.Dict(
        keys=fields.String(validate=validate.Length(1, 100)),
        values=fields.Float(validate=validate.Range(0, 1)), load_default=None, allow_none=True,
        validate=validate.Length(max=50),
        metadata={"description": "reply probability per follow-up task id (default: the funnel's measure)"})
    reasons = fields.List(fields.String(validate=validate.OneOf(R.REASONS)), load_default=None, allow_none=True,
                          validate=validate.Length(1, len(R.REASONS)),
                          metadata={"description": "a chosen set of decline reasons (default: the archive's mix)"})


class RehearsalSchema(Strict):
    id = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "queued, running, done or failed"})
    draft_id = fields.String(required=True)
    owner = fields.String(required=True)
    report = fields.Dict(allow_none=True, metadata={"description": "options, rehearsal, deployed, difference"})
    error = fields.Dict(allow_none=True)


class RehearsalDefaultsSchema(Strict):
    candidates = fields.Integer(required=True)
    max_candidates = fields.Integer(required=True)
    days = fields.Integer(required=True)
    max_days = fields.Integer(required=True)
    reasons = fields.List(fields.String(), required=True, metadata={"description": "the reasons one may choose"})
    reason_mix = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True, metadata={
        "description": "declines per reason in the archive (empty: a rehearsal draws uniformly)"})
    reply_probabilities = fields.Dict(keys=fields.String(), values=fields.Float(), required=True, metadata={
        "description": "per follow-up task id: the funnel's measured reply rate, else the documented default"})
    measured = fields.List(fields.String(), required=True, metadata={
        "description": "the task ids whose probability the funnel measured (the others are defaults)"})


def _public(run: dict) -> dict:
    return {k: run.get(k) for k in ("id", "status", "draft_id", "owner", "report", "error")}


def prepare(scratch) -> None:
    """The scratch engine as the live one is set up: the archive installed, the built-in channels loaded."""
    from engine.archive import install
    from engine.channels.builtin import load_builtin
    install(scratch)
    load_builtin()


def _run(run: dict, live, files, forms, options: dict) -> None:
    from engine.archive.analytics import funnel
    run["status"] = "running"
    try:
        run["report"] = R.rehearse(live, files=files, forms=forms, prepare=prepare, funnel=funnel, **options)
        run["status"] = "done"
    except R.RehearsalError as exc:
        run["status"], run["error"] = "failed", exc.errors
    except Exception as exc:  # noqa: BLE001 - a rehearsal that breaks reports why, the server goes on
        run["status"], run["error"] = "failed", {"rehearsal": [f"{type(exc).__name__}: {exc}"]}


@blp.route("/studio/rehearsals", tags=TAGS)
class Rehearsals(MethodView):
    @blp.arguments(RehearsalInSchema)
    @blp.response(202, RehearsalSchema)
    def post(self, body):
        """Rehearse a draft (or "deployed") on a scratch database; poll GET /studio/rehearsals/{id}."""
        viewer = _viewer()
        files = forms = None
        if body["draft_id"] != "deployed":
            draft = _studio().get_draft(body["draft_id"], viewer)      # 404 for someone else's
            files, forms = draft["files"], draft["forms"]
        try:
            R.validate_options(body["candidates"], body["days"], body["seed"], body["reply_probabilities"],
                               body["reasons"])
        except R.RehearsalError as exc:
            raise ValidationError(exc.errors) from exc
        run = {"id": str(uuid.uuid4()), "status": "queued", "draft_id": body["draft_id"], "owner": viewer.name,
               "report": None, "error": None}
        with _LOCK:
            _RUNS[run["id"]] = run
            while len(_RUNS) > MAX_KEPT:
                _RUNS.popitem(last=False)
        options = {k: body[k] for k in ("candidates", "days", "seed", "reply_probabilities", "reasons")}
        options["parallel"] = state().settings.rehearsal_parallel       # RECALL_REHEARSAL_PARALLEL
        _POOL.submit(_run, run, engine(), files, forms, options)
        return _public(run)


@blp.route("/studio/rehearsals/defaults", tags=TAGS)
class RehearsalDefaults(MethodView):
    @blp.response(200, RehearsalDefaultsSchema)
    def get(self):
        """What a rehearsal assumes when not told: the funnel's reply rates, the archive's reason mix, the limits."""
        from engine.archive.analytics import funnel
        live = engine()
        measured = R.measured_reply_rates(live, funnel)
        return {"candidates": R.DEFAULT_CANDIDATES, "max_candidates": R.MAX_CANDIDATES, "days": R.DEFAULT_DAYS,
                "max_days": R.MAX_DAYS, "reasons": list(R.REASONS), "reason_mix": R.reason_mix(live.db),
                "reply_probabilities": {**R.DEFAULT_REPLY, **measured}, "measured": sorted(measured)}


@blp.route("/studio/rehearsals/<string:rehearsal_id>", tags=TAGS)
class Rehearsal(MethodView):
    @blp.response(200, RehearsalSchema)
    def get(self, rehearsal_id):
        """A rehearsal's status and, when done, its report."""
        user = current_user()
        with _LOCK:
            run = _RUNS.get(rehearsal_id)
        if run is None or (run["owner"] != user.name and user.role != "admin"):
            raise NotFound(f"no rehearsal {rehearsal_id}")
        return _public(run)
