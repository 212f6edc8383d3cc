"""The talent archive: candidates, their declines (which start `offer_recall`), signals, search, erasure.

Contact fields (name, phone, email, wecom_external_id) are in an answer only for callers who
may see them: hr and admin always, a hiring manager only while holding an open hand-off task
for that candidate (each such read is audited). Who may call which endpoint is api/permissions.py.
"""
from __future__ import annotations

import json

import marshmallow as ma
from flask import url_for
from flask.views import MethodView
from marshmallow import ValidationError, fields, validate

from engine import days
from engine.archive import SearchFilters, TalentArchive, Viewer
from engine.archive.access import CONTACT_ROLES, CandidateAccessDenied
from engine.archive.search import CANDIDATE_SORTS
from engine.archive.records import CONSENT_SCOPES, DuplicateCandidate, InvalidCandidateData
from engine.archive.sync import BULK_LIMIT, ExternalIdTaken, SyncArchive
from engine.errors import NotFound
from engine.archive.views import CONTACT_FIELDS

from ..blueprint import Blueprint
from ..etags import conditional
from ..idempotency import IDEMPOTENCY_PARAMETER, idempotent
from ..pagination import decode_cursor, deprecated_offset, keyset_page, offset_paging, page
from ..problems import handle_exception, problem
from .ranking import LIKELIHOOD, ReasonSchema, attach_scores, decode_likelihood_cursor, likelihood_page
from ..schemas import Day, DayOrMoment, PageQuerySchema, PageSchema, ProblemSchema, Strict
from ..state import current_user, engine, state

blp = Blueprint("candidates", __name__, description="The talent archive")
TAGS = ["candidates"]
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,35}$"


def archive() -> TalentArchive:
    return TalentArchive(engine(), settings=state().privacy)


def _str(max_length: int, **kwargs):
    return fields.String(validate=validate.Length(max=max_length), **kwargs)


def _str_list(max_items: int = 50, max_length: int = 500, **kwargs):
    return fields.List(fields.String(validate=validate.Length(min=1, max=max_length)),
                       validate=validate.Length(max=max_items), **kwargs)


