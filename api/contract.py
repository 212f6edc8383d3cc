"""The published OpenAPI document: what flask-smorest builds, finished in one place.

`document(spec, prefix, internal=False)` takes the generated document and adds what a client
generator and a reader need, the same way for every operation (no resource repeats it):

- `operationId` from `OPERATION_IDS` (explicit and stable; a route not listed yet gets one
  derived from its method and path, never from a Python function name);
- the roles allowed (`x-roles` and a sentence in the description), from api/permissions.py's
  table; public operations get `security: []`;
- the errors each operation can answer, problem+json (401, 403, 404, 409, 412, 413, 422, 429,
  from the catalogue in api/problems.py), unless the operation documents that status itself;
- the headers: `X-Request-Id` on every answer, `Idempotent-Replayed` on the success answers of
  operations taking `Idempotency-Key`, `Retry-After` on 429, `RateLimit-*` where requests are counted;
- request body examples (`EXAMPLES`);
- response schemas that do not forbid added fields: `additionalProperties: false` (marshmallow's
  `unknown=RAISE`, api/schemas.py `Strict`) is kept on request bodies only, since a client must
  accept fields added later (docs/api.md, "Compatibility").

The public document (`GET /openapi.json`) leaves out the web workspace's own views and the
simulated clock (`INTERNAL_PREFIXES`); both are still served and are in the internal document
(`GET /openapi.json?internal=true`), which the schemathesis run fuzzes.
"""
from __future__ import annotations

import copy
import re
import weakref
from http import HTTPStatus

from .permissions import EVERYONE, PERMISSIONS, _Public
from .problems import ENGINE_ERRORS, HTTP_TYPES, PROBLEM_JSON, TYPE_BASE

METHODS = ("get", "put", "post", "patch", "delete")
UNSAFE = frozenset({"put", "post", "patch", "delete"})
INTERNAL_PREFIXES = ("/workspace/", "/testing/")
INTERNAL_TAGS = frozenset({"workspace", "testing"})
NOT_RATE_LIMITED = frozenset({"GET /health", "GET /metrics"})      # as api/auth.py
# problem types raised outside the catalogue's tables (api/auth.py, the archive's views)
MORE_TYPES = {403: ["csrf", "token-scope"], 409: ["external-id-exists"], 429: ["rate-limited"]}
RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset")

