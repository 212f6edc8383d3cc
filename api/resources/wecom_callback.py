"""WeCom's callback URL (public: WeCom signs and encrypts what it sends, engine/channels/wecom_inbound.py)
and the contacts HR links by hand.

- `GET /channels/wecom/callback`: the URL check WeCom makes when the admin saves the URL — answers the
  decrypted `echostr` as text/plain; a wrong signature is 403 (audited `wecom_callback_refused`).
- `POST /channels/wecom/callback`: an event (XML with `<Encrypt>`): verified, decrypted, applied,
  answered `success` at once; a repeated event changes nothing; 403 when it fails verification, 503
  when WeCom's own API could not be asked (WeCom sends the event again).
- `GET /channels/wecom/contacts`: new WeCom contacts no candidate was found for (HR);
  `POST /channels/wecom/contacts/{contact_id}/link`: link one to a candidate;
  `POST /channels/wecom/states`: the opaque state of a candidate's "contact me" QR code.
- Sign in with WeCom (engine/channels/wecom_signin.py): `GET /session/wecom` answers whether it is on
  and WeCom's login URL, and sets a short-lived state cookie; WeCom sends the browser back to
  `GET /session/wecom/callback`, which signs the person in (the session cookie, as a password would)
  and sends them to the workspace — or to its sign-in page with `#wecom=refused`.
"""
from __future__ import annotations

from dataclasses import asdict

from flask import Response, jsonify, redirect, request
from flask.views import MethodView
from marshmallow import fields, validate

from engine.channels import wecom_contacts, wecom_inbound, wecom_signin
from engine.channels.registry import ChannelError
from engine.channels.wecom import WeComNotConfigured
from engine.channels.wecom_crypto import WeComCryptoError
from engine.signin import SigninRefused

from ..auth import SESSION_COOKIE
from ..blueprint import Blueprint
from ..problems import problem
from ..schemas import ProblemSchema as _Problem, Strict
from ..state import current_user, engine, state

blp = Blueprint("wecom_callback", __name__, description="WeCom: the callback URL, contact linking, sign-in")
TAGS = ["channels"]
PROBLEM = "application/problem+json"
XML_BODY = {"required": True, "content": {"text/xml": {"schema": {
    "type": "string", "description": "<xml><ToUserName>…</ToUserName><Encrypt>…</Encrypt><AgentID>…</AgentID></xml>"}}}}


class SignedQuerySchema(Strict):
    msg_signature = fields.String(required=True, validate=validate.Length(min=1, max=128))
    timestamp = fields.String(required=True, validate=validate.Length(min=1, max=32))
    nonce = fields.String(required=True, validate=validate.Length(min=1, max=64))


class UrlCheckQuerySchema(SignedQuerySchema):
    echostr = fields.String(required=True, validate=validate.Length(min=1, max=1024))


class ContactSchema(Strict):
    id = fields.Integer(required=True)
    external_userid = fields.String(required=True)
    follow_userid = fields.String(required=True, metadata={"description": "the employee whose contact they are"})
    candidate_id = fields.String(allow_none=True, required=True)
    matched_by = fields.String(allow_none=True, required=True, metadata={"description": "state, phone or hand"})
    name = fields.String(allow_none=True, required=True, metadata={"description": "their WeCom name (unmatched only)"})
    linked_at = fields.DateTime(allow_none=True, required=True)
    removed_at = fields.DateTime(allow_none=True, required=True)
    created_at = fields.DateTime(required=True)


class ContactListSchema(Strict):
    items = fields.List(fields.Nested(ContactSchema), required=True)


class LinkInSchema(Strict):
    candidate_id = fields.String(required=True, validate=validate.Length(min=1, max=36))


class StateInSchema(Strict):
    candidate_id = fields.String(required=True, validate=validate.Length(min=1, max=36))


class StateSchema(Strict):
    candidate_id = fields.String(required=True)
    state = fields.String(required=True, metadata={
        "description": "put it as `state` in the employee's contact way (\"contact me\" QR code): a new contact "
                       "made through it is linked to this candidate"})


def _text(body: str) -> Response:
    return Response(body, status=200, mimetype="text/plain")


def _refused(error: WeComCryptoError) -> Response:
    return problem(403, f"the callback failed verification: {error}", slug="forbidden")


def _unavailable(error: ChannelError) -> Response:
    return problem(503, f"WeCom could not be asked about the event; it will send it again: {error}")


