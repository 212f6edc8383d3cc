"""Internal notifications: employees hear of work for them by WeCom app message or email, at once or in
one daily digest — automatic, since they go to employees, never to candidates.

The producer is a worker job, never a request thread: like a webhook subscription it walks the event
feed (engine/events.py) from its own cursor, moved compare-and-set, and turns these events into
notifications of the people concerned:

- `task_assigned`: a task became ready for someone, or was given to them by someone else;
- `group_task`: a task landed in a group's queue — for the members who chose to hear of those;
- `follow_up_due`: a follow-up of the cadence (the vocabulary's stage tasks) became due;
- `reminder`: a non-interrupting boundary timer on a user task fired (the hand-off's 2-day reminder):
  whoever holds the still-open task is reminded;
- `deadline_passed`: an interrupting boundary timer on a user task fired (the 24-hour feedback
  deadline, the hand-off's 5 days): whoever held it hears that it moved on; the task that takes its
  place (HRBP's escalation) is a new task for its own people;
- `connector`: a diagram's `notify` service task (engine/connectors.py), written with its step.

Each notification is one `notifications` row per (event, person) — the dedupe key, so a re-run never
notifies twice — and, for someone who wants them at once, an outbox row (kind `notification`, channel
`wecom` to {"user", "userid"} or `email` to {"user", "email", "name"}) in the same transaction; for
someone who chose the digest it waits until their hour (RECALL_TIMEZONE) and goes out with the others
of that day as one message. Every one is audited on its case (`notification_queued`: who, which
event, channel, mode). The text names the task, its deadline and a link to it
(RECALL_PUBLIC_URL + /app/tasks/<id>), never the candidate: the link shows the rest to whoever may
see it after signing in.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import connectors, days, events
from .errors import FieldError, FormValidationError, NotFound
from .models import HumanTask, ProcessInstance, User
from .notification_models import Notification, NotificationCursor, NotificationPreference

log = logging.getLogger("recall.notifications")

CHANNELS = ("wecom", "email", "none")
MODES = ("immediate", "digest")
LANGUAGES = ("zh", "en")
EVENTS = ("task_assigned", "group_task", "follow_up_due", "reminder", "deadline_passed", "connector")
FEED_KINDS = frozenset({"task.created", "task.assigned", "timer.fired"})
MAX_AGE = timedelta(days=1)          # older events (a first run on an existing database) are no news
ACTOR = "worker:notifications"
CURSOR = "notifications"
PAGE = 500
MAX_TEXT = 2000
_NAMESPACE = uuid.UUID("6b0c2f6e-4a53-4f5e-9a51-9d7c1c4f7a10")


# ---------------------------------------------------------------- preferences
@dataclass(frozen=True)
class Preferences:
    channel: str            # wecom | email | none
    mode: str               # immediate | digest
    digest_hour: int        # 0-23, RECALL_TIMEZONE
    language: str           # zh | en
    group_tasks: bool       # also tasks landing in my groups' queues
    chosen: bool = False    # False: the defaults (nobody saved preferences for this person)

    def as_dict(self) -> dict:
        return {"channel": self.channel, "mode": self.mode, "digest_hour": self.digest_hour,
                "language": self.language, "group_tasks": self.group_tasks, "chosen": self.chosen}


def default_preferences(user: User, settings) -> Preferences:
    """WeCom when the directory knows the person's WeCom id, else email when it knows their address, else none."""
    channel = "wecom" if user.wecom_user_id else "email" if user.email else "none"
    return Preferences(channel, "immediate", settings.notify_digest_hour, "zh", True)


def preferences_of(session: Session, user: User, settings) -> Preferences:
    row = session.get(NotificationPreference, user.id)
    if row is None:
        return default_preferences(user, settings)
    return Preferences(row.channel, row.mode, row.digest_hour, row.language, row.group_tasks, True)


def _user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise NotFound(f"no user {name!r}")
    return user


def get_preferences(engine, name: str) -> Preferences:
    with engine.db.read_transaction() as s:
        return preferences_of(s, _user(s, name), engine.settings)


