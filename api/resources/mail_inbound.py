"""Mail coming back (issue 17, engine/channels/email_inbound.py): a raw message pushed by a mail provider
or gateway (integrator, admin), and HR's queue of mail no candidate was found for (HR, admin: never a
hiring manager — a mail is personal data)."""
from __future__ import annotations

from dataclasses import asdict

from flask import request
from flask.views import MethodView
from marshmallow import fields, validate

from engine.channels import email_inbound
from engine.errors import FieldError, FormValidationError

from ..blueprint import Blueprint
from ..problems import problem
from ..schemas import ProblemSchema, Strict
from ..state import current_user, engine

blp = Blueprint("mail_inbound", __name__, description="Email coming back: pushed mail, the unmatched queue")
TAGS = ["channels"]
PROBLEM = "application/problem+json"
RFC822 = "message/rfc822"


class InboundSchema(Strict):
    id = fields.String(required=True)
    status = fields.String(required=True, metadata={
        "description": "recorded (the candidate's reply), unmatched (waits for HR), assigned (by hand), "
                       "bounce (the address is marked failing) or ignored (a bounce of nothing we sent)"})
    source = fields.String(required=True, metadata={"description": "imap (the poll) or push (this endpoint)"})
    from_address = fields.String(allow_none=True, required=True)
    from_name = fields.String(allow_none=True, required=True)
    subject = fields.String(allow_none=True, required=True)
    text = fields.String(allow_none=True, required=True, metadata={"description": "quoted history cut off"})
    sent_at = fields.DateTime(allow_none=True, required=True, metadata={"description": "the Date header"})
    received_at = fields.DateTime(required=True)
    candidate_id = fields.String(allow_none=True, required=True)
    matched_by = fields.String(allow_none=True, required=True, metadata={
        "description": "reply_to_message (In-Reply-To/References), from_address (one candidate has it) or hand"})
    delivered_to = fields.List(fields.String(), required=True, metadata={"description": "cases the reply reached"})
    duplicate = fields.Boolean(required=True, metadata={"description": "true: this Message-ID was received "
                                                                       "before; nothing was recorded again"})


class InboundListSchema(Strict):
    items = fields.List(fields.Nested(InboundSchema), required=True)


class UnmatchedQuerySchema(Strict):
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 500))


class AssignSchema(Strict):
    candidate_id = fields.String(required=True, validate=validate.Length(min=1, max=36))


RAW_BODY = {"required": True, "description": "the whole mail as received (RFC 5322), e.g. from a provider's "
                                             "inbound hook",
            "content": {RFC822: {"schema": {"type": "string", "format": "binary"}}}}


@blp.route("/channels/email/inbound", tags=TAGS)
class Inbound(MethodView):
    @blp.doc(requestBody=RAW_BODY)
    @blp.response(200, InboundSchema)
    @blp.alt_response(422, schema=ProblemSchema, content_type=PROBLEM, description="an empty body")
    def post(self):
        """Receive one mail pushed as `message/rfc822`: recorded as the candidate's reply, queued for HR,
        or a bounce — exactly as if the mailbox poll had read it; the same Message-ID twice records once."""
        if request.mimetype != RFC822:         # the guard lets JSON through to every endpoint
            return problem(415, f"send the mail as {RFC822}, not {request.mimetype or 'no content type'}")
        raw = request.get_data(cache=False)
        if not raw.strip():
            raise FormValidationError([FieldError("body", f"send the mail as {RFC822}: the body was empty")])
        view = email_inbound.receive(engine(), raw, source="push", actor=current_user().name)
        return asdict(view)


@blp.route("/channels/email/unmatched", tags=TAGS)
class Unmatched(MethodView):
    @blp.arguments(UnmatchedQuerySchema, location="query", unknown="raise")
    @blp.response(200, InboundListSchema)
    def get(self, query):
        """Mail no candidate was found for (no reply to our mail, an address no or several candidates
        have), oldest first: HR assigns each by hand."""
        return {"items": [asdict(v) for v in email_inbound.unmatched(engine(), limit=query["limit"])]}


@blp.route("/channels/email/unmatched/<inbound_id>/assign", tags=TAGS)
class Assign(MethodView):
    @blp.arguments(AssignSchema)
    @blp.response(200, InboundSchema)
    @blp.alt_response(404, schema=ProblemSchema, content_type=PROBLEM, description="no such mail or candidate")
    @blp.alt_response(409, schema=ProblemSchema, content_type=PROBLEM,
                      description="the mail was recorded or assigned already, or no case of the candidate takes it")
    def post(self, body, inbound_id):
        """Say whose reply this is: recorded as that candidate's `candidate_replied` (audited as you)."""
        return asdict(email_inbound.assign(engine(), inbound_id, body["candidate_id"], actor=current_user().name))