@blp.route("/channels/wecom/callback", tags=TAGS)
class Callback(MethodView):
    @blp.arguments(UrlCheckQuerySchema, location="query", unknown="raise")
    @blp.response(200, description="the decrypted echostr, as text/plain", content_type="text/plain")
    @blp.alt_response(403, schema=_Problem, content_type=PROBLEM, description="the signature or the payload is wrong")
    @blp.alt_response(404, schema=_Problem, content_type=PROBLEM, description="WeCom is not configured")
    def get(self, query):
        """WeCom's URL check: verify the signature over `echostr` and answer its plaintext."""
        try:
            return _text(wecom_inbound.verify_url(engine(), **query, address=request.remote_addr))
        except WeComCryptoError as error:
            return _refused(error)
        except WeComNotConfigured as error:
            return problem(404, str(error))

    @blp.arguments(SignedQuerySchema, location="query", unknown="raise")
    @blp.doc(requestBody=XML_BODY)
    @blp.response(200, description="`success`, as text/plain", content_type="text/plain")
    @blp.alt_response(403, schema=_Problem, content_type=PROBLEM, description="the signature or the payload is wrong")
    @blp.alt_response(404, schema=_Problem, content_type=PROBLEM, description="WeCom is not configured")
    @blp.alt_response(503, schema=_Problem, content_type=PROBLEM, description="WeCom's API did not answer")
    def post(self, query):
        """A WeCom event (change_external_contact: a contact added or removed), signed and encrypted."""
        try:
            wecom_inbound.receive(engine(), **query, body=request.get_data(cache=False),
                                  address=request.remote_addr)
        except WeComCryptoError as error:
            return _refused(error)
        except WeComNotConfigured as error:
            return problem(404, str(error))
        except ChannelError as error:
            return _unavailable(error)
        return _text("success")


@blp.route("/channels/wecom/contacts", tags=TAGS)
class Contacts(MethodView):
    @blp.response(200, ContactListSchema)
    def get(self):
        """New WeCom contacts no candidate was found for, newest first: link them by hand."""
        with engine().db.read_transaction() as s:
            return {"items": [asdict(c) for c in wecom_contacts.unmatched(s)]}


@blp.route("/channels/wecom/contacts/<int:contact_id>/link", tags=TAGS)
class Link(MethodView):
    @blp.arguments(LinkInSchema)
    @blp.response(200, ContactSchema)
    @blp.alt_response(409, schema=_Problem, content_type=PROBLEM, description="linked to another candidate already")
    def post(self, body, contact_id):
        """Link a WeCom contact to a candidate (records the "added us on WeCom" signal)."""
        return asdict(wecom_contacts.link_by_hand(engine(), contact_id, body["candidate_id"],
                                                  actor=current_user().name))


@blp.route("/channels/wecom/states", tags=TAGS)
class States(MethodView):
    @blp.arguments(StateInSchema)
    @blp.response(200, StateSchema)
    def post(self, body):
        """The candidate's "contact me" state (made the first time; the same one after)."""
        from engine.archive import TalentArchive

        eng = engine()
        if not TalentArchive(eng).exists(body["candidate_id"]):
            return problem(404, f"candidate {body['candidate_id']} does not exist")
        with eng.db.write_transaction() as s:
            state = wecom_contacts.state_for(s, body["candidate_id"], now=eng.clock.now())
        return {"candidate_id": body["candidate_id"], "state": state}


# ---------------------------------------------------------------- sign in with WeCom
STATE_COOKIE = "recall_wecom_state"
STATE_SECONDS = 600
WORKSPACE = "/app/"


class WecomSigninSchema(Strict):
    enabled = fields.Boolean(required=True, metadata={"description": "WeCom is set up: show \"sign in with WeCom\""})
    url = fields.String(allow_none=True, required=True, metadata={
        "description": "WeCom's login page to send the browser to (with this answer's state cookie)"})


class WecomReturnSchema(Strict):
    code = fields.String(required=True, validate=validate.Length(min=1, max=512))
    state = fields.String(required=True, validate=validate.Length(min=1, max=128))


def _state_path() -> str:
    return f"{state().url_prefix}/session/wecom"


@blp.route("/session/wecom", tags=["session"])
class WecomSignin(MethodView):
    @blp.response(200, WecomSigninSchema)
    def get(self):
        """Whether sign-in with WeCom is on, and WeCom's login URL (sets the short-lived state cookie)."""
        eng = engine()
        if not wecom_signin.enabled(eng):
            return {"enabled": False, "url": None}
        started = wecom_signin.start(eng, redirect_uri=request.host_url.rstrip("/") + _state_path() + "/callback")
        response = jsonify(WecomSigninSchema().dump({"enabled": True, "url": started.url}))
        # Lax, not Strict: the browser comes back from WeCom's site, a cross-site navigation
        response.set_cookie(STATE_COOKIE, started.state, max_age=STATE_SECONDS, path=_state_path(), httponly=True,
                            samesite="Lax", secure=request.is_secure)
        return response


@blp.route("/session/wecom/callback", tags=["session"])
class WecomReturn(MethodView):
    @blp.arguments(WecomReturnSchema, location="query", unknown="exclude")
    @blp.response(302, description="signed in: to the workspace; refused: to its sign-in page with #wecom=refused")
    def get(self, query):
        """Where WeCom sends the browser back: sign in the person whose WeCom user id it vouches for."""
        try:
            done = wecom_signin.finish(engine(), state().signin, code=query["code"], state=query["state"],
                                       expected_state=request.cookies.get(STATE_COOKIE), address=request.remote_addr)
        except SigninRefused:
            response = redirect(WORKSPACE + "signin#wecom=refused", 302)
        else:
            response = redirect(WORKSPACE, 302)
            response.set_cookie(SESSION_COOKIE, done.session_id, path=state().url_prefix or "/", httponly=True,
                                samesite="Strict", secure=request.is_secure)
        response.delete_cookie(STATE_COOKIE, path=_state_path(), httponly=True, samesite="Lax",
                               secure=request.is_secure)
        return response