# ---------------------------------------------------------------- request bodies
class RoundField(fields.Field):
    """An interview round: a number (1, 2) or a label ("HR 面")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValidationError("a round number or label")
        if isinstance(value, str) and not 1 <= len(value) <= 64:
            raise ValidationError("1-64 characters")
        return value


class InterviewRoundSchema(Strict):
    round = RoundField(required=True, metadata={"oneOf": [{"type": "integer"}, {"type": "string", "minLength": 1,
                                                                                "maxLength": 64}]})
    interviewer = _str(255, load_default=None, allow_none=True)
    evaluation = _str(5000, load_default=None, allow_none=True)


class ConsentInSchema(Strict):
    granted = fields.Boolean(required=True, metadata={"description": "false (or withdraw) withdraws a consent "
                                                                     "given earlier and ends the running cases"})
    scope = fields.String(validate=validate.OneOf(CONSENT_SCOPES), load_default=None, allow_none=True)
    source = _str(255, load_default=None, allow_none=True,
                  metadata={"description": "where it was given, e.g. 'phone call', 'WeCom form'"})
    expires_at = DayOrMoment(load_default=None, allow_none=True, metadata={"description":
        "the last day the consent holds (YYYY-MM-DD, a day in RECALL_TIMEZONE), stored as the end of that day; "
        "a date-time stands for its day"})
    withdraw = fields.Boolean(load_default=False)


class ProfileSchema(Strict):
    name = _str(255, allow_none=True)
    phone = _str(64, allow_none=True)
    email = fields.Email(allow_none=True, validate=validate.Length(max=320))
    wecom_external_id = _str(255, allow_none=True)
    role_applied = _str(255, allow_none=True)
    tags = _str_list(max_length=64)
    needs = _str_list()
    open_questions = _str_list()
    interview_trail = fields.List(fields.Nested(InterviewRoundSchema), validate=validate.Length(max=50))
    notes = _str(20000, allow_none=True)
    consent = fields.Nested(ConsentInSchema, allow_none=True)
    external_id = fields.String(validate=validate.Length(min=1, max=255), metadata={"description":
        "the source system's own id (unique per source): a second create with it is 409 with existing_id; "
        "on PATCH it links this candidate to that id"})
    source = fields.String(validate=validate.Length(min=1, max=255), metadata={"description":
        "whose external_id it is; default and for everyone but an admin: the caller's user name. An admin "
        "links a candidate to an integrator's id this way, putting it in that integrator's scope"})


class CandidateInSchema(ProfileSchema):
    id = fields.String(validate=validate.Regexp(ID_PATTERN),
                       metadata={"description": "optional: the ATS's own id (default: a UUID)"})
    name = _str(255, required=True, metadata={"description": "required, not blank"})


class CreateQuerySchema(Strict):
    allow_duplicate = fields.Boolean(load_default=False, metadata={"description":
        "create even when a candidate with the same phone, email, or name and role exists (else 409)"})


class DeclineInSchema(Strict):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=64), metadata={
        "description": "one of the deployed bundle's decline reasons (GET /vocabulary); another is refused (422)"})
    detail = _str(5000, load_default=None, allow_none=True)
    decline_date = DayOrMoment(load_default=None, allow_none=True, metadata={"description":
        "default: now; the cadence counts from it. A day (YYYY-MM-DD, RECALL_TIMEZONE) means the start of that day"})
    role = _str(255, load_default=None, allow_none=True)
    hiring_manager = _str(255, load_default=None, allow_none=True)
    needs = _str_list(load_default=None, allow_none=True)
    open_questions = _str_list(load_default=None, allow_none=True)
    consent = fields.Nested(ConsentInSchema, load_default=None, allow_none=True)
    lang = fields.String(load_default="zh", validate=validate.OneOf(("zh", "en")))
    external_id = fields.String(validate=validate.Length(min=1, max=255), metadata={"description":
        "the source system's id of this decline (the caller's): sent again, the decline recorded with it "
        "is answered (200, existing: true), for ever, and nothing new starts"})


class SignalInSchema(Strict):
    kind = fields.String(required=True, validate=validate.Length(min=1, max=64),
                         metadata={"description": "e.g. open_to_work, family_resolved, left_new_job"})
    text = _str(5000, load_default=None, allow_none=True)
    source = _str(255, load_default=None, allow_none=True, metadata={"description": "e.g. wecom, linkedin, referral"})
    consent_noted = fields.Boolean(load_default=False)


class SearchQuerySchema(PageQuerySchema):
    offset = deprecated_offset()
    reason = fields.String(validate=validate.Length(min=1, max=64), metadata={
        "description": "a decline reason (GET /vocabulary; a reason of an earlier version still finds its declines)"})
    role = fields.String(validate=validate.Length(min=1, max=255))
    tag = fields.String(validate=validate.Length(min=1, max=64))
    q = fields.String(validate=validate.Length(min=1, max=200),
                      metadata={"description": "full text over notes, needs, open questions, decline details, "
                                "signals; for callers who may see contact fields also part of the name or email, "
                                "or a phone number in any format (+86, spaces, dashes)"})
    declined_from = Day(metadata={"description": "a decline on or after this day (in RECALL_TIMEZONE)"})
    declined_to = Day(metadata={"description": "a decline on or before this day (in RECALL_TIMEZONE)"})
    due_within_days = fields.Integer(validate=validate.Range(min=0, max=366),
                                     metadata={"description": "a follow-up due within this many days (7: this week)"})
    count = fields.String(load_default="capped", validate=validate.OneOf(("capped", "exact")),
                          metadata={"description": "capped (default): total exact up to 500; exact: count all"})
    updated_after = fields.AwareDateTime(format="iso", metadata={
        "description": "RFC 3339 with an offset: only candidates changed after this moment"})
    sort = fields.String(load_default="-listed_at", validate=validate.OneOf(CANDIDATE_SORTS), metadata={
        "description": "-listed_at (default: newest decline first), created_at, updated_at ('-': newest "
                       "first), -likelihood (who to call first: pinned, then the recall likelihood), then by id. A walk that must see every candidate once: created_at; a sync "
                       "of changes: updated_at (a candidate changed during the walk comes again later)"})
    after = fields.String(validate=validate.Length(min=1, max=1000), metadata={
        "description": "the cursor of the previous page (its `next` link carries it): starts right after "
                       "that page's last row"})


# ---------------------------------------------------------------- answers
class ConsentSchema(Strict):
    granted = fields.Boolean(required=True)
    scope = fields.String(allow_none=True)
    source = fields.String(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    expires_on = fields.String(allow_none=True, metadata={"description": "the last day the consent holds "
                                                           "(YYYY-MM-DD in RECALL_TIMEZONE); show this, not expires_at"})
    withdrawn_at = fields.DateTime(allow_none=True)
    recorded_at = fields.DateTime(allow_none=True)
    renewal_requested_at = fields.DateTime(allow_none=True)


class DeclineSchema(Strict):
    id = fields.String(required=True)
    reason = fields.String(required=True)
    detail = fields.String(allow_none=True)
    decline_date = fields.DateTime(required=True)
    decline_day = fields.String(allow_none=True, metadata={"description": "the day of decline_date "
                                                           "(YYYY-MM-DD in RECALL_TIMEZONE)"})
    role = fields.String(allow_none=True)
    hiring_manager = fields.String(allow_none=True)
    hiring_manager_name = fields.String(allow_none=True, metadata={
        "description": "the hiring manager's display name (else user name); on GET /candidates/{id}"})
    instance_id = fields.String(allow_none=True)
    needs = fields.List(fields.String())
    open_questions = fields.List(fields.String())
    lang = fields.String()
    created_at = fields.DateTime()


class CaseSchema(Strict):
    instance_id = fields.String(required=True)
    process_key = fields.String(required=True)
    status = fields.String(required=True)
    end_event = fields.String(allow_none=True)
    created_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)


class MessageOutSchema(Strict):
    at = fields.DateTime(required=True)
    direction = fields.String(required=True, validate=validate.OneOf(("sent", "received")))
    stage = fields.String(allow_none=True)
    element_id = fields.String(allow_none=True)
    channel = fields.String(allow_none=True)
    text = fields.String(allow_none=True)
    instance_id = fields.String(allow_none=True)
    actor = fields.String()
    name = fields.String(allow_none=True, metadata={"description": "what was received: candidate_replied, "
                         "offer_response, new_hire_feedback, employee_left or candidate_signal (a signal, not a "
                         "reply, whatever its stage); null for a sent message"})
    recorded_at = fields.DateTime(allow_none=True, metadata={
        "description": "a reply recorded later than the candidate gave it: `at` is when they answered "
                       "(the recorded `replied_at`), this is when it was recorded"})


class SignalSchema(Strict):
    id = fields.Integer(required=True)
    kind = fields.String(required=True)
    text = fields.String(allow_none=True)
    source = fields.String(allow_none=True)
    consent_noted = fields.Boolean()
    received_at = fields.DateTime()
    recorded_by = fields.String()
    delivered_to = fields.List(fields.String())


class TimelineSchema(Strict):
    at = fields.DateTime(required=True)
    kind = fields.String(required=True)
    actor = fields.String()
    summary = fields.String()
    instance_id = fields.String(allow_none=True)
    element_id = fields.String(allow_none=True)
    actor_name = fields.String(allow_none=True, metadata={
        "description": "the actor's display name (else user name); null for the engine or a timer worker"})


class CandidateSummarySchema(Strict):
    id = fields.String(required=True)
    name = fields.String(allow_none=True, metadata={"description": "only for callers who may see contact data"})
    phone = fields.String(allow_none=True, metadata={"description": "only for callers who may see contact data"})
    email = fields.String(allow_none=True, metadata={"description": "only for callers who may see contact data"})
    wecom_external_id = fields.String(allow_none=True,
                                      metadata={"description": "only for callers who may see contact data"})
    contact_visible = fields.Boolean(required=True)
    role_applied = fields.String(allow_none=True)
    tags = fields.List(fields.String(), required=True)
    needs = fields.List(fields.String())
    open_questions = fields.List(fields.String())
    consent = fields.Nested(ConsentSchema, required=True)
    last_decline = fields.Nested(DeclineSchema, allow_none=True)
    external_ids = fields.List(fields.Dict(), metadata={"description":
        "[{source, external_id}]: the source systems' ids of this candidate (filled on a single candidate's "
        "answer, empty in lists)"})
    next_follow_up_at = fields.DateTime(allow_none=True, metadata={
        "description": "the earliest open follow-up task's due time (when its stage's timer was due), else the "
                       "earliest cadence timer waiting"})
    next_follow_up_open = fields.Boolean(metadata={"description": "a follow-up task is waiting for HR"})
    next_follow_up_overdue = fields.Boolean(metadata={"description": "that open follow-up is overdue (the inbox's rule)"})
    listed_at = fields.DateTime()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    likelihood = fields.Float(allow_none=True, metadata={"description": "the recall likelihood (0-1; in lists; null "
                              "until scored): docs/ranking.md"})
    likelihood_reasons = fields.List(fields.Nested(ReasonSchema), metadata={"description": "its top reasons"})
    likelihood_source = fields.String(allow_none=True, metadata={"description": "scorecard:N or model:N"})
    pinned = fields.Boolean(metadata={"description": "a person pinned them: call first"})

    @ma.post_dump(pass_original=True)
    def _hide_contact(self, data, original, **_kwargs):
        if not getattr(original, "contact_visible", False):
            for field in CONTACT_FIELDS:
                data.pop(field, None)
        return data


class CandidateSchema(CandidateSummarySchema):
    interview_trail = fields.List(fields.Dict())
    notes = fields.String(allow_none=True)
    declines = fields.List(fields.Nested(DeclineSchema), required=True)
    cases = fields.List(fields.Nested(CaseSchema), required=True)
    messages = fields.List(fields.Nested(MessageOutSchema), required=True)
    signals = fields.List(fields.Nested(SignalSchema), required=True)
    timeline = fields.List(fields.Nested(TimelineSchema), required=True)


class CandidatePageSchema(PageSchema):
    items = fields.List(fields.Nested(CandidateSummarySchema), required=True)
    total = fields.Integer(allow_none=True, required=True,
                           metadata={"description": "exact; null when more than total_at_least - 1 match"})
    total_at_least = fields.Integer(required=True)
    next_cursor = fields.String(allow_none=True, metadata={
        "description": "`after` of the next page (null on the last page or with offset paging)"})


class DeclineResultSchema(Strict):
    decline_id = fields.String(required=True)
    instance_id = fields.String(required=True, metadata={"description": "the offer_recall case started"})
    candidate_id = fields.String(required=True)
    external_id = fields.String(allow_none=True)
    existing = fields.Boolean(metadata={"description": "true: recorded before under this external_id; "
                                                       "nothing new was recorded or started"})


class SignalResultSchema(Strict):
    signal_id = fields.Integer(required=True)
    candidate_id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(("delivered", "recorded")),
                           metadata={"description": "delivered: a case in its cadence raised react_to_signal"})
    delivered_to = fields.List(fields.String(), required=True)


class ErasureSchema(Strict):
    candidate_id = fields.String(required=True)
    erased_at = fields.DateTime(required=True)
    reason = fields.String()
    cases_cancelled = fields.List(fields.String())
    cases_scrubbed = fields.List(fields.String())
    tasks_scrubbed = fields.Integer()
    audit_events_scrubbed = fields.Integer()
    buffered_messages_scrubbed = fields.Integer()
    status = fields.String(metadata={"enum": ["done", "pending"], "description":
        "done: nothing of the person is left in the database files; pending (SQLite): a reader kept the "
        "write-ahead log from being truncated, the worker retries until it is (audit: erasure_pending, "
        "erasure_completed)"})


def _taken(exc: ExternalIdTaken):
    return problem(409, str(exc), title="External id already used", slug="external-id-exists",
                   existing_id=exc.existing_id, candidate_id=exc.candidate_id, kind=exc.kind)


def _viewer() -> Viewer:
    user = current_user()
    return Viewer(user.name, user.role)


def _duplicates(exc: DuplicateCandidate, *, contact: bool):
    found = []
    for d in exc.found:
        item = {"id": d.id, "matched_on": list(d.matched_on), "role_applied": d.role_applied}
        if contact:
            item.update(d.contact)
        found.append(item)
    return problem(409, str(exc), title="Candidate may already exist", slug="duplicate-candidate",
                   duplicates=found)


# ---------------------------------------------------------------- views
def _invalid(exc: InvalidCandidateData) -> ValidationError:
    return ValidationError({exc.field: [exc.message]})


@blp.route("/candidates", tags=TAGS)
class Candidates(MethodView):
    @conditional(blp)
    @blp.arguments(SearchQuerySchema, location="query", unknown="raise")
    @blp.response(200, CandidatePageSchema)
    def get(self, query):
        """Find candidates again: by decline reason, role, tag, decline dates, free text (and name, phone,
        email for who may see them), who is due a follow-up (`due_within_days=7`: this week), or
        changed since (`updated_after`). Newest decline first (`sort`). Page with `after` (the `next`
        link); `offset` still works but is deprecated."""
        by_offset = offset_paging(query)
        declined_from, declined_to = days.span(query.get("declined_from"), query.get("declined_to"))
        filters = SearchFilters(
            reason=query.get("reason"), role=query.get("role"), tag=query.get("tag"), q=query.get("q"),
            declined_from=declined_from, declined_to=declined_to, due_within_days=query.get("due_within_days"),
            updated_after=query.get("updated_after"), contact=current_user().role in CONTACT_ROLES)
        limit, offset, sort = query["limit"], query["offset"], query["sort"]
        decode = decode_likelihood_cursor if sort == LIKELIHOOD else (lambda cursor: decode_cursor(cursor, sort))
        after = decode(query["after"]) if query.get("after") is not None else None
        found = archive().search(filters, limit=limit + 1, offset=offset, count=query["count"], sort=sort,
                                 after=after)
        attach_scores(found.items)
        if sort == LIKELIHOOD and not by_offset:
            body = likelihood_page(found.items, limit=limit)
        elif by_offset:
            body = {**page(found.items, limit=limit, offset=offset), "next_cursor": None}
        else:
            field = sort.lstrip("-")
            body = keyset_page(found.items, limit=limit, sort=sort, key=lambda c: (getattr(c, field), c.id))
        body["total"] = found.total
        body["total_at_least"] = found.total_at_least
        return body

    @blp.arguments(CreateQuerySchema, location="query", unknown="raise")
    @blp.arguments(CandidateInSchema)
    @blp.response(201, CandidateSchema, headers={"Location": {"schema": {"type": "string"}}})
    @blp.alt_response(409, schema=ProblemSchema, content_type="application/problem+json",
                      description="duplicate-candidate: `duplicates` lists the existing ones; external-id-exists: "
                                  "`existing_id` is the candidate holding this source's external_id")
    def post(self, query, body):
        """Add a candidate to the archive (personal data lives here, never in workflow state).

        A name is required (422 naming `name`). One with the same phone (any format), email
        (case-insensitive) or name and role already there: 409 `duplicate-candidate` whose
        `duplicates` are `{id, matched_on, role_applied}` plus the contact fields for callers who
        may see them, so the form can offer to use that one; `?allow_duplicate=true` creates anyway."""
        user = current_user()
        try:
            view = archive().create_candidate(body, actor=user.name, check_duplicates=not query["allow_duplicate"],
                                              viewer=_viewer())
        except InvalidCandidateData as exc:
            raise _invalid(exc) from exc
        except ExternalIdTaken as exc:
            return _taken(exc)
        except DuplicateCandidate as exc:
            return _duplicates(exc, contact=user.role in CONTACT_ROLES)
        return view, 201, {"Location": url_for(".Candidate", candidate_id=view.id)}


@blp.route("/candidates/<candidate_id>", tags=TAGS)
class Candidate(MethodView):
    @conditional(blp)
    @blp.response(200, CandidateSchema)
    def get(self, candidate_id):
        """One candidate: declines, consent, cases, messages (sent follow-ups and replies), timeline;
        contact fields only for those who may see them."""
        user = current_user()
        try:
            return archive().get_candidate(candidate_id, viewer=Viewer(user.name, user.role))
        except CandidateAccessDenied as exc:
            # the answer for an id that does not exist: a caller who may not see a candidate
            # cannot tell whether it exists (issue 12.12)
            raise NotFound(f"no candidate {candidate_id}") from exc
        except NotFound:
            target = archive().merged_into(candidate_id) if user.role in CONTACT_ROLES else None
            if target is None:
                raise
            # a merged record: where it lives on (an old link in the workspace follows it)
            return problem(404, f"candidate {candidate_id} was merged into {target}", title="Candidate merged",
                           slug="candidate-merged", merged_into=target)

    @blp.arguments(ProfileSchema)
    @blp.response(200, CandidateSchema)
    def patch(self, body, candidate_id):
        """Change profile fields, tags or consent (a withdrawn consent ends the candidate's running cases).
        An integrator: only a candidate it created or was given (else 404)."""
        try:
            return archive().update_candidate(candidate_id, body, actor=current_user().name, viewer=_viewer())
        except InvalidCandidateData as exc:
            raise _invalid(exc) from exc
        except ExternalIdTaken as exc:
            return _taken(exc)

    @blp.response(200, ErasureSchema)
    def delete(self, candidate_id):
        """Erase the person: personal data removed from the archive, every case's workflow state, task
        data, rendered messages and audit details; running cases cancelled; anonymous counts kept.
        An integrator: only a candidate it created or was given (else 404)."""
        return archive().erase(candidate_id, actor=current_user().name, viewer=_viewer())


@blp.route("/candidates/<candidate_id>/declines", tags=TAGS)
class Declines(MethodView):
    @idempotent
    @blp.doc(parameters=[IDEMPOTENCY_PARAMETER])
    @blp.arguments(DeclineInSchema)
    @blp.response(201, DeclineResultSchema, headers={"Location": {"schema": {"type": "string"}}})
    @blp.alt_response(200, schema=DeclineResultSchema, description="a decline with this `external_id` was "
                      "recorded before (the caller's source): it is answered, nothing new starts")
    @blp.alt_response(409, schema=ProblemSchema, content_type="application/problem+json",
                      description="external-id-exists: the caller's `external_id` names a decline of another candidate")
    def post(self, body, candidate_id):
        """Record a decline and start `offer_recall` for it; `Idempotency-Key` makes retries safe, and an
        `external_id` (the source's id of the decline) makes a re-sent decline find the first, for ever."""
        try:
            result = archive().record_decline(candidate_id, body, actor=current_user().name)
        except InvalidCandidateData as exc:
            raise _invalid(exc) from exc
        except ExternalIdTaken as exc:
            return _taken(exc)
        location = {"Location": url_for("recall_instances.Instance", instance_id=result.instance_id)}
        return result, 200 if result.existing else 201, location


@blp.route("/candidates/<candidate_id>/signals", tags=TAGS)
class Signals(MethodView):
    @idempotent
    @blp.doc(parameters=[IDEMPOTENCY_PARAMETER])
    @blp.arguments(SignalInSchema)
    @blp.response(201, SignalResultSchema)
    def post(self, body, candidate_id):
        """Record something new about a candidate; a case in its follow-up cadence raises `react_to_signal`
        for HR at once (BPMN signal `candidate_signal`, for this candidate's cases only). With an
        `Idempotency-Key`, a second click answers the first signal instead of recording another."""
        return archive().record_signal(candidate_id, body, actor=current_user().name)


class MergeInSchema(Strict):
    from_id = fields.String(required=True, data_key="from", validate=validate.Length(min=1, max=36), metadata={
        "description": "the other record's id: it is absorbed into this one and deleted"})


@blp.route("/candidates/<candidate_id>/merge", tags=TAGS)
class Merge(MethodView):
    @idempotent
    @blp.doc(parameters=[IDEMPOTENCY_PARAMETER])
    @blp.arguments(MergeInSchema)
    @blp.response(200, CandidateSchema)
    @blp.alt_response(409, schema=ProblemSchema, content_type="application/problem+json",
                      description="`from` (or this record) was merged into another already")
    def post(self, body, candidate_id):
        """Merge two records of one person: this one survives, `from` is absorbed (its declines, cases,
        messages, signals, consent history and tags move here; empty profile fields are filled from it;
        the stricter consent holds) and deleted: `GET` of its id answers 404 with `merged_into`.
        Audited on both ids; `Idempotency-Key` makes a second click answer the first merge."""
        try:
            return archive().merge(candidate_id, body["from_id"], actor=current_user().name)
        except InvalidCandidateData as exc:
            raise _invalid(exc) from exc


# ---------------------------------------------------------------- sync in (issue 16): engine/archive/sync.py
EXTERNAL_ID = validate.Length(min=1, max=255)


def _external_id(value: str) -> str:
    try:
        EXTERNAL_ID(value)
    except ValidationError as exc:
        raise ValidationError({"external_id": exc.messages}) from exc
    return value


class UpsertSchema(CandidateInSchema):
    class Meta:
        exclude = ("external_id",)


@blp.route("/candidates/by-external-id/<external_id>", tags=TAGS)
class CandidateByExternalId(MethodView):
    @blp.arguments(CreateQuerySchema, location="query", unknown="raise")
    @blp.arguments(UpsertSchema)
    @blp.response(200, CandidateSchema)
    @blp.alt_response(201, schema=CandidateSchema, description="created: no candidate carried this id yet")
    @blp.alt_response(409, schema=ProblemSchema, content_type="application/problem+json",
                      description="duplicate-candidate (on create): `duplicates` lists the existing ones")
    def put(self, query, body, external_id):
        """Upsert by the source system's id (the caller's, or an admin's `source`): no candidate carries
        it yet → created (201); else the fields the body carries are set (200; fields left out stay as
        they are; nothing differs → nothing written). Same body as `POST /candidates`; idempotent. An
        integrator changes only candidates it created or was given, and sees contact fields only of those
        it created. `consent: {"granted": false}` withdraws (the running cases end)."""
        try:
            view, status = SyncArchive(archive()).upsert(_external_id(external_id), body, viewer=_viewer(),
                                                         check_duplicates=not query["allow_duplicate"])
        except InvalidCandidateData as exc:
            raise _invalid(exc) from exc
        except DuplicateCandidate as exc:
            return _duplicates(exc, contact=current_user().role in CONTACT_ROLES)
        if status == "created":
            return view, 201, {"Location": url_for(".Candidate", candidate_id=view.id)}
        return view


class ItemList(fields.List):
    """A list of objects each checked on its own by the view (a bad item fails alone), documented
    as its inner schema."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise ValidationError("a list of objects")
        return value


class BulkDeclineSchema(DeclineInSchema):
    external_id = fields.String(required=True, validate=EXTERNAL_ID,
                                metadata={"description": "the source's id of this decline: a re-run finds it"})


class BulkItemSchema(CandidateInSchema):
    external_id = fields.String(required=True, validate=EXTERNAL_ID,
                                metadata={"description": "the source's id of this candidate: created or updated by it"})
    declines = fields.List(fields.Nested(BulkDeclineSchema), validate=validate.Length(max=50))


class BulkInSchema(Strict):
    items = ItemList(fields.Nested(BulkItemSchema), required=True, validate=validate.Length(
        min=1, max=BULK_LIMIT, error=f"give 1 to {BULK_LIMIT} items per call (the limit); split larger runs"))


class BulkDeclineResultSchema(Strict):
    external_id = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": ["created", "existing"]})
    decline_id = fields.String(allow_none=True)
    instance_id = fields.String(allow_none=True)


class BulkItemResultSchema(Strict):
    index = fields.Integer(required=True, metadata={"description": "the item's place in the request, from 0"})
    external_id = fields.String(allow_none=True)
    status = fields.String(required=True, metadata={"enum": ["created", "updated", "unchanged", "failed"]})
    id = fields.String(allow_none=True, metadata={"description": "the candidate's id in the archive"})
    declines = fields.List(fields.Nested(BulkDeclineResultSchema), required=True)
    problem = fields.Dict(allow_none=True, metadata={"description": "failed: the problem+json this item alone "
                                                                     "would have got (status, type, errors)"})


class BulkResultSchema(Strict):
    items = fields.List(fields.Nested(BulkItemResultSchema), required=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


def _item_problem(exc: Exception) -> dict:
    if isinstance(exc, InvalidCandidateData):
        exc = _invalid(exc)
    body = json.loads((_taken(exc) if isinstance(exc, ExternalIdTaken) else
                       _duplicates(exc, contact=current_user().role in CONTACT_ROLES)
                       if isinstance(exc, DuplicateCandidate) else handle_exception(exc)).get_data())
    return body


@blp.route("/candidates/bulk", tags=TAGS)
class CandidatesBulk(MethodView):
    @blp.arguments(CreateQuerySchema, location="query", unknown="raise")
    @blp.arguments(BulkInSchema)
    @blp.response(200, BulkResultSchema)
    def post(self, query, body):
        """For nightly jobs: up to 500 candidates (engine.archive.sync.BULK_LIMIT), each with its declines, by the source's ids.
        Each item is all or nothing, with its own result: its candidate upserted as by
        `PUT /candidates/by-external-id/{external_id}`, its declines recorded (an `external_id` seen
        before: `existing`, nothing starts). A re-run is a no-op (`unchanged`). A bad item fails alone
        (`failed` with the `problem` it would have got; `errors[].field` names its field); the others
        are kept. The answer is 200 whatever the items' fates: read each `status`."""
        schema, results = BulkItemSchema(), []
        valid: list[tuple[int, dict]] = []
        for index, raw in enumerate(body["items"]):
            try:
                valid.append((index, schema.load(raw)))
            except ValidationError as exc:
                results.append({"index": index, "external_id": raw.get("external_id") if isinstance(
                    raw.get("external_id"), str) else None, "status": "failed", "id": None, "declines": [],
                    "problem": _item_problem(exc)})
        done = SyncArchive(archive()).bulk([item for _, item in valid], viewer=_viewer(),
                                           check_duplicates=not query["allow_duplicate"])
        for (index, _), item in zip(valid, done):
            results.append({"index": index, "external_id": item.external_id, "status": item.status,
                            "id": item.candidate_id, "problem": _item_problem(item.error) if item.error else None,
                            "declines": [{"external_id": d.external_id, "status": d.status,
                                          "decline_id": d.result.decline_id, "instance_id": d.result.instance_id}
                                         for d in item.declines]})
        results.sort(key=lambda r: r["index"])
        counts = {status: 0 for status in ("created", "updated", "unchanged", "failed")}
        for r in results:
            counts[r["status"]] += 1
        return {"items": results, "counts": counts}
