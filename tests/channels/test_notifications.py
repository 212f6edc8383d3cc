"""Internal notifications (engine/notifications.py) from a real offer_recall case on both databases: the
hiring manager gets the hand-off and, two days later, the 2-day reminder as WeCom app messages with a link
to the task (through the fake WeCom server and the outbox); the daily digest makes one message of several
events at the person's hour; a person who chose none gets nothing; a re-run of the producer from the
start of the feed notifies nobody twice; the 24-hour feedback deadline reaches whoever held the task."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, select

from engine import events, users
from engine.channels import outbox, registry
from engine.channels import settings as channel_settings
from engine.channels.models import OutboxMessage
from engine.channels.wecom import CHANNEL as WECOM_CHANNEL
from engine.errors import FormValidationError
from engine.models import AuditEvent, Event
from engine.notification_models import Notification, NotificationCursor
from engine.notifications import get_preferences, run_notifications, send_digests, set_preferences
from tests.channels.scripted import new_key
from tests.fakes.wecom_server import FakeWeCom
from tests.support import HR, MANAGER, SECOND_MANAGER, WORKFLOWS
from tests.workflows.lifecycle import Case

PUBLIC = "https://recall.example.com"


@pytest.fixture
def company(engine):
    """(engine, fake WeCom): workflows/ deployed, WeCom set up, HR and the hiring managers in the directory with
    their WeCom user ids, links to RECALL_PUBLIC_URL."""
    with FakeWeCom() as wecom:
        wecom.employees |= {HR, MANAGER, SECOND_MANAGER}
        registry.register(WECOM_CHANNEL)
        object.__setattr__(engine, "settings", engine.settings.replacing(secret_key=new_key(), public_url=PUBLIC))
        channel_settings.install(engine)
        with engine.db.write_transaction() as s:
            channel_settings.save(s, "wecom", wecom.settings(), actor="admin", ops=engine.ops, now=engine.clock.now())
        engine.deploy([WORKFLOWS], actor="process.owner")
        users.add_user(engine.db, HR, "hr", wecom_user_id=HR)
        for name in (MANAGER, SECOND_MANAGER):
            users.add_user(engine.db, name, "manager", wecom_user_id=name)
        yield engine, wecom


def at_the_hand_off(engine, candidate_id: str = "cand-n1") -> Case:
    case = Case(engine, candidate_id=candidate_id, reason="team")
    case.archive()
    case.reply()
    case.complete("assess_reply", outcome="interested", involve_manager=True, notes="HR: 担心加班")
    case.complete("request_manager_contact", manager_username=MANAGER, talking_points="团队新增两名资深导师")
    assert case.task("manager_contact_candidate").assignee == MANAGER
    return case


def feed_settled(engine, timeout: float = 30.0) -> None:
    """Wait until every event written is final in the feed (PostgreSQL: other sessions' open transactions —
    other tests on the server — hold the feed's horizon back for a moment; the worker would read them next
    round)."""
    deadline = time.monotonic() + timeout
    while True:
        with engine.db.read_transaction() as s:
            newest = s.execute(select(Event.txid, Event.id).order_by(Event.txid.desc(), Event.id.desc())
                               .limit(1)).first()
        with events.snapshot(engine.db) as s:
            final = events.tail(s)
        if newest is None or final == events.Position(*newest):
            return
        assert time.monotonic() < deadline, "the event feed did not settle"
        time.sleep(0.05)


def worker_round(engine) -> None:
    """What the worker does for notifications: the producer and digests, then the outbox."""
    feed_settled(engine)
    run_notifications(engine, force=True)
    outbox.send_due(engine)


def to(wecom, user) -> list[str]:
    return [m["content"] for m in wecom.app_messages if m["touser"] == user]


def test_the_manager_gets_the_hand_off_and_the_2_day_reminder_as_wecom_app_messages(company):
    engine, wecom = company
    case = at_the_hand_off(engine)
    task = case.task("manager_contact_candidate")
    worker_round(engine)
    [handed] = to(wecom, MANAGER)
    assert handed.startswith("【召回】你有一项新任务：经理联系候选人 截止 ")
    assert f"({PUBLIC}/app/tasks/{task.id})" in handed
    assert "cand-n1" not in handed and "王" not in handed          # the task, never the candidate

    case.wait(days=2, hours=1)                # the reminder timer fires; the task stays with the manager
    assert case.ready() == ["manager_contact_candidate"]
    worker_round(engine)
    messages = to(wecom, MANAGER)
    assert len(messages) == 2
    assert messages[1].startswith("【召回】提醒：经理联系候选人 自 ")
    assert f"({PUBLIC}/app/tasks/{task.id})" in messages[1]
    sends = [c for c in wecom.calls("message/send") if c.body["touser"] == MANAGER]
    assert len(sends) == 2 and sends[1].body["agentid"] == wecom.agent_id

    reminded = [h for h in engine.history(case.id) if h.kind == "notification_queued"
                and h.details["user"] == MANAGER]
    assert [(h.details["event"], h.details["channel"], h.details["mode"]) for h in reminded] == [
        ("task_assigned", "wecom", "immediate"), ("reminder", "wecom", "immediate")]

    # a second run, even from the start of the feed, notifies nobody twice
    with engine.db.write_transaction() as s:
        s.execute(delete(NotificationCursor))
    before = len(wecom.app_messages)
    worker_round(engine)
    assert len(wecom.app_messages) == before


def test_the_daily_digest_makes_one_message_of_several_events_at_the_persons_hour(company):
    engine, wecom = company
    set_preferences(engine, MANAGER, {"mode": "digest", "digest_hour": 9, "language": "en"}, actor=MANAGER)
    at_the_hand_off(engine, "cand-n1")
    worker_round(engine)
    engine.clock.advance(timedelta(hours=2))
    at_the_hand_off(engine, "cand-n2")                     # a second hand-off the same evening
    worker_round(engine)
    assert to(wecom, MANAGER) == []                        # collected, not sent
    with engine.db.read_transaction() as s:
        pending = list(s.scalars(select(Notification).where(Notification.user_name == MANAGER)))
    assert [n.event for n in pending] == ["task_assigned", "task_assigned"]
    [hour] = {n.digest_at for n in pending}
    assert hour.astimezone(timezone(timedelta(hours=8))).hour == 9 and hour > engine.clock.now()

    assert send_digests(engine, now=hour - timedelta(minutes=1)) == 0
    engine.clock.set(hour)
    worker_round(engine)
    [digest] = to(wecom, MANAGER)
    lines = digest.split("\n")
    assert lines[0] == "[Recall] Your daily summary (2)"
    assert lines[1].startswith("1. [Recall] A task for you: Manager contacts candidate (due ")
    assert lines[3].startswith("2. [Recall] A task for you: Manager contacts candidate (due ")
    assert lines[2].strip().startswith(f"{PUBLIC}/app/tasks/") and lines[2] != lines[4]
    worker_round(engine)
    assert len(to(wecom, MANAGER)) == 1                    # sent once
    with engine.db.read_transaction() as s:
        [audit] = s.scalars(select(AuditEvent).where(AuditEvent.kind == "notification_digest_queued")).all()
        assert (audit.details["user"], audit.details["count"], audit.details["channel"]) == (MANAGER, 2, "wecom")


def test_a_person_who_chose_none_gets_nothing(company):
    engine, wecom = company
    set_preferences(engine, MANAGER, {"channel": "none"}, actor="root")
    case = at_the_hand_off(engine)
    worker_round(engine)
    case.wait(days=2, hours=1)
    worker_round(engine)
    assert to(wecom, MANAGER) == []
    with engine.db.read_transaction() as s:
        assert s.scalars(select(Notification).where(Notification.user_name == MANAGER)).all() == []
        assert s.scalars(select(OutboxMessage).where(OutboxMessage.recipient["user"].as_string() == MANAGER)).all() \
            == []


def test_group_tasks_reach_members_who_want_them(company):
    engine, wecom = company
    Case(engine, candidate_id="cand-n2", reason="salary")          # archive_decline lands in the hr queue
    worker_round(engine)
    [message] = to(wecom, HR)
    assert message.startswith("【召回】hr 队列有一项新任务：记录未到岗原因")
    set_preferences(engine, HR, {"group_tasks": False}, actor=HR)
    Case(engine, candidate_id="cand-n3", reason="salary")
    worker_round(engine)
    assert len(to(wecom, HR)) == 1


def test_preferences_are_checked_naming_the_field(company):
    engine, _ = company
    with pytest.raises(FormValidationError) as refused:
        set_preferences(engine, MANAGER, {"channel": "sms", "digest_hour": 24}, actor=MANAGER)
    assert sorted(e.field for e in refused.value.errors) == ["channel", "digest_hour"]
    with pytest.raises(FormValidationError) as refused:
        set_preferences(engine, MANAGER, {"channel": "email"}, actor=MANAGER)     # no address in the directory
    assert [e.field for e in refused.value.errors] == ["channel"]
    assert get_preferences(engine, MANAGER).channel == "wecom"
    assert get_preferences(engine, MANAGER).chosen is False


def test_old_events_are_no_news_on_a_first_run(company):
    engine, wecom = company
    at_the_hand_off(engine)
    engine.clock.set(engine.clock.now() + timedelta(days=1, minutes=1))
    worker_round(engine)
    assert to(wecom, MANAGER) == []
    assert datetime.now(timezone.utc)           # (the simulated clock alone moved)


def test_the_24_hour_feedback_deadline_reaches_whoever_held_the_task_and_the_escalation_its_group(company):
    from tests.support import HRBP
    engine, wecom = company
    users.add_user(engine.db, HRBP, "hr", ("hrbp",), wecom_user_id=HRBP)
    wecom.employees |= {HRBP}
    case = Case(engine, candidate_id="cand-n4", reason="team")
    case.archive()
    case.reply()
    case.complete("assess_reply", outcome="interested", involve_manager=False)
    case.reoffer()
    case.accept_and_start()
    case.send("new_hire_feedback", text="需要更多指导")
    feedback = case.task("respond_feedback")
    engine.claim_task(feedback.id, user=HR)
    worker_round(engine)
    assert to(wecom, HR)[-1].startswith("【召回】hr 队列有一项新任务：24 小时内回复反馈 截止 ")

    case.wait(hours=25)                                      # nobody answered
    worker_round(engine)
    assert to(wecom, HR)[-1].startswith("【召回】已超时：24 小时内回复反馈 未在期限内完成，已转交他人处理")
    assert f"/app/tasks/{feedback.id})" in to(wecom, HR)[-1]
    escalated = case.task("escalate_feedback")
    [hrbp] = to(wecom, HRBP)
    assert hrbp.startswith("【召回】hrbp 队列有一项新任务：HRBP 处理反馈") and f"/app/tasks/{escalated.id})" in hrbp


def test_a_follow_up_due_reaches_hr_by_email_when_that_is_their_channel(engine, mail_servers):
    """Without WeCom: HR, whose directory entry has an email address, hears of the day-30 follow-up by mail."""
    object.__setattr__(engine, "settings", engine.settings.replacing(secret_key=new_key(), public_url=PUBLIC))
    channel_settings.install(engine)
    with engine.db.write_transaction() as s:
        channel_settings.save(s, "email", mail_servers.settings(), actor="admin", ops=engine.ops, now=engine.clock.now())
    engine.deploy([WORKFLOWS], actor="process.owner")
    address = "li.na@example.test"
    users.add_user(engine.db, HR, "hr", email=address)
    assert get_preferences(engine, HR).channel == "email"             # the default: the address the directory has
    case = Case(engine, candidate_id="cand-e1", reason="salary")
    case.archive()                           # done before the worker came by: no news of it
    worker_round(engine)
    case.on_day(31)
    follow_up = case.task("follow_up_day_30")
    worker_round(engine)
    [mail] = mail_servers.messages_to(address)
    assert mail["Subject"] == f"【召回】跟进到期：{follow_up.title.split(' / ')[0]}"
    body = mail.get_content()
    assert f"{PUBLIC}/app/tasks/{follow_up.id}" in body and "cand-e1" not in body
    assert mail["Auto-Submitted"] == "auto-generated"


def test_the_worker_runs_the_notifications_with_the_channel_jobs(company):
    from engine.channels.builtin import channel_jobs
    from engine.worker import Worker
    engine, wecom = company
    jobs = channel_jobs(engine.settings)
    assert {"channel_outbox", "notifications"} <= {j.name for j in jobs}
    at_the_hand_off(engine)
    feed_settled(engine)
    worker = Worker(engine, jobs=jobs, name="test")
    worker.run_once()                       # the producer queues the notification ...
    worker.run_once()                       # ... and the outbox sends it the next round
    assert len(to(wecom, MANAGER)) == 1