def describe(engine, name: str, prefs: Preferences | None = None) -> dict:
    """A person's preferences and which channels can reach them (an address in the directory and the channel
    set up by an admin) — what the account page shows."""
    with engine.db.read_transaction() as s:
        user = _user(s, name)
        prefs = prefs or preferences_of(s, user, engine.settings)
        configured = _configured(s)
        reachable = {"wecom": bool(user.wecom_user_id) and configured("wecom"),
                     "email": bool(user.email) and configured("email")}
    return {**prefs.as_dict(), "reachable": reachable}


def check_preferences(values: dict, current: Preferences) -> Preferences:
    """`values` over `current`; FormValidationError naming each bad field."""
    if not isinstance(values, dict):
        raise FormValidationError([FieldError("body", "give the preferences as an object")])
    errors = [FieldError(k, "unknown field; the preferences are channel, mode, digest_hour, language, group_tasks")
              for k in values if k not in ("channel", "mode", "digest_hour", "language", "group_tasks")]
    merged = {**current.as_dict(), **{k: v for k, v in values.items() if v is not None}}
    for key, allowed in (("channel", CHANNELS), ("mode", MODES), ("language", LANGUAGES)):
        if merged[key] not in allowed:
            errors.append(FieldError(key, f"give one of {', '.join(allowed)}"))
    hour = merged["digest_hour"]
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        errors.append(FieldError("digest_hour", "give a whole hour from 0 to 23 (local time)"))
    if not isinstance(merged["group_tasks"], bool):
        errors.append(FieldError("group_tasks", "give true or false"))
    if errors:
        raise FormValidationError(errors)
    return Preferences(merged["channel"], merged["mode"], hour, merged["language"], merged["group_tasks"], True)


def set_preferences(engine, name: str, values: dict, *, actor: str) -> Preferences:
    """Save a person's preferences (themselves, or an admin); audited `notification_preferences_changed`
    with the fields that changed. Choosing a channel the directory has no address for is refused."""
    with engine.db.write_transaction() as s:
        user = _user(s, name)
        before = preferences_of(s, user, engine.settings)
        chosen = check_preferences(values, before)
        if chosen.channel == "wecom" and not user.wecom_user_id:
            raise FormValidationError([FieldError("channel", "the user directory has no WeCom user id for "
                                                  f"{name}: an admin adds it first, or choose email")])
        if chosen.channel == "email" and not user.email:
            raise FormValidationError([FieldError("channel", f"the user directory has no email address for {name}: "
                                                  "an admin adds it first, or choose WeCom")])
        row = s.get(NotificationPreference, user.id, with_for_update=True)
        if row is None:
            row = NotificationPreference(user_id=user.id)
            s.add(row)
        row.channel, row.mode, row.digest_hour = chosen.channel, chosen.mode, chosen.digest_hour
        row.language, row.group_tasks = chosen.language, chosen.group_tasks
        row.updated_by, row.updated_at = actor, engine.clock.now()
        s.flush()
        changed = sorted(k for k, v in chosen.as_dict().items() if k != "chosen" and v != before.as_dict()[k])
        engine.ops.audit(s, None, "notification_preferences_changed", actor,
                         details={"user": name, "fields": changed, **{k: getattr(chosen, k) for k in changed}})
        return chosen


# ---------------------------------------------------------------- texts
def _part(title: str | None, language: str) -> str:
    """One language of a bilingual "中文 / English" name."""
    zh, sep, en = (title or "").partition(" / ")
    return (en if language == "en" and sep else zh).strip() or (title or "").strip()


def _when(instant: datetime | None, zone) -> str | None:
    return instant.astimezone(zone).strftime("%Y-%m-%d %H:%M") if instant is not None else None


TEXTS = {
    "task_assigned": ("【召回】你有一项新任务：{title}", "[Recall] A task for you: {title}"),
    "group_task": ("【召回】{group} 队列有一项新任务：{title}", "[Recall] New in the {group} queue: {title}"),
    "follow_up_due": ("【召回】跟进到期：{title}", "[Recall] A follow-up is due: {title}"),
    "reminder": ("【召回】提醒：{title} 自 {since} 起尚未完成", "[Recall] Reminder: {title} is open since {since}"),
    "deadline_passed": ("【召回】已超时：{title} 未在期限内完成，已转交他人处理",
                        "[Recall] Deadline passed: {title} was not done in time and has been passed on"),
}
DUE = (" 截止 {due}", " (due {due})")
DIGEST = ("【召回】今日待办汇总（{n} 条）", "[Recall] Your daily summary ({n})")