# "METHOD /path" (as in api/permissions.py) -> operationId. A contract: never rename one
# (tests/http/test_openapi_compat.py fails on a renamed operationId).
OPERATION_IDS: dict[str, str] = {
    "GET /ranking/scorecard": "getRankingScorecard",
    "PUT /ranking/scorecard": "saveRankingScorecard",
    "POST /ranking/refresh": "refreshRanking",
    "GET /ranking/model": "getRankingModelReport",
    "POST /ranking/model/train": "trainRankingModel",
    "GET /ranking/scores": "listRankingScores",
    "PUT /candidates/{candidate_id}/pin": "pinCandidate",
    "GET /recall-list": "getRecallList",
    "GET /health": "getHealth",
    "GET /metrics": "getMetrics",
    "GET /process-definitions": "listProcessDefinitions",
    "POST /process-definitions/{process_key}/migrations": "migrateProcessInstances",
    "GET /studio/drafts": "listStudioDrafts",
    "POST /studio/drafts": "createStudioDraft",
    "GET /studio/drafts/{draft_id}": "getStudioDraft",
    "PUT /studio/drafts/{draft_id}": "saveStudioDraft",
    "DELETE /studio/drafts/{draft_id}": "deleteStudioDraft",
    "GET /studio/drafts/{draft_id}/diff": "diffStudioDraft",
    "POST /studio/drafts/{draft_id}/deploy": "deployStudioDraft",
    "POST /studio/check": "checkStudioBundle",
    "POST /studio/preview-template": "previewStudioTemplate",
    "POST /studio/rehearsals": "rehearseStudioDraft",
    "GET /studio/rehearsals/{rehearsal_id}": "getStudioRehearsal",
    "POST /process-definitions": "deployProcessDefinitions",
    "GET /process-definitions/{process_key}": "getProcessDefinition",
    "POST /process-instances": "startProcessInstance",
    "GET /process-instances": "listProcessInstances",
    "GET /process-instances/{instance_id}": "getProcessInstance",
    "GET /process-instances/{instance_id}/history": "getProcessInstanceHistory",
    "POST /process-instances/{instance_id}/cancel": "cancelProcessInstance",
    "POST /process-instances/{instance_id}/retry": "retryProcessInstance",
    "GET /tasks": "listTasks",
    "GET /tasks/{task_id}": "getTask",
    "POST /tasks/{task_id}/claim": "claimTask",
    "POST /tasks/{task_id}/complete": "completeTask",
    "POST /tasks/{task_id}/release": "releaseTask",
    "POST /tasks/{task_id}/reassign": "reassignTask",
    "POST /messages": "deliverMessage",
    "POST /messages/bulk": "deliverMessagesInBulk",
    "GET /testing/clock": "getTestingClock",
    "POST /testing/clock": "changeTestingClock",
    "GET /workspace/me": "getWorkspaceMe",
    "GET /workspace/inbox": "getWorkspaceInbox",
    "GET /workspace/diagrams/{process_key}": "getWorkspaceDiagram",
    "GET /workspace/diagrams/{process_key}/waiting": "getWorkspaceDiagramWaiting",
    "GET /vocabulary": "getVocabulary",
    "GET /candidates": "listCandidates",
    "POST /candidates": "createCandidate",
    "GET /candidates/{candidate_id}": "getCandidate",
    "PATCH /candidates/{candidate_id}": "updateCandidate",
    "DELETE /candidates/{candidate_id}": "eraseCandidate",
    "PUT /candidates/by-external-id/{external_id}": "upsertCandidateByExternalId",
    "POST /candidates/bulk": "syncCandidatesInBulk",
    "POST /candidates/{candidate_id}/declines": "recordDecline",
    "POST /candidates/{candidate_id}/signals": "recordSignal",
    "POST /candidates/{candidate_id}/merge": "mergeCandidates",
    "GET /analytics/funnel": "getFunnel",
    "GET /users": "listUsers",
    "GET /users/me": "getCurrentUser",
    "GET /users/me/notifications": "getMyNotificationPreferences",
    "PUT /users/me/notifications": "setMyNotificationPreferences",
    "GET /users/{name}/notifications": "getUserNotificationPreferences",
    "PUT /users/{name}/notifications": "setUserNotificationPreferences",
    "GET /users/{name}/tokens": "listUserTokens",
    "POST /users/{name}/tokens": "createUserToken",
    "DELETE /users/{name}/tokens/{token_id}": "revokeUserToken",
    "POST /session": "signIn",
    "GET /session": "getSession",
    "DELETE /session": "signOut",
    "POST /session/password": "changePassword",
    "GET /events": "listEvents",
    "GET /webhooks": "listWebhooks",
    "POST /webhooks": "createWebhook",
    "GET /webhooks/{webhook_id}": "getWebhook",
    "PATCH /webhooks/{webhook_id}": "updateWebhook",
    "DELETE /webhooks/{webhook_id}": "deleteWebhook",
    "GET /webhooks/{webhook_id}/deliveries": "listWebhookDeliveries",
    "POST /webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver": "redeliverWebhookDelivery",
    "GET /channels": "listChannels",
    "GET /channels/{name}": "getChannel",
    "PUT /channels/{name}": "updateChannel",
    "POST /channels/{name}/test": "testChannel",
    "GET /tasks/{task_id}/sends": "listTaskSends",
    "POST /tasks/{task_id}/sends": "sendFromTask",
    "POST /tasks/{task_id}/sends/{send_id}/retry": "retryTaskSend",
    "POST /tasks/{task_id}/sends/{send_id}/mark-sent": "markTaskSendSent",
    "POST /channels/email/inbound": "receiveEmail",
    "GET /channels/email/unmatched": "listUnmatchedEmails",
    "POST /channels/email/unmatched/{inbound_id}/assign": "assignUnmatchedEmail",
    "GET /channels/wecom/callback": "verifyWecomCallbackUrl",
    "POST /channels/wecom/callback": "receiveWecomCallback",
    "GET /channels/wecom/contacts": "listUnmatchedWecomContacts",
    "POST /channels/wecom/contacts/{contact_id}/link": "linkWecomContact",
    "POST /channels/wecom/states": "getWecomContactState",
    "GET /session/wecom": "startWecomSignin",
    "GET /session/wecom/callback": "finishWecomSignin",
    "GET /roles": "listRoleProfiles",
    "GET /roles/{role_key}": "getRoleProfile",
    "PUT /roles/{role_key}": "saveRoleProfile",
    "PATCH /roles/{role_key}": "updateRoleOpenings",
    "GET /roles/{role_key}/versions": "listRoleProfileVersions",
    "POST /roles/import": "importRoleProfiles",
    "GET /candidates/{candidate_id}/links": "listCandidateLinks",
    "POST /candidates/{candidate_id}/links": "issueCandidateLink",
    "POST /links/{link_id}/revoke": "revokeCandidateLink",
    "POST /imports/preview": "previewImport",
    "GET /imports": "listImports",
    "POST /imports": "checkImport",
    "GET /imports/{run_id}": "getImport",
    "POST /imports/{run_id}/confirm": "confirmImport",
    "POST /imports/{run_id}/resume": "resumeImport",
    "POST /imports/{run_id}/discard": "discardImport",
}

