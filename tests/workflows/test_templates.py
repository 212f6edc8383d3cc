"""The follow-up message templates: one per DMN output and language, all renderable.

Rendered through the engine's own renderer (sandboxed, StrictUndefined) with the
templates exactly as `load_bundle` collects them for deployment. Reasons, stages and the
template each pair gets are the bundle's (workflows/vocabulary.json and the decision).
"""
from __future__ import annotations

import datetime
import re
from itertools import product

import pytest
from engine.bundle import load_bundle
from engine.role_facts import RoleFacts, RoleSource
from engine.templates import LANGUAGES, TemplateProblem, render

from .lifecycle import FORMS, WORKFLOWS, cadence

REASONS = list(cadence().vocabulary.reason_keys)
STAGES = list(cadence().vocabulary.stage_keys)
FIRST = cadence().vocabulary.stages[0].key          # the greeting (day 30 as shipped)

# Day 30 is a greeting: none of these may appear in it, in either language.
JOB_WORDS_ZH = ["岗位", "职位", "职", "工作", "offer", "入职", "薪", "工资", "待遇", "面试", "招聘", "机会",
                "团队", "公司", "用人", "经理"]
JOB_WORDS_EN = re.compile(
    r"\b(jobs?|roles?|positions?|offers?|salary|salaries|pay|paid|compensation|hir(e|ed|ing)|interview\w*|"
    r"vacanc(y|ies)|openings?|opportunit\w*|careers?|work\w*|teams?|company|manager|recruit\w*)\b",
    re.IGNORECASE)


@pytest.fixture(scope="module")
def templates():
    bundle = load_bundle([WORKFLOWS], forms_dir=FORMS)
    assert bundle.diagnostics == []
    return bundle.templates


def dmn_template_ids() -> set[str]:
    """Every template id a rule of the decision can output."""
    return {next(iter(output)) for _, _, output in cadence().decision.rules if isinstance(output, set)}


def template_id(reason: str, stage: str) -> str:
    return cadence().template(reason, stage)


def task_data(reason: str, stage: str, lang: str, *, archive: str = "full") -> dict:
    """What a follow-up task's data looks like when the engine renders its suggestion."""
    data = {"candidate_id": "cand-042", "decline_date": "2026-01-05T17:00:00+08:00", "decline_reason": reason,
            "lang": lang, "talent_pool_consent": True, "consent_scope": "similar_roles",
            "consent_expiry": "2027-01-05", "stage": stage, "template_id": template_id(reason, stage),
            "suggestion_template_id": template_id(reason, stage), "outcome": None, "skip_reason": "",
            "message_sent": ""}
    if archive == "full":
        data.update(
            decline_detail="原公司加薪 20% 挽留" if lang == "zh" else "my employer matched with a 20% raise",
            needs=["弹性工作制", "重视团队氛围"] if lang == "zh" else ["flexible hours", "a friendly team"],
            open_questions=["这个岗位的晋升路径是什么?"] if lang == "zh" else ["What is the promotion path?"])
    elif archive == "empty":
        data.update(decline_detail="", needs=[], open_questions=[])
    # archive == "missing": HR left the optional fields out of the archive form altogether
    if stage == "snooze":
        data.update(reply={"candidate_id": "cand-042", "text": "最近不方便,过两周再说"}, snooze_for="P2W")
    return data


def test_every_dmn_output_has_a_template_in_both_languages_and_none_is_orphaned(templates):
    expected = {template_id(r, s) for r, s in product(REASONS, STAGES)}
    assert dmn_template_ids() == expected
    assert set(templates) == {f"{lang}/{tid}" for lang in LANGUAGES for tid in expected}
    files = sorted(p.relative_to(WORKFLOWS / "templates").as_posix()
                   for p in (WORKFLOWS / "templates").rglob("*") if p.is_file())
    assert files == sorted(f"{key}.j2" for key in templates)


@pytest.mark.parametrize("archive", ["full", "empty", "missing"])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_template_renders_for_every_reason_and_stage(templates, lang, archive):
    for reason, stage in product(REASONS, STAGES):
        tid = template_id(reason, stage)
        data = task_data(reason, stage, lang, archive=archive)
        try:
            text = render(templates, tid, lang, data)
        except TemplateProblem as exc:  # a missing variable or a broken template
            pytest.fail(f"{lang}/{tid} ({reason}, {archive} archive): {exc}")
        lines = text.splitlines()
        assert 3 <= len(lines) <= 6, (tid, lang, text)
        assert all(line.strip() for line in lines), f"blank line in {lang}/{tid}:\n{text}"
        assert "{" not in text and "}" not in text, text
        if lang == "zh":
            assert text.startswith("您好") and "[" not in text and "fill in" not in text, text
        else:
            assert text.startswith("Hi there") and not re.search(r"[\u3000-\u9fff\uff00-\uffef]", text), text
        if archive == "full" and stage != FIRST:
            needs, questions = data["needs"], data["open_questions"]
            assert any(n in text for n in needs) or questions[0] in text, f"{lang}/{tid} ignores the archive"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_day_30_never_mentions_the_job(templates, lang):
    for reason, archive in product(REASONS, ["full", "empty", "missing"]):
        text = render(templates, template_id(reason, FIRST), lang, task_data(reason, FIRST, lang, archive=archive))
        if lang == "zh":
            found = [w for w in JOB_WORDS_ZH if w in text.lower()]
        else:
            found = JOB_WORDS_EN.findall(text)
        assert not found, f"day 30 ({reason}) mentions {found}: {text}"
    family = render(templates, template_id("family", FIRST), lang, task_data("family", FIRST, lang))
    assert ("家人" if lang == "zh" else "family") in family