def _text(event: str, language: str, **values) -> str:
    zh, en = TEXTS[event]
    text = (en if language == "en" else zh).format(**values)
    if values.get("due"):
        text += (DUE[1] if language == "en" else DUE[0]).format(due=values["due"])
    return text


def base_url(settings) -> str:
    return settings.public_url or f"http://{settings.host}:{settings.port}"


def task_link(settings, task_id: str | None) -> str:
    return f"{base_url(settings)}/app/tasks/{task_id}" if task_id else f"{base_url(settings)}/app/"


# ---------------------------------------------------------------- one notification
def _address(user: User, prefs: Preferences, configured) -> tuple[str, dict] | None:
    """(channel, recipient) for the person's choice, else the other channel they can be reached on."""
    order = [prefs.channel] + [c for c in ("wecom", "email") if c != prefs.channel]
    for channel in order:
        if channel == "wecom" and user.wecom_user_id and configured("wecom"):
            return "wecom", {"user": user.name, "userid": user.wecom_user_id}
        if channel == "email" and user.email and configured("email"):
            return "email", {"user": user.name, "email": user.email, "name": user.display_name or user.name}
    return None


def _configured(session: Session):
    from .channels import settings as channel_settings
    cache: dict[str, bool] = {}

    def configured(channel: str) -> bool:
        if channel not in cache:
            cache[channel] = channel_settings.is_configured(session, channel)
        return cache[channel]
    return configured


def next_digest(now: datetime, hour: int, zone) -> datetime:
    """The first `hour`:00 local after `now`."""
    local = now.astimezone(zone)
    at = local.replace(hour=hour, minute=0, second=0, microsecond=0)
    if at <= local:
        at = (local + timedelta(days=1)).replace(hour=hour, minute=0, second=0, microsecond=0)
    return at.astimezone(now.tzinfo)


def notify(engine, session: Session, user: User, *, event: str, key: str, text: dict[str, str] | str,
           link: str | None, instance_id: str | None, task_id: str | None = None, element_id: str | None = None,
           now: datetime, configured=None, outbox_id: str | None = None) -> Notification | None:
    """Notify one person of one event in the caller's unit of work, as they prefer; None when they chose no
    notifications, cannot be reached, or `key` (event and person) was notified before. `text`: by language."""
    from .channels import outbox
    if not user.active:
        return None
    dedupe = f"{key}:{user.name}"[:255]
    if session.scalar(select(Notification.id).where(Notification.dedupe_key == dedupe)) is not None:
        return None
    prefs = preferences_of(session, user, engine.settings)
    if prefs.channel == "none":
        return None
    found = _address(user, prefs, configured or _configured(session))
    if found is None:
        engine.ops.audit(session, instance_id, "notification_skipped", ACTOR, element_id, task_id,
                         {"user": user.name, "event": event, "reason": "no_channel",
                          "detail": "no configured channel reaches this person (WeCom user id or email)"})
        return None
    channel, recipient = found
    body = (text.get(prefs.language) or text.get("zh") or "") if isinstance(text, dict) else text
    row = Notification(id=str(uuid.uuid4()), dedupe_key=dedupe, user_name=user.name, event=event,
                       instance_id=instance_id, task_id=task_id, element_id=element_id, channel=channel,
                       mode=prefs.mode, status="pending" if prefs.mode == "digest" else "queued",
                       text=body[:MAX_TEXT], link=link, language=prefs.language, created_at=now)
    if prefs.mode == "digest":
        row.digest_at = next_digest(now, prefs.digest_hour, days.load_zone(engine.settings.timezone))
    else:
        row.outbox_id = outbox.enqueue(
            session, channel=channel, kind="notification", recipient=recipient,
            payload={"text": row.text, "subject": row.text[:120], "link": link, "language": prefs.language},
            actor=ACTOR, instance_id=instance_id, task_id=task_id, dedupe_key=f"notify:{dedupe}"[:255], now=now,
            **({"id": outbox_id} if outbox_id else {}))
    session.add(row)
    session.flush()
    engine.ops.audit(session, instance_id, "notification_queued", ACTOR, element_id, task_id, {
        "user": user.name, "event": event, "channel": channel, "mode": prefs.mode, "notification_id": row.id,
        **({"outbox_id": row.outbox_id} if row.outbox_id else {"digest_at": row.digest_at.isoformat()})})
    return row


