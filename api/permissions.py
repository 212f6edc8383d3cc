"""Who may call what: the one permission table, and the task-level rules behind it.

Keys are "METHOD /path" relative to the API prefix, with {placeholders} as in the
OpenAPI document. `PUBLIC` endpoints need no token. An endpoint missing from the
table is refused (fail closed); a test checks that every route is listed.
"""
from __future__ import annotations

from engine.assignment import MANAGER_GROUP
from engine.users import ROLES

ADMIN, PROCESS_OWNER, HR, MANAGER, INTEGRATOR = ROLES
class _Public(frozenset):
    """Marker type: no token needed."""


PUBLIC = _Public()
EVERYONE = frozenset(ROLES)

PERMISSIONS: dict[str, frozenset[str]] = {
    "GET /health": PUBLIC,
    "GET /openapi.json": PUBLIC,
    "GET /docs": PUBLIC,
    "GET /docs/static/{filename}": PUBLIC,
    "GET /metrics": PUBLIC,          # Prometheus: aggregate counts only (docs/operations.md)
    "GET /process-definitions": EVERYONE,
    "POST /process-definitions": frozenset({ADMIN, PROCESS_OWNER}),
    "GET /process-definitions/{process_key}": EVERYONE,
    "POST /process-definitions/{process_key}/migrations": frozenset({ADMIN, PROCESS_OWNER}),
    # the process owner's studio (issue 19, api/resources/studio.py): a draft is its owner's (and admins')
    "GET /studio/drafts": frozenset({ADMIN, PROCESS_OWNER}),
    "POST /studio/drafts": frozenset({ADMIN, PROCESS_OWNER}),
    "GET /studio/drafts/{draft_id}": frozenset({ADMIN, PROCESS_OWNER}),
    "PUT /studio/drafts/{draft_id}": frozenset({ADMIN, PROCESS_OWNER}),
    "DELETE /studio/drafts/{draft_id}": frozenset({ADMIN, PROCESS_OWNER}),
    "GET /studio/drafts/{draft_id}/diff": frozenset({ADMIN, PROCESS_OWNER}),
    "POST /studio/drafts/{draft_id}/deploy": frozenset({ADMIN, PROCESS_OWNER}),
    "POST /studio/check": frozenset({ADMIN, PROCESS_OWNER}),   # the live check (api/resources/studio_check.py)
    "POST /studio/preview-template": frozenset({ADMIN, PROCESS_OWNER}),   # api/resources/studio_preview.py
    "POST /studio/rehearsals": frozenset({ADMIN, PROCESS_OWNER}),   # api/resources/studio_rehearsal.py
    "GET /studio/rehearsals/{rehearsal_id}": frozenset({ADMIN, PROCESS_OWNER}),
    "GET /studio/rehearsals/defaults": frozenset({ADMIN, PROCESS_OWNER}),
    "POST /process-instances": frozenset({ADMIN, PROCESS_OWNER, HR, INTEGRATOR}),
    "GET /process-instances": frozenset({ADMIN, PROCESS_OWNER, HR, INTEGRATOR}),
    "GET /process-instances/{instance_id}": frozenset({ADMIN, PROCESS_OWNER, HR, INTEGRATOR}),
    "GET /process-instances/{instance_id}/history": frozenset({ADMIN, PROCESS_OWNER, HR}),
    "POST /process-instances/{instance_id}/cancel": frozenset({ADMIN, PROCESS_OWNER, HR}),
    "POST /process-instances/{instance_id}/retry": frozenset({ADMIN, PROCESS_OWNER}),
    "GET /tasks": frozenset({ADMIN, PROCESS_OWNER, HR, MANAGER}),
    "GET /tasks/{task_id}": frozenset({ADMIN, PROCESS_OWNER, HR, MANAGER}),
    "POST /tasks/{task_id}/claim": frozenset({ADMIN, HR, MANAGER}),
    "POST /tasks/{task_id}/complete": frozenset({ADMIN, HR, MANAGER}),
    "POST /tasks/{task_id}/release": frozenset({ADMIN, HR, MANAGER}),     # who, per task: can_hand_over_task
    "POST /tasks/{task_id}/reassign": frozenset({ADMIN, HR, MANAGER}),
    "POST /messages": frozenset({ADMIN, HR, MANAGER, INTEGRATOR}),   # a manager: their hand-off's candidate
    "POST /messages/bulk": frozenset({ADMIN, HR, INTEGRATOR}),          # nightly jobs; not a manager's
    "GET /testing/clock": EVERYONE,
    "POST /testing/clock": frozenset({ADMIN, PROCESS_OWNER, INTEGRATOR}),
    # read-only views of the web workspace (api/resources/workspace.py)
    "GET /workspace/me": EVERYONE,
    "GET /workspace/inbox": frozenset({ADMIN, PROCESS_OWNER, HR, MANAGER}),
    "GET /workspace/diagrams/{process_key}": EVERYONE,
    "GET /workspace/diagrams/{process_key}/waiting": frozenset({ADMIN, PROCESS_OWNER, HR}),
    "GET /vocabulary": EVERYONE,        # the deployed reasons, stages and labels (engine/vocabulary.py)
    # the talent archive (api/resources/candidates.py); contact fields per caller: engine/archive/access.py
    "GET /candidates": frozenset({ADMIN, HR}),
    "POST /candidates": frozenset({ADMIN, HR, INTEGRATOR}),
    "GET /candidates/{candidate_id}": frozenset({ADMIN, HR, MANAGER}),
    # an integrator: only the candidates it created or was given (engine/archive/sync.py)
    "PATCH /candidates/{candidate_id}": frozenset({ADMIN, HR, INTEGRATOR}),
    "DELETE /candidates/{candidate_id}": frozenset({ADMIN, HR, INTEGRATOR}),
    "PUT /candidates/by-external-id/{external_id}": frozenset({ADMIN, HR, INTEGRATOR}),
    "POST /candidates/bulk": frozenset({ADMIN, HR, INTEGRATOR}),
    "POST /candidates/{candidate_id}/declines": frozenset({ADMIN, HR, INTEGRATOR}),
    "POST /candidates/{candidate_id}/signals": frozenset({ADMIN, HR, INTEGRATOR}),
    "POST /candidates/{candidate_id}/merge": frozenset({ADMIN, HR}),
    "GET /analytics/funnel": frozenset({ADMIN, PROCESS_OWNER, HR}),
    # the user directory (api/resources/users.py): pickers are for the roles that pick people
    "GET /users": frozenset({ADMIN, PROCESS_OWNER, HR, MANAGER}),
    "GET /users/me": EVERYONE,
    "GET /users/{name}": frozenset({ADMIN}),           # a person's full entry; setting their WeCom user id
    "PATCH /users/{name}": frozenset({ADMIN}),
    # notification preferences (api/resources/notifications.py): one's own, anyone's for an admin
    "GET /users/me/notifications": frozenset({ADMIN, PROCESS_OWNER, HR, MANAGER}),
    "PUT /users/me/notifications": frozenset({ADMIN, PROCESS_OWNER, HR, MANAGER}),
    "GET /users/{name}/notifications": frozenset({ADMIN}),
    "PUT /users/{name}/notifications": frozenset({ADMIN}),
    # API tokens (api/resources/users.py, engine/tokens.py): an admin issues and revokes them
    "GET /users/{name}/tokens": frozenset({ADMIN}),
    "POST /users/{name}/tokens": frozenset({ADMIN}),
    "DELETE /users/{name}/tokens/{token_id}": frozenset({ADMIN}),
    # sign-in for people (api/resources/session.py); signing in needs no token
    "POST /session": PUBLIC,
    "GET /session": EVERYONE,
    "DELETE /session": EVERYONE,
    "POST /session/password": EVERYONE,
    # the event feed (api/resources/events.py) and webhooks (api/resources/webhooks.py)
    "GET /events": frozenset({ADMIN, INTEGRATOR}),
    "GET /webhooks": frozenset({ADMIN}),
    "POST /webhooks": frozenset({ADMIN}),
    "GET /webhooks/{webhook_id}": frozenset({ADMIN}),
    "PATCH /webhooks/{webhook_id}": frozenset({ADMIN}),
    "DELETE /webhooks/{webhook_id}": frozenset({ADMIN}),
    "GET /webhooks/{webhook_id}/deliveries": frozenset({ADMIN}),
    "POST /webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver": frozenset({ADMIN}),
    # channels (issue 17): settings are the admin's (api/resources/channels.py); sending from a task is its
    # holder's and seeing its sends whoever sees the task (api/resources/sends.py)
    "GET /channels": frozenset({ADMIN}),
    "GET /channels/{name}": frozenset({ADMIN}),
    "PUT /channels/{name}": frozenset({ADMIN}),
    "POST /channels/{name}/test": frozenset({ADMIN}),
    "GET /tasks/{task_id}/sends": frozenset({ADMIN, PROCESS_OWNER, HR, MANAGER}),
    "POST /tasks/{task_id}/sends": frozenset({HR, MANAGER}),
    "POST /tasks/{task_id}/sends/{send_id}/retry": frozenset({HR, MANAGER}),
    "POST /tasks/{task_id}/sends/{send_id}/mark-sent": frozenset({HR, MANAGER}),
    # mail coming back (api/resources/mail_inbound.py): pushed by a gateway; the unmatched queue is HR's
    "POST /channels/email/inbound": frozenset({ADMIN, INTEGRATOR}),
    "GET /channels/email/unmatched": frozenset({ADMIN, HR}),
    "POST /channels/email/unmatched/{inbound_id}/assign": frozenset({ADMIN, HR}),
    # WeCom (api/resources/wecom_callback.py): its callback is public (WeCom signs and encrypts it); HR links
    # contacts no candidate was found for and gets a candidate's "contact me" state
    "GET /channels/wecom/callback": PUBLIC,
    "POST /channels/wecom/callback": PUBLIC,
    "GET /channels/wecom/contacts": frozenset({ADMIN, HR}),
    "POST /channels/wecom/contacts/{contact_id}/link": frozenset({ADMIN, HR}),
    "POST /channels/wecom/states": frozenset({ADMIN, HR}),
    "GET /session/wecom": PUBLIC,                  # sign in with WeCom: whether it is on, WeCom's login URL
    "GET /session/wecom/callback": PUBLIC,         # where WeCom sends the browser back (state cookie checked)
    # role profiles (issue 18, api/resources/roles.py): HR and process owners keep them, managers read them; the
    # HR system (an integrator) syncs them
    "GET /roles": frozenset({ADMIN, PROCESS_OWNER, HR, MANAGER, INTEGRATOR}),
    "GET /roles/{role_key}": frozenset({ADMIN, PROCESS_OWNER, HR, MANAGER, INTEGRATOR}),
    "PUT /roles/{role_key}": frozenset({ADMIN, PROCESS_OWNER, HR, INTEGRATOR}),
    "PATCH /roles/{role_key}": frozenset({ADMIN, PROCESS_OWNER, HR, INTEGRATOR}),
    "GET /roles/{role_key}/versions": frozenset({ADMIN, PROCESS_OWNER, HR, MANAGER, INTEGRATOR}),
    "POST /roles/import": frozenset({ADMIN, PROCESS_OWNER, HR, INTEGRATOR}),
    # signed links to a candidate's growth or goals page (issue 18, api/resources/links.py): HR's; the pages
    # themselves are public at /p/<token> (api/public_pages.py), outside this API
    "GET /candidates/{candidate_id}/links": frozenset({ADMIN, HR}),
    "POST /candidates/{candidate_id}/links": frozenset({ADMIN, HR}),
    "POST /links/{link_id}/revoke": frozenset({ADMIN, HR}),
    # who to call first (issue 20, api/resources/ranking.py): scores ride on candidate lists (HR, admin); the
    # process owner owns the scorecard and reads the model's report; a manager sees no list and no score
    "GET /ranking/scorecard": frozenset({ADMIN, PROCESS_OWNER, HR}),
    "PUT /ranking/scorecard": frozenset({ADMIN, PROCESS_OWNER}),
    "POST /ranking/refresh": frozenset({ADMIN, PROCESS_OWNER, HR}),
    "GET /ranking/model": frozenset({ADMIN, PROCESS_OWNER, HR}),
    "POST /ranking/model/train": frozenset({ADMIN, PROCESS_OWNER}),
    "GET /ranking/scores": frozenset({ADMIN, HR}),
    "PUT /candidates/{candidate_id}/pin": frozenset({ADMIN, HR}),
    "GET /recall-list": frozenset({ADMIN, HR}),
    # the ATS import (issue 20, api/resources/imports.py): personal data in bulk, HR's
    "POST /imports/preview": frozenset({ADMIN, HR}),
    "GET /imports": frozenset({ADMIN, HR}),
    "POST /imports": frozenset({ADMIN, HR}),
    "GET /imports/{run_id}": frozenset({ADMIN, HR}),
    "POST /imports/{run_id}/confirm": frozenset({ADMIN, HR}),
    "POST /imports/{run_id}/resume": frozenset({ADMIN, HR}),
    "POST /imports/{run_id}/discard": frozenset({ADMIN, HR}),
}