# Request body examples of the main operations ("METHOD /path" -> body). tests/http/test_openapi_compat.py
# checks each against its schema, and sends the decline example to a real app.
EXAMPLES: dict[str, dict] = {
    "PUT /ranking/scorecard": {"intercept": -1.5, "weights": {"signal_open_to_work": 1.0, "tone_interested": 1.5},
                               "note": "open to work counts more"},
    "PUT /candidates/{candidate_id}/pin": {"pinned": True},
    "POST /process-instances": {
        "process_key": "offer_recall", "business_key": "cand-42",
        "variables": {"candidate_id": "c-42", "decline_date": "2026-02-05T09:00:00+08:00"}},
    "POST /tasks/{task_id}/complete": {"data": {"outcome": "sent", "channel": "wecom",
                                                "message_sent": "王先生您好，好久不见，最近怎么样？"}},
    "POST /tasks/{task_id}/reassign": {"to": "wang.li"},
    "POST /messages": {"name": "candidate_replied", "correlation": {"candidate_id": "c-42"},
                       "payload": {"text": "Happy to talk", "replied_at": "2026-03-09T10:15:00+08:00"},
                       "message_id": "ats-reply-8812"},
    "POST /messages/bulk": {"items": [
        {"name": "candidate_replied", "correlation": {"candidate_id": "c-42"},
         "payload": {"text": "Happy to talk", "channel": "ats"}, "message_id": "ats-reply-8812"},
        {"name": "offer_response", "correlation": {"candidate_id": "c-43"},
         "payload": {"decision": "accepted"}, "message_id": "ats-offer-9031"}]},
    "POST /candidates": {"name": "张三", "phone": "13800000000", "email": "zhang.san@example.com",
                         "role_applied": "Backend engineer", "external_id": "ats-cand-42"},
    "PATCH /candidates/{candidate_id}": {"role_applied": "Senior backend engineer", "tags": ["java", "remote"]},
    "PUT /candidates/by-external-id/{external_id}": {"name": "张三", "phone": "13800000000",
                                                     "role_applied": "Backend engineer"},
    "POST /candidates/bulk": {"items": [{"external_id": "ats-cand-42", "name": "张三", "phone": "13800000000",
                                         "declines": [{"external_id": "ats-decl-7", "reason": "salary",
                                                       "hiring_manager": "wang.li"}]}]},
    "POST /candidates/{candidate_id}/declines": {
        "reason": "salary", "hiring_manager": "wang.li", "needs": ["a 15% raise", "remote Fridays"],
        "external_id": "ats-decl-7"},
    "POST /candidates/{candidate_id}/signals": {"kind": "open_to_work", "text": "updated their profile", "source": "linkedin"},
    "POST /webhooks": {"url": "https://ats.example.com/hooks/recall", "kinds": ["case.ended", "task.created"]},
    "POST /tasks/{task_id}/sends": {"channel": "email", "text": "王先生您好,好久不见,最近怎么样?",
                                    "subject": "好久不见"},
    "PUT /channels/{name}": {"values": {"smtp_host": "smtp.example.com", "smtp_password": "app-password"},
                             "enabled": True},
    "POST /session": {"name": "hr.li", "password": "correct horse battery staple"},
}