def people(session: Session, to: str) -> list[User]:
    """The active users `to` names: a user name, or a group (every active member)."""
    user = session.scalar(select(User).where(User.name == to))
    if user is not None:
        return [user] if user.active else []
    members = [u for u in session.scalars(select(User).where(User.active.is_(True)).order_by(User.name))
               if to in (u.groups or ())]
    return members


def outbox_id_for(key: str, user: str) -> str:
    """A stable outbox id for (key, person): a step run again (a retried service task) finds its send."""
    return str(uuid.uuid5(_NAMESPACE, f"{key}:{user}"))


# ---------------------------------------------------------------- the `notify` service-task connector
def _prepare_notify(collector: connectors.Collector, task, params: dict) -> dict:
    """At step time: who (`to`: a user or a group), what (`text`, or `template` rendered in each language);
    the notifications are written with the step (connectors.Collector)."""
    from . import templates

    to = params.get("to")
    if not isinstance(to, str) or not to.strip():
        raise connectors.ConnectorError("notify: `to` must be a user name or a group code")
    users = people(collector.session, to.strip())
    if not users:
        raise connectors.ConnectorError(f"notify: {to!r} is no active user and no group with active members")
    if params.get("template") is not None:
        data = dict(task.data)
        try:
            text = {lang: templates.render(collector.templates, str(params["template"]), lang, data)
                    for lang in LANGUAGES}
        except templates.TemplateProblem as exc:
            raise connectors.ConnectorError(f"notify: {exc}") from None
    else:
        if not isinstance(params.get("text"), str) or not params["text"].strip():
            raise connectors.ConnectorError("notify: `text` must be a non-empty text")
        text = {lang: params["text"].strip()[:MAX_TEXT] for lang in LANGUAGES}
    link = params.get("link")
    if link is not None and (not isinstance(link, str) or not link.startswith(("http://", "https://", "/"))):
        raise connectors.ConnectorError("notify: `link` must be an http(s) URL or a workspace path like /app/cases/…")
    key = connectors.key_of(collector, task, "notify")
    ids = {u.name: outbox_id_for(key, u.name) for u in users}
    element, instance_id = task.task_spec.bpmn_id, collector.instance_id

    def write(engine, session, now, actor):
        base = base_url(engine.settings)
        target = (base + link if link and link.startswith("/") else link) or f"{base}/app/cases/{instance_id}"
        configured = _configured(session)
        for user in users:
            notify(engine, session, user, event="connector", key=key, text=text, link=target,
                   instance_id=instance_id, element_id=element, now=now, configured=configured,
                   outbox_id=ids[user.name])

    collector.effects.append(connectors.Effect("notify", instance_id, str(task.id), element, write))
    return {"queued": [ids[u.name] for u in users], "to": [u.name for u in users]}


# ---------------------------------------------------------------- the producer
@dataclass
class ProducerReport:
    read: int = 0               # feed events read (a full page: more may wait)
    events: int = 0             # of those, recent enough to notify of
    notifications: int = 0


def _cursor(engine) -> events.Position:
    with engine.db.read_transaction() as s:
        row = s.get(NotificationCursor, CURSOR)
        if row is not None:
            return events.Position(row.cursor_txid, row.cursor_id)
    try:
        with engine.db.write_transaction() as s:
            s.add(NotificationCursor(name=CURSOR, cursor_txid=0, cursor_id=0, updated_at=engine.clock.now()))
    except IntegrityError:          # another worker made it first
        pass
    return events.Position(0, 0)