# Roles that see every task (admin may also act on any; process owners only read).
SEES_ALL_TASKS = frozenset({ADMIN, PROCESS_OWNER})
ACTS_ON_ANY_TASK = frozenset({ADMIN})


def allowed(key: str, role: str | None) -> bool | None:
    """True/False for a listed endpoint, None when the endpoint is not in the table."""
    roles = PERMISSIONS.get(key)
    if roles is None:
        return None
    return isinstance(roles, _Public) or role in roles


READ_SCOPE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def scope_allows(scope: str, method: str) -> bool:
    """A token's scope (engine/tokens.py): `write` may do what the role allows, `read` only read."""
    return scope == "write" or (scope == "read" and method in READ_SCOPE_METHODS)


def task_scope(user) -> tuple[str | None, list[str] | None]:
    """(user, groups) for the engine's inbox query: what this user's task lists contain."""
    if user.role in SEES_ALL_TASKS:
        return None, None
    if user.role == HR:
        return user.name, list(user.groups)
    return user.name, []      # managers: only tasks assigned to them


def can_see_task(user, task) -> bool:
    if user.role in SEES_ALL_TASKS:
        return True
    if task.assignee == user.name or task.completed_by == user.name:
        return True
    if user.role == HR and task.assignee is None:
        return bool(set(task.candidate_groups) & set(user.groups))
    return False


def can_act_on_task(user, task) -> bool:
    """Claim or complete: the assignee, or HR of the task's group while it is unassigned."""
    if user.role in ACTS_ON_ANY_TASK:
        return True
    if user.role == PROCESS_OWNER:
        return False
    return task.assignee == user.name or (
        user.role == HR and task.assignee is None and bool(set(task.candidate_groups) & set(user.groups)))


def can_hand_over_task(user, task) -> bool:
    """Release or reassign: the holder, an admin, or HR for a task of their groups or of the hiring
    manager's lane (HR passes a hand-off on when the manager is away), whoever holds it."""
    if user.role in ACTS_ON_ANY_TASK or (task.assignee is not None and task.assignee == user.name):
        return True
    if user.role != HR:
        return False
    groups = set(task.candidate_groups)
    return bool(groups & set(user.groups)) or MANAGER_GROUP in groups