_PLACEHOLDER = re.compile(r"^\{(.+)\}$")


def operation_id(key: str) -> str:
    """The operationId of "METHOD /path": the table's, else one made of the method and the path
    ("GET /a-b/{id}/c" -> "getABByIdC"), stable while the path is."""
    if key in OPERATION_IDS:
        return OPERATION_IDS[key]
    method, path = key.split(" ", 1)
    words = []
    for segment in path.strip("/").split("/"):
        param = _PLACEHOLDER.match(segment)
        parts = re.split(r"[^A-Za-z0-9]+", param.group(1) if param else segment)
        words.append(("By" if param else "") + "".join(p[:1].upper() + p[1:] for p in parts if p))
    return method.lower() + "".join(words)


def problem_types(status: int) -> list[str]:
    """The problem `type`s of the catalogue (api/problems.py) answered with `status`."""
    slugs = [slug for _cls, code, slug, _title in ENGINE_ERRORS if code == status]
    if status in HTTP_TYPES and HTTP_TYPES[status] not in slugs:
        slugs.append(HTTP_TYPES[status])
    slugs += [slug for slug in MORE_TYPES.get(status, ()) if slug not in slugs]
    return [TYPE_BASE + slug for slug in slugs]


# status -> (component name, what it means here)
ERRORS = {
    401: ("Unauthorized", "no valid API token (`Authorization: Bearer <token>`) and no signed-in session"),
    403: ("Forbidden", "the caller's role may not call this operation, a session request without its "
                       "`X-CSRF-Token`, or a task rule (assignee, four eyes) refuses it"),
    404: ("NotFound", "nothing with this id, or nothing the caller may see"),
    409: ("Conflict", "the state does not allow it, a concurrent change won, or a request with the same "
                      "`Idempotency-Key` is still in progress"),
    412: ("PreconditionFailed", "`If-Match` names a version that is no longer the current one"),
    413: ("ContentTooLarge", "the request body is larger than `RECALL_MAX_BODY_BYTES`"),
    422: ("UnprocessableContent", "invalid input: `errors` has one entry per bad field (`field`, `message`, `in`); "
                                  "nothing was applied"),
    429: ("TooManyRequests", "over the rate limit (`RECALL_RATE_LIMIT`, counted per token, session or client "
                             "address; too many failed sign-ins for `/session`): wait `Retry-After` seconds"),
}
HEADERS = {
    "X-Request-Id": {"description": "this answer's request id: the client's own `X-Request-Id` when it sent "
                                    "a sane one (1-128 of `A-Z a-z 0-9 . _ -`), else a new one; also "
                                    "`request_id` in problem+json. Quote it when reporting a problem.",
                     "schema": {"type": "string"}},
    "Idempotent-Replayed": {"description": "`true` when this answer replays the first answer to the same "
                                           "`Idempotency-Key` and body (nothing ran again)",
                            "schema": {"type": "string", "enum": ["true"]}},
    "Message-Replayed": {"description": "`true` when a message with this `message_id` was delivered before: "
                                        "nothing was delivered again, the answer is the first one's",
                         "schema": {"type": "string", "enum": ["true"]}},
    "Retry-After": {"description": "seconds to wait before trying again", "schema": {"type": "integer"}},
    "RateLimit-Limit": {"description": "requests allowed per window to this caller (when `RECALL_RATE_LIMIT` is on)",
                        "schema": {"type": "integer"}},
    "RateLimit-Remaining": {"description": "requests left in the current window", "schema": {"type": "integer"}},
    "RateLimit-Reset": {"description": "seconds until the window ends", "schema": {"type": "integer"}},
}
_REQUEST_ID = {"$ref": "#/components/headers/X-Request-Id"}


