"""Facts in messages, end to end: a real offer_recall case on the simulated clock renders its follow-up
suggestions with the role profile in force (engine/archive/case_role.py -> engine/role_facts.py), records
the facts it used with their dates, and names what is missing with the page to add it (SQLite and
PostgreSQL)."""
from __future__ import annotations

import copy
from datetime import timedelta

from engine import readmodels
from engine.archive import roles
from tests.archive.archive_helpers import archive_decline, send_follow_up, task, wait
from tests.support import ATS, HR

TITLE = {"zh": "后端工程师", "en": "Backend engineer"}
FACTS = {
    "salary": {"as_of": "2026-01-01", "band_min": 18000, "band_max": 30000, "currency": "CNY", "period": "month",
               "change_pct": 8.0, "change_effective": "2026-01-01"},
    "path": {"as_of": "2026-01-01", "stages": [
        {"key": "junior", "name": {"zh": "初级工程师", "en": "Junior engineer"},
         "requirements": {"zh": "独立完成模块开发", "en": "Delivers a module on their own"}, "typical_months": 12},
        {"key": "lead", "name": {"zh": "主管", "en": "Team lead"},
         "requirements": {"zh": "带领3人团队", "en": "Leads a team of 3"}, "typical_months": 24}]},
    "promotion": {"as_of": "2026-01-01", "period_months": 12, "rate_pct": 22.5, "avg_raise_pct": 15.0, "headcount": 40},
    "stories": {"as_of": "2026-01-01", "items": [
        {"joined": "2023-03", "from_stage": "junior", "to_stage": "lead", "months": 20, "raise_pct": 35,
         "text": {"zh": "不愿公开的故事", "en": "A story not to be shown"}, "consented": False},
        {"joined": "2022-09", "from_stage": "junior", "to_stage": "lead", "months": 18, "raise_pct": 30,
         "text": {"zh": "2022 年入职,18 个月后晋升主管,薪资增长 30%", "en": "Joined in 2022, team lead 18 months later, 30% raise"},
         "consented": True}]},
}


def unlabelled(entries: list[dict]) -> list[dict]:
    """The recorded facts without their display labels (checked once, in the unit tests)."""
    return [{k: v for k, v in e.items() if k != "label"} for e in entries]


def save_profile(recall, facts, *, key="backend_engineer", aliases=("后端工程师",)):
    with recall.db.write_transaction() as s:
        profile = roles.save_version(s, key, TITLE, facts, effective_from=recall.clock.now().date(), actor=HR,
                                     note="from the HR system", now=recall.clock.now(), ops=recall.ops)
        if aliases:
            roles.set_aliases(s, key, list(aliases), actor=HR, now=recall.clock.now(), ops=recall.ops)
    return profile


def new_case(archive, recall, *, reason: str, role: str | None, lang: str = "zh"):
    person = archive.create_candidate({"name": "林一", "phone": "13800000001", "role_applied": "测试岗位"}, actor=HR)
    decline = {"reason": reason, "lang": lang, **({"role": role} if role else {})}
    case = archive.record_decline(person.id, decline, actor=ATS).instance_id
    archive_decline(recall, case, reason=reason)
    return case


def to_day_180(recall, case):
    wait(recall, days=31)
    send_follow_up(recall, case, "follow_up_day_30")
    wait(recall, days=61)
    send_follow_up(recall, case, "follow_up_day_90")
    wait(recall, days=91)
    return task(recall, case, "follow_up_day_180")