def produce(engine, *, page: int = PAGE) -> ProducerReport:
    """Turn the feed's new events into notifications (one page); the cursor moves in the same transaction."""
    report = ProducerReport()
    cursor = _cursor(engine)
    with events.snapshot(engine.db) as s:
        pruned = events.pruned_up_to(s)
        after = pruned if pruned is not None and cursor < pruned else cursor
        found, reached, _ = events.read_page(s, after=after, kinds=FEED_KINDS, limit=page)
    if reached is None or reached == cursor:
        return report
    now = engine.clock.now()
    with engine.db.write_transaction() as s:
        moved = s.execute(update(NotificationCursor).where(
            NotificationCursor.name == CURSOR, NotificationCursor.cursor_txid == cursor.txid,
            NotificationCursor.cursor_id == cursor.id).values(cursor_txid=reached.txid, cursor_id=reached.id,
                                                              updated_at=now)).rowcount
        if moved != 1:
            return report           # another worker took these events
        configured = _configured(s)
        report.read = len(found)
        for event in found:
            if now - event.at > MAX_AGE:
                continue
            report.events += 1
            report.notifications += _from_event(engine, s, event, now=now, configured=configured)
    return report


def _task(session: Session, task_id: str | None) -> HumanTask | None:
    return session.get(HumanTask, task_id) if task_id else None


def _follow_ups(engine, session: Session, instance_id: str) -> set[str]:
    definition_id = session.scalar(select(ProcessInstance.definition_id).where(ProcessInstance.id == instance_id))
    if definition_id is None:
        return set()
    vocabulary = engine.runtime.specs.get(session, definition_id).vocabulary
    return {stage.task for stage in (vocabulary.stages if vocabulary else ()) if stage.task}


def _from_event(engine, session: Session, event, *, now: datetime, configured) -> int:
    zone = days.load_zone(engine.settings.timezone)
    if event.kind in ("task.created", "task.assigned"):
        task = _task(session, event.task_id)
        if task is None or task.status != "ready":
            return 0                # done or gone before we got to it: no news
        assignee = event.data.get("assignee")
        if event.kind == "task.assigned" and (not assignee or assignee == event.actor):
            return 0                # given back to the queue, or taken by themselves
        kind = ("follow_up_due" if task.element_id in _follow_ups(engine, session, task.instance_id)
                else "task_assigned" if assignee else "group_task")
        return _tell_holders(engine, session, task, kind, key=f"event:{event.id}", assignee=assignee,
                             skip=event.actor, now=now, zone=zone, configured=configured)
    made = 0
    for timer in event.data.get("timers") or []:
        made += _from_timer(engine, session, event, timer.get("element_id"), now=now, zone=zone,
                            configured=configured)
    return made


def _tell_holders(engine, session, task: HumanTask, kind: str, *, key: str, assignee: str | None, skip: str | None,
                  now: datetime, zone, configured, since: datetime | None = None) -> int:
    if assignee:
        users = [u for u in people(session, assignee) if u.name == assignee]
    elif task.candidate_group:
        users = [u for u in people(session, task.candidate_group)
                 if preferences_of(session, u, engine.settings).group_tasks]
    else:
        users = []
    made = 0
    for user in users:
        if user.name == skip:
            continue
        text = {lang: _text(kind, lang, title=_part(task.title or task.element_id, lang),
                            group=task.candidate_group or "", due=_when(task.due_at, zone),
                            since=_when(since or task.created_at, zone)) for lang in LANGUAGES}
        if notify(engine, session, user, event=kind, key=key, text=text, link=task_link(engine.settings, task.id),
                  instance_id=task.instance_id, task_id=task.id, element_id=task.element_id, now=now,
                  configured=configured) is not None:
            made += 1
    return made


def _attached(engine, session: Session, instance_id: str, element_id: str):
    """(user task id, interrupting) of the boundary timer `element_id`, or None when it is not one."""
    from SpiffWorkflow.bpmn.specs.mixins.events.intermediate_event import BoundaryEvent

    definition_id = session.scalar(select(ProcessInstance.definition_id).where(ProcessInstance.id == instance_id))
    if definition_id is None:
        return None
    definition = engine.runtime.specs.get(session, definition_id)
    for spec in (definition.spec, *definition.subprocess_specs.values()):
        for task_spec in spec.task_specs.values():
            if isinstance(task_spec, BoundaryEvent) and task_spec.bpmn_id == element_id and task_spec.inputs:
                activity = next((o for o in task_spec.inputs[0].outputs
                                 if not isinstance(o, BoundaryEvent) and getattr(o, "manual", False)), None)
                return (activity.bpmn_id, bool(task_spec.cancel_activity)) if activity is not None else None
    return None