def _error_component(status: int, meaning: str) -> dict:
    types = ", ".join(f"`{t}`" for t in problem_types(status))
    headers = {"X-Request-Id": _REQUEST_ID}
    if status == 429:
        for name in ("Retry-After",) + RATE_LIMIT_HEADERS:
            headers[name] = {"$ref": f"#/components/headers/{name}"}
    if status == 401:
        headers["WWW-Authenticate"] = {"schema": {"type": "string"}, "description": "`Bearer realm=...`"}
    return {"description": f"{HTTPStatus(status).phrase}: {meaning}." + (f" Problem types: {types}." if types else ""),
            "headers": headers,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}


def _roles_sentence(roles) -> str:
    if isinstance(roles, _Public):
        return "Public: no token needed."
    if roles == EVERYONE:
        return "Roles: any authenticated caller (" + ", ".join(sorted(roles)) + ")."
    return "Roles: " + ", ".join(sorted(roles)) + "."


def _errors_for(key: str, method: str, path: str, op: dict, roles) -> list[int]:
    public = isinstance(roles, _Public)
    params = [p for p in op.get("parameters", []) if isinstance(p, dict)]
    names = {p.get("name") for p in params}
    has_body = "requestBody" in op
    statuses = []
    if not public:
        statuses.append(401)
        if roles != EVERYONE or method in UNSAFE:
            statuses.append(403)
    if "{" in path:
        statuses.append(404)
    if method in UNSAFE and not path.startswith("/session") and not public:
        statuses.append(409)
    if "If-Match" in names:
        statuses.append(412)
    if has_body:
        statuses.append(413)
    if has_body or any(p.get("in") == "query" for p in params) or "Idempotency-Key" in names:
        statuses.append(422)
    if key not in NOT_RATE_LIMITED:
        statuses.append(429)
    return statuses


_CACHE: "weakref.WeakKeyDictionary[object, dict]" = weakref.WeakKeyDictionary()


def cached_document(spec, prefix: str, internal: bool = False) -> dict:
    """`document()` of an apispec.APISpec, built once per spec and kind."""
    found = _CACHE.setdefault(spec, {})
    if internal not in found:
        found[internal] = document(spec.to_dict(), prefix, internal=internal)
    return found[internal]


def document(generated: dict, prefix: str, *, internal: bool = False) -> dict:
    """The finished document from flask-smorest's `generated` (left unchanged)."""
    doc = copy.deepcopy(generated)
    components = doc.setdefault("components", {})
    responses = components.setdefault("responses", {})
    headers = components.setdefault("headers", {})
    headers.update(copy.deepcopy(HEADERS))
    for status, (name, meaning) in ERRORS.items():
        responses[name] = _error_component(status, meaning)
    for name in ("UNPROCESSABLE_ENTITY", "DEFAULT_ERROR"):
        if name in responses:
            responses[name].setdefault("headers", {})["X-Request-Id"] = _REQUEST_ID
    paths = {}
    for full_path, item in doc.get("paths", {}).items():
        path = full_path[len(prefix):] if prefix and full_path.startswith(prefix) else full_path
        if not internal and path.startswith(INTERNAL_PREFIXES):
            continue
        paths[full_path] = item
        for method in METHODS:
            if method in item:
                _finish_operation(f"{method.upper()} {path}", method, path, item[method])
    doc["paths"] = paths
    if not internal:
        doc["tags"] = [t for t in doc.get("tags", []) if t.get("name") not in INTERNAL_TAGS]
    _open_response_schemas(doc)
    _drop_unused_schemas(doc)
    return doc


