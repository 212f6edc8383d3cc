"""Helpers for the archive tests: drive a recall case through the engine's public operations."""
from __future__ import annotations

from datetime import timedelta

from tests.support import BOT, HR


def task(engine, instance_id: str, element_id: str):
    ready = engine.list_tasks(instance_id=instance_id, element_id=element_id)
    assert len(ready) == 1, (element_id, [t.element_id for t in engine.list_tasks(instance_id=instance_id)])
    return engine.get_task(ready[0].id)


def complete(engine, instance_id: str, element_id: str, *, by: str = HR, **data):
    view = engine.complete_task(task(engine, instance_id, element_id).id, data, actor=by)
    assert view.status != "error", view.error
    return view


def wait(engine, days: float = 0, hours: float = 0) -> None:
    engine.clock.advance(timedelta(days=days, hours=hours))
    engine.run_until_idle()


def reply(engine, candidate_id: str, text: str = "谢谢惦记,我想再聊聊") -> None:
    delivery = engine.deliver_message("candidate_replied", {"candidate_id": candidate_id}, {"text": text}, actor=BOT)
    assert delivery.delivered_to, "nobody waited for the reply"


def archive_decline(engine, instance_id: str, *, reason: str = "salary", consent: bool = True,
                    detail: str = "原公司加薪 20% 挽留", expiry: str = "2027-01-05", **extra):
    form = {"decline_reason": reason, "decline_detail": detail, "talent_pool_consent": consent, **extra}
    if consent:
        form.update(consent_scope="similar_roles", consent_expiry=expiry)
    return complete(engine, instance_id, "archive_decline", **form)


def send_follow_up(engine, instance_id: str, element_id: str, *, message: str | None = None, skip: bool = False):
    prefill = task(engine, instance_id, element_id).data
    if skip:
        return complete(engine, instance_id, element_id, outcome="skipped", skip_reason="候选人在外地出差")
    return complete(engine, instance_id, element_id, outcome="sent", channel="wecom",
                    message_sent=message or prefill["suggested_message"])


def reoffer_and_accept(engine, instance_id: str, candidate_id: str, *, start_date: str = "2026-04-01"):
    complete(engine, instance_id, "prepare_reoffer", salary=10500, original_salary=10000, start_date=start_date,
             concerns_addressed="薪资结构已调整", days_valid=7)
    complete(engine, instance_id, "send_reoffer", channel="wecom", message_sent="新的 offer 已发到您的邮箱")
    engine.deliver_message("offer_response", {"candidate_id": candidate_id}, {"decision": "accepted"}, actor=BOT)
    complete(engine, instance_id, "agree_goals",
             goals=[{"title": "熟悉门店", "measure": "完成的项目数", "target": "2", "due_day": 30}])