def test_a_career_path_decline_reaches_day_180_with_the_real_path_and_a_consented_story(archive, recall):
    save_profile(recall, FACTS)
    case = new_case(archive, recall, reason="career_path", role="后端工程师")     # an alias of the profile
    follow_up = to_day_180(recall, case)
    text = follow_up.data["suggested_message"]
    assert "初级工程师 → 主管" in text
    assert "2022 年入职,18 个月后晋升主管,薪资增长 30%" in text
    assert "不愿公开的故事" not in text                                        # not consented: never shown
    assert "【" not in text and "请补充" not in text, text
    facts = {f["fact"]: f for f in unlabelled(follow_up.data["suggestion_facts"])}
    assert facts["path"] == {"fact": "path", "as_of": "2026-01-01", "stale": False, "profile": "backend_engineer@v1"}
    assert facts["stories[0]"]["as_of"] == "2026-01-01"
    assert "suggestion_missing_facts" not in follow_up.data
    shown = readmodels.greet_by_name(recall, follow_up)                       # the task page's rendering
    assert shown.data["suggested_message"].startswith("林一 你好") and "初级工程师 → 主管" in shown.data["suggested_message"]
    assert shown.data["suggestion_facts"] == follow_up.data["suggestion_facts"]
    send_follow_up(recall, case, "follow_up_day_180")

    # a later version does not rewrite what a completed task showed: its facts are those of its creation
    renamed = copy.deepcopy(FACTS)
    renamed["path"]["stages"][1]["name"] = {"zh": "技术主管", "en": "Tech lead"}
    wait(recall, days=2)
    save_profile(recall, renamed)
    done = readmodels.greet_by_name(recall, recall.get_task(follow_up.id))
    assert "初级工程师 → 主管" in done.data["suggested_message"] and "技术主管" not in done.data["suggested_message"]
    assert {f["profile"] for f in done.data["suggestion_facts"]} == {"backend_engineer@v1"}


def test_a_role_without_a_salary_fact_names_what_is_missing_and_where_to_add_it(archive, recall):
    facts = copy.deepcopy(FACTS)
    del facts["salary"]
    save_profile(recall, facts, aliases=())
    case = new_case(archive, recall, reason="salary", role="Backend Engineer", lang="en")   # the key's own slug
    wait(recall, days=31)
    send_follow_up(recall, case, "follow_up_day_30")
    wait(recall, days=61)
    follow_up = task(recall, case, "follow_up_day_90")
    text = follow_up.data["suggested_message"]
    assert '[Missing role fact: salary change (percent) — please add it under "Role profiles"]' in text, text
    assert unlabelled(follow_up.data["suggestion_missing_facts"]) == [
        {"fact": "salary.change_pct", "role_key": "backend_engineer", "add_url": "/app/roles/backend_engineer"}]

    # HR adds the fact (a new version in force today): the task page shows it at once, dated;
    # the stored task data keeps what was suggested when the task was created
    save_profile(recall, FACTS, aliases=())
    shown = readmodels.greet_by_name(recall, task(recall, case, "follow_up_day_90"))
    assert "pay for this role has gone up by 8%" in shown.data["suggested_message"]
    assert "Missing" not in shown.data["suggested_message"] and "suggestion_missing_facts" not in shown.data
    assert {"fact": "salary.change_pct", "as_of": "2026-01-01", "stale": False,
            "profile": "backend_engineer@v2"} in unlabelled(shown.data["suggestion_facts"])
    assert "suggestion_facts" not in task(recall, case, "follow_up_day_90").data


def test_old_figures_are_marked_stale_and_a_case_without_a_role_links_to_the_profiles(archive, recall):
    old = copy.deepcopy(FACTS)
    old["salary"]["as_of"] = (recall.clock.now() - timedelta(days=400)).date().isoformat()
    save_profile(recall, old)
    case = new_case(archive, recall, reason="salary", role="后端工程师")
    wait(recall, days=31)
    send_follow_up(recall, case, "follow_up_day_30")
    wait(recall, days=61)
    facts = {f["fact"]: f for f in task(recall, case, "follow_up_day_90").data["suggestion_facts"]}
    assert facts["salary.change_pct"]["stale"] is True and facts["salary.change_pct"]["as_of"] == old["salary"]["as_of"]

    nameless = archive.create_candidate({"name": "林二", "phone": "13800000002"}, actor=HR)
    other = archive.record_decline(nameless.id, {"reason": "salary"}, actor=ATS).instance_id
    archive_decline(recall, other, reason="salary")
    wait(recall, days=31)
    send_follow_up(recall, other, "follow_up_day_30")
    wait(recall, days=61)
    data = task(recall, other, "follow_up_day_90").data
    assert "【缺少岗位信息:薪资调整幅度 — 请在「岗位档案」中补充】" in data["suggested_message"]
    assert unlabelled(data["suggestion_missing_facts"])[0] == {"fact": "salary.change_pct", "role_key": None, "add_url": "/app/roles"}