def test_later_stages_quote_the_candidates_own_words(templates):
    text = render(templates, "day_90_career_path", "zh", task_data("career_path", "day_90", "zh"))
    assert "还记得您问过「这个岗位的晋升路径是什么?」吗?" in text
    assert "【缺少岗位信息:晋升比例 — 请在「岗位档案」中补充】" in text and "请补充:" not in text
    text = render(templates, "day_90_family", "en", task_data("family", "day_90", "en"))
    assert "flexible hours, a friendly team" in text
    assert '[Missing role fact: remote days per week — please add it under "Role profiles"]' in text
    named = render(templates, "day_90_salary", "zh", {**task_data("salary", "day_90", "zh"), "candidate_name": "张伟"})
    assert named.startswith("张伟 你好,")
    for (lang, name, greeting), (reason, stage) in product(
            (("zh", "林一", "林一 你好,"), ("en", "Lin Yi", "Hi Lin Yi,")), product(REASONS, STAGES)):
        data = {**task_data(reason, stage, lang), "candidate_name": name}          # every one greets by name
        assert render(templates, template_id(reason, stage), lang, data).startswith(greeting), (lang, reason, stage)
    text = render(templates, "day_180_other", "en", task_data("other", "day_180", "en"))
    assert '"my employer matched with a 20% raise"' in text


def test_as_html_every_value_is_escaped(templates):
    data = {**task_data("salary", "day_90", "en"), "needs": ["<script>alert(1)</script>"]}
    text = render(templates, "day_90_salary", "en", data, html=True)
    assert "<script>" not in text and "&lt;script&gt;" in text


FULL_FACTS = {
    "salary": {"as_of": "2026-07-01", "band_min": 18000, "band_max": 30000, "currency": "CNY", "period": "month",
               "change_pct": 8.0, "change_effective": "2026-07-01"},
    "path": {"as_of": "2026-06-01", "stages": [
        {"key": "junior", "name": {"zh": "初级工程师", "en": "Junior engineer"},
         "requirements": {"zh": "独立完成模块开发", "en": "Delivers a module on their own"}, "typical_months": 12},
        {"key": "lead", "name": {"zh": "主管", "en": "Team lead"},
         "requirements": {"zh": "带领3人团队", "en": "Leads a team of 3"}, "typical_months": 24}]},
    "promotion": {"as_of": "2026-11-30", "period_months": 12, "rate_pct": 22.5, "avg_raise_pct": 15.0, "headcount": 40},
    "stories": {"as_of": "2026-10-01", "items": [
        {"joined": "2023-03", "from_stage": "junior", "to_stage": "lead", "months": 20, "raise_pct": 35,
         "text": {"zh": "2023 年加入,20 个月后成为主管", "en": "Joined in 2023, team lead 20 months later"},
         "consented": True}]},
    "mentors": {"as_of": "2026-09-01", "senior_mentors_added": 3, "one_on_one": {"zh": "每周一对一", "en": "weekly 1:1s"},
                "text": {"zh": "新加入 3 位资深导师", "en": "Three senior mentors joined"}},
    "policies": {"as_of": "2026-01-01", "remote_days_per_week": 2, "flexible_hours": True, "training_budget": 5000,
                 "training_budget_currency": "CNY", "text": {"zh": "每周两天远程", "en": "Two remote days a week"}},
    "testimonials": {"as_of": "2026-08-01", "items": [
        {"text": {"zh": "大家乐于分享", "en": "People share what they know"},
         "by": {"zh": "后端团队成员", "en": "Backend team member"}, "consented": True}]},
}


class _Profile:          # the shape engine/archive/roles.py:RoleProfile has (duck-typed by the core)
    role_key, version, label, title = "backend_engineer", 3, "backend_engineer@v3", {"zh": "后端工程师", "en": "Backend"}
    facts = FULL_FACTS


@pytest.mark.parametrize("lang", LANGUAGES)
def test_with_a_full_profile_no_template_has_a_placeholder_or_a_missing_fact(templates, lang):
    for reason, stage in product(REASONS, STAGES):
        role = RoleFacts(RoleSource("backend_engineer", _Profile()), lang=lang, today=datetime.date(2026, 12, 6))
        text = render(templates, template_id(reason, stage), lang, {**task_data(reason, stage, lang), "role": role})
        assert "【" not in text and "[" not in text and "Missing" not in text, (lang, reason, stage, text)
        assert not role.log.missing, (reason, stage, role.log.missing)
        if stage != FIRST and reason not in ("other",) or stage == "day_180":
            assert role.log.used, f"{lang}/{template_id(reason, stage)} uses no role fact"
        if lang == "en":
            assert not re.search(r"[\u3000-\u9fff\uff00-\uffef]", text), text
