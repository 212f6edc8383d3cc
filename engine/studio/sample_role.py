"""The studio's SAMPLE role profile (issue 19): what a template preview renders `{{ role.… }}` with when the
owner names no archive role (or the role has no profile in force yet), so every fact a template reads is
filled and the owner sees the message a candidate would get, not a page of "missing" markers.

It is a full facts document (docs/role-profiles.md; valid for engine/archive/role_document.py's
validate_facts, tests/http/test_studio_preview.py checks it) and is never stored: it only exists in a
preview. Its figures are plausible and round so a reader spots them as a sample (a 9 % raise, a 20 %
promotion rate).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

SAMPLE_KEY = "sample"
SAMPLE_TITLE = {"zh": "示例岗位(后端工程师)", "en": "Sample role (backend engineer)"}
SAMPLE_FACTS: dict = {
    "salary": {"as_of": "2026-07-01", "band_min": 20000, "band_max": 32000, "currency": "CNY", "period": "month",
               "change_pct": 9, "change_effective": "2026-07-01"},
    "path": {"as_of": "2026-06-01", "stages": [
        {"key": "junior", "name": {"zh": "初级工程师", "en": "Junior engineer"},
         "requirements": {"zh": "独立完成模块开发", "en": "Delivers a module on their own"}, "typical_months": 12},
        {"key": "senior", "name": {"zh": "高级工程师", "en": "Senior engineer"},
         "requirements": {"zh": "负责一个子系统的设计", "en": "Owns the design of a subsystem"}, "typical_months": 24},
        {"key": "lead", "name": {"zh": "技术主管", "en": "Tech lead"},
         "requirements": {"zh": "带领 4 人团队", "en": "Leads a team of four"}, "typical_months": 36}]},
    "promotion": {"as_of": "2026-06-30", "period_months": 12, "rate_pct": 20, "avg_raise_pct": 15, "headcount": 45},
    "stories": {"as_of": "2026-06-01", "items": [
        {"joined": "2023-03", "from_stage": "junior", "to_stage": "senior", "months": 18, "raise_pct": 30,
         "text": {"zh": "一位同事入职 18 个月后晋升为高级工程师,涨薪 30%。",
                  "en": "A colleague became a senior engineer 18 months after joining, with a 30% raise."},
         "consented": True, "name": None}]},
    "mentors": {"as_of": "2026-06-01", "senior_mentors_added": 2,
                "one_on_one": {"zh": "每两周一次一对一辅导", "en": "A one-to-one every two weeks"},
                "text": {"zh": "团队新增了 2 位资深导师,每位新同事都有固定导师。",
                         "en": "The team added two senior mentors; every newcomer has a named mentor."}},
    "policies": {"as_of": "2026-06-01", "remote_days_per_week": 2, "flexible_hours": True, "training_budget": 6000,
                 "training_budget_currency": "CNY",
                 "text": {"zh": "每周可远程办公 2 天,弹性上下班。", "en": "Two remote days a week and flexible hours."}},
    "testimonials": {"as_of": "2026-06-01", "items": [
        {"text": {"zh": "导师很用心,成长很快。", "en": "My mentor cares; I learn fast."},
         "by": {"zh": "后端团队成员", "en": "Backend team member"}, "consented": True, "photo_url": None}]},
}


@dataclass(frozen=True)
class SampleProfile:
    """Duck-typed like the archive's RoleProfile where engine/role_facts.py reads it."""
    role_key: str = SAMPLE_KEY
    version: int = 0
    title: dict = field(default_factory=lambda: dict(SAMPLE_TITLE))
    facts: dict = field(default_factory=lambda: SAMPLE_FACTS)
    effective_from: dt.date = dt.date(2026, 7, 1)
    label: str = SAMPLE_KEY


SAMPLE_PROFILE = SampleProfile()