def _from_timer(engine, session: Session, event, element_id: str | None, *, now, zone, configured) -> int:
    if not element_id or not event.instance_id:
        return 0
    found = _attached(engine, session, event.instance_id, element_id)
    if found is None:
        return 0
    activity, interrupting = found
    task = session.scalars(select(HumanTask).where(HumanTask.instance_id == event.instance_id,
                                                   HumanTask.element_id == activity)
                           .order_by(HumanTask.created_at.desc(), HumanTask.id.desc()).limit(1)).first()
    if task is None or (not interrupting and task.status != "ready"):
        return 0
    kind = "deadline_passed" if interrupting else "reminder"
    return _tell_holders(engine, session, task, kind, key=f"event:{event.id}:{element_id}",
                         assignee=task.assignee, skip=None, now=now, zone=zone, configured=configured)


# ---------------------------------------------------------------- the digest
def send_digests(engine, *, now: datetime | None = None) -> int:
    """Everyone's notifications whose digest hour came, one message per person; returns the messages made."""
    from .channels import outbox
    now = now or engine.clock.now()
    made = 0
    with engine.db.write_transaction() as s:
        query = (select(Notification).where(Notification.status == "pending", Notification.digest_at <= now)
                 .order_by(Notification.user_name, Notification.created_at, Notification.id).limit(2000))
        rows = list(s.scalars(query.with_for_update(skip_locked=True)))
        by_user: dict[str, list[Notification]] = {}
        for row in rows:
            by_user.setdefault(row.user_name, []).append(row)
        configured = _configured(s)
        for name, items in by_user.items():
            erased = [item for item in items if not item.text]      # emptied by erasure: not sent
            for item in erased:
                item.status = "digested"
            items = [item for item in items if item.text]
            if not items:
                continue
            user = s.scalar(select(User).where(User.name == name))
            prefs = preferences_of(s, user, engine.settings) if user is not None else None
            found = _address(user, prefs, configured) if user is not None and user.active \
                and prefs.channel != "none" else None
            outbox_id = None
            if found is not None:
                channel, recipient = found
                language = prefs.language
                title = DIGEST[1 if language == "en" else 0].format(n=len(items))
                lines = [f"{i}. {item.text}" + (f"\n   {item.link}" if item.link else "")
                         for i, item in enumerate(items, 1)]
                outbox_id = outbox.enqueue(
                    s, channel=channel, kind="notification", recipient=recipient,
                    payload={"text": "\n".join([title, *lines])[:MAX_TEXT * 4], "subject": title,
                             "link": task_link(engine.settings, None), "language": language},
                    actor=ACTOR, dedupe_key=f"digest:{name}:{items[0].id}", now=now)
                made += 1
            for item in items:
                item.status, item.outbox_id = "digested", outbox_id
            engine.ops.audit(s, None, "notification_digest_queued" if outbox_id else "notification_digest_dropped",
                             ACTOR, details={"user": name, "count": len(items),
                                             "notification_ids": [i.id for i in items],
                                             **({"outbox_id": outbox_id, "channel": found[0]} if outbox_id
                                                else {"reason": "no_channel"})})
        s.flush()
    return made


# ---------------------------------------------------------------- the worker's job
_last_run: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_last_lock = threading.Lock()


def run_notifications(engine, *, force: bool = False) -> ProducerReport:
    """The worker's job: every RECALL_NOTIFY_JOB_SECONDS, new events to notifications (page by page),
    then the digests that are due."""
    tick = time.monotonic()
    with _last_lock:
        last = _last_run.get(engine)
        if not force and last is not None and tick - last < engine.settings.notify_job_seconds:
            return ProducerReport()
        _last_run[engine] = tick
    total = ProducerReport()
    while True:
        report = produce(engine)
        total.events += report.events
        total.notifications += report.notifications
        if report.read < PAGE:
            break
    digests = send_digests(engine)
    if total.notifications or digests:
        log.info(json.dumps({"event": "notifications", "events": total.events,
                             "notifications": total.notifications, "digests": digests}))
    return total


def _register() -> None:
    from .channels import registry
    from .worker import PeriodicJob
    registry.register_job(PeriodicJob("notifications", 0.0, run_notifications))
    connectors.implement("notify", _prepare_notify)


_register()