def _finish_operation(key: str, method: str, path: str, op: dict) -> None:
    roles = PERMISSIONS.get(key, frozenset())
    op["operationId"] = operation_id(key)
    op["x-roles"] = [] if isinstance(roles, _Public) else sorted(roles)
    if isinstance(roles, _Public):
        op["security"] = []
    sentence = _roles_sentence(roles)
    op["description"] = (op["description"].rstrip() + "\n\n" + sentence) if op.get("description") else sentence
    answers = op.setdefault("responses", {})
    for status in _errors_for(key, method, path, op, roles):
        if str(status) not in answers:
            answers[str(status)] = {"$ref": f"#/components/responses/{ERRORS[status][0]}"}
    idempotent = any(isinstance(p, dict) and p.get("name") == "Idempotency-Key" for p in op.get("parameters", []))
    for status, answer in answers.items():
        if "$ref" in answer:
            continue
        answer_headers = answer.setdefault("headers", {})
        answer_headers.setdefault("X-Request-Id", _REQUEST_ID)
        if idempotent and status.startswith("2"):
            answer_headers.setdefault("Idempotent-Replayed", {"$ref": "#/components/headers/Idempotent-Replayed"})
        if key == "POST /messages" and status.startswith("2"):
            answer_headers.setdefault("Message-Replayed", {"$ref": "#/components/headers/Message-Replayed"})
        if status == "429":
            answer_headers.setdefault("Retry-After", {"$ref": "#/components/headers/Retry-After"})
        if key not in NOT_RATE_LIMITED:
            for name in RATE_LIMIT_HEADERS:
                answer_headers.setdefault(name, {"$ref": f"#/components/headers/{name}"})
    if key in EXAMPLES and "requestBody" in op:
        media = op["requestBody"].get("content", {}).get("application/json")
        if media is not None:
            media["example"] = copy.deepcopy(EXAMPLES[key])


def _refs(node, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            found.add(ref)
        for value in node.values():
            _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def _component(doc: dict, ref: str):
    _, _, kind, name = ref.split("/", 3)
    return doc["components"].get(kind, {}).get(name)


def _closure(doc: dict, roots) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        ref = todo.pop()
        if ref in seen:
            continue
        seen.add(ref)
        found: set[str] = set()
        _refs(_component(doc, ref), found)
        todo.extend(found - seen)
    return seen


def _open(schema) -> None:
    """Remove `additionalProperties: false` all through a response schema (refs are handled by name)."""
    if isinstance(schema, dict):
        if schema.get("additionalProperties") is False:
            del schema["additionalProperties"]
        for value in schema.values():
            _open(value)
    elif isinstance(schema, list):
        for value in schema:
            _open(value)


def _open_response_schemas(doc: dict) -> None:
    roots: set[str] = set()
    for item in doc["paths"].values():
        for method in METHODS:
            if method in item:
                for answer in item[method].get("responses", {}).values():
                    _open(answer)        # inline schemas
                    _refs(answer, roots)
    for ref in _closure(doc, roots):
        if ref.startswith("#/components/schemas/"):
            _open(_component(doc, ref))


def _drop_unused_schemas(doc: dict) -> None:
    """Schemas only the left-out operations (or nothing) use are left out too."""
    roots: set[str] = set()
    _refs(doc["paths"], roots)
    for kind in ("responses", "headers", "parameters"):
        for name in doc["components"].get(kind, {}):
            roots.add(f"#/components/{kind}/{name}")
    used = _closure(doc, roots)
    schemas = doc["components"].get("schemas", {})
    for name in list(schemas):
        if f"#/components/schemas/{name}" not in used:
            del schemas[name]
