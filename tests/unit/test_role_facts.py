"""The `role` object of message templates (engine/role_facts.py) through the real sandboxed renderer
(engine/templates.py): facts by name in the template's language, consented stories only, dated and stale
facts, missing facts as a named marker with the page to add them, the renderer's bounds, and
`recall validate` naming a fact no profile defines (file and line)."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from engine import templates as T
from engine.bundle import load_bundle
from engine.role_facts import FACT_FIELDS, MAX_RECORDED, RoleSource, missing_marker, unknown_facts

ROOT = Path(__file__).resolve().parents[2]
TODAY = dt.date(2026, 12, 6)
FACTS = {
    "salary": {"as_of": "2026-07-01", "band_min": 18000, "band_max": 30000, "currency": "CNY", "period": "month",
               "change_pct": 8.0, "change_effective": "2026-07-01"},
    "path": {"as_of": "2026-06-01", "stages": [
        {"key": "junior", "name": {"zh": "初级工程师", "en": "Junior engineer"},
         "requirements": {"zh": "独立完成模块开发", "en": "Delivers a module on their own"}, "typical_months": 12},
        {"key": "lead", "name": {"zh": "主管", "en": "Team lead"},
         "requirements": {"zh": "带领3人团队", "en": "Leads a team of 3"}, "typical_months": 24}]},
    "stories": {"as_of": "2026-10-01", "items": [
        {"text": {"zh": "未同意的故事", "en": "unconsented"}, "consented": False, "name": "王五"},
        {"text": {"zh": "未说明是否同意", "en": "consent not recorded"}},
        {"text": {"zh": "入职20个月晋升主管", "en": "Team lead after 20 months"}, "consented": True, "name": "小李",
         "raise_pct": 35}]},
    "policies": {"as_of": "2026-01-01", "remote_days_per_week": 2, "flexible_hours": False},
}


def unlabelled(entries: list[dict]) -> list[dict]:
    """The recorded facts without their display labels (checked once, in the unit tests)."""
    return [{k: v for k, v in e.items() if k != "label"} for e in entries]


class Profile:          # the shape of engine/archive/roles.py:RoleProfile the core reads (duck-typed)
    def __init__(self, facts=None, *, version=3):
        self.role_key, self.version, self.label = "backend_engineer", version, f"backend_engineer@v{version}"
        self.title, self.facts, self.effective_from = {"zh": "后端工程师", "en": "Backend engineer"}, facts, dt.date(2026, 7, 1)


def rendered(source: str, *, lang="zh", facts=FACTS, max_age=365, role_key="backend_engineer", data=None):
    src = RoleSource(role_key, Profile(facts) if facts is not None else None, max_age)
    out = T.prefill({f"{lang}/t": source}, {"suggestion_template_id": "t", "lang": lang, **(data or {})},
                    role_source=lambda: src, today=TODAY)
    return out


def test_facts_by_name_in_the_templates_language_with_their_dates():
    source = ("{{ role.title }}:{{ role.salary.change_pct }}% 自 {{ role.salary.change_effective }};"
              "{{ role.path }};{{ role.path.stages[1].requirements }}")
    zh = rendered(source)
    assert zh["suggested_message"] == "后端工程师:8% 自 2026-07-01;初级工程师 → 主管;带领3人团队"
    en = rendered(source, lang="en")
    assert en["suggested_message"] == "Backend engineer:8% 自 2026-07-01;Junior engineer → Team lead;Leads a team of 3"
    assert unlabelled(zh["suggestion_facts"]) == [
        {"fact": "title", "as_of": "2026-07-01", "stale": False, "profile": "backend_engineer@v3"},
        {"fact": "salary.change_pct", "as_of": "2026-07-01", "stale": False, "profile": "backend_engineer@v3"},
        {"fact": "salary.change_effective", "as_of": "2026-07-01", "stale": False, "profile": "backend_engineer@v3"},
        {"fact": "path", "as_of": "2026-06-01", "stale": False, "profile": "backend_engineer@v3"},
        {"fact": "path.stages[1].requirements", "as_of": "2026-06-01", "stale": False,
         "profile": "backend_engineer@v3"}]
    assert "suggestion_missing_facts" not in zh and zh["message_sent"] == zh["suggested_message"]
    assert zh["suggestion_facts"][1]["label"] == {"zh": "薪资调整幅度", "en": "salary change (percent)"}


def test_a_figure_older_than_the_allowed_age_is_stale():
    out = rendered("{{ role.path }} {{ role.salary.change_pct }}", max_age=170)
    stale = {f["fact"]: f["stale"] for f in out["suggestion_facts"]}
    assert stale == {"path": True, "salary.change_pct": False}       # 188 and 158 days before TODAY


def test_only_consented_stories_exist_and_a_name_only_with_consent():
    out = rendered("{{ role.stories[0] }}|{{ role.stories[0].name }}|{{ role.stories | length }}|"
                   "{% for s in role.stories %}{{ s.raise_pct }}{% endfor %}")
    assert out["suggested_message"] == "入职20个月晋升主管|小李|1|35"
    assert "未同意" not in out["suggested_message"] and "未说明" not in out["suggested_message"]
    second = rendered("{{ role.stories[1] }}")
    assert second["suggested_message"] == missing_marker("stories[1]", "zh")
    assert unlabelled(second["suggestion_missing_facts"]) == [
        {"fact": "stories[1]", "role_key": "backend_engineer", "add_url": "/app/roles/backend_engineer"}]


def test_a_missing_fact_renders_a_marker_naming_it_and_is_recorded_once():
    facts = {k: v for k, v in FACTS.items() if k != "salary"}
    out = rendered("上调 {{ role.salary.change_pct }};再一次 {{ role.salary.change_pct }};{{ role.mentors.text }}",
                   facts=facts)
    assert out["suggested_message"] == ("上调 【缺少岗位信息:薪资调整幅度 — 请在「岗位档案」中补充】;"
                                        "再一次 【缺少岗位信息:薪资调整幅度 — 请在「岗位档案」中补充】;"
                                        "【缺少岗位信息:导师与团队介绍 — 请在「岗位档案」中补充】")
    assert [m["fact"] for m in out["suggestion_missing_facts"]] == ["salary.change_pct", "mentors.text"]
    assert out["suggestion_missing_facts"][1]["label"] == {"zh": "导师与团队介绍", "en": "mentors and team description"}
    en = rendered("{{ role.salary.change_pct }}", facts=facts, lang="en")
    assert en["suggested_message"] == '[Missing role fact: salary change (percent) — please add it under "Role profiles"]'


def test_has_tests_without_recording_and_a_missing_fact_is_false():
    out = rendered('{% if role.has("salary.change_pct") %}a{% endif %}{% if role.has("mentors.text") %}b{% endif %}'
                   '{% if role.has("stories[0]") %}c{% endif %}{% if role.has("stories[1]") %}d{% endif %}'
                   '{% if role.mentors.text %}e{% endif %}{% if role.policies.flexible_hours %}f{% endif %}')
    assert out["suggested_message"] == "ac"
    assert "suggestion_missing_facts" not in out
    assert [f["fact"] for f in out["suggestion_facts"]] == ["policies.flexible_hours"]


def test_no_profile_every_fact_is_missing_and_no_role_links_to_the_list():
    out = rendered("{{ role.path }}", facts=None)
    assert unlabelled(out["suggestion_missing_facts"]) == [
        {"fact": "path", "role_key": "backend_engineer", "add_url": "/app/roles/backend_engineer"}]
    out = rendered("{{ role.path }} {{ role.key }}", facts=None, role_key=None)
    assert out["suggestion_missing_facts"][0]["add_url"] == "/app/roles"
    # no provider at all (a preview): still renders, everything missing
    assert "【缺少岗位信息:晋升路径" in T.render({"zh/t": "{{ role.path }}"}, "t", "zh", {})


def test_strange_documents_do_not_break_the_rendering():
    facts = {"salary": "not a group", "path": {"as_of": "nonsense", "stages": [{"name": "plain"}, 7]},
             "stories": {"items": "oops"}, "policies": {"as_of": "2026-01-01", "text": {"fr": "bonjour"}}}
    out = rendered("{{ role.salary.change_pct }}|{{ role.path }}|{{ role.stories[0] }}|{{ role.policies.text }}", facts=facts)
    assert out["suggested_message"].startswith("【缺少岗位信息:薪资调整幅度")
    assert "|plain|" in out["suggested_message"]


def test_private_attributes_stay_closed_in_the_sandbox():
    out = rendered("{{ role._facts }}")
    assert "suggestion_error" in out and "_facts" in out["suggestion_error"]
    out = rendered("{{ role._source.profile.facts }}")
    assert "suggestion_error" in out


def test_bounds_recorded_facts_are_capped_and_loops_are_time_limited():
    out = rendered("{% for i in range(5000) %}{{ role.stories[i] }}{% endfor %}")
    assert "suggestion_error" in out                       # 5,000 markers pass the size limit
    out = rendered("{% for i in range(200) %}{% set x = role.stories[i + 1] | string %}{% endfor %}ok")
    assert out["suggested_message"] == "ok"
    assert len(out["suggestion_missing_facts"]) == MAX_RECORDED
    out = rendered("{% for i in range(10000) %}{% for j in range(10000) %}{{ role.has('path') }}{% endfor %}"
                   "{% endfor %}")
    assert "suggestion_error" in out                       # the time or size budget stops it


def test_unknown_facts_are_named_with_their_line():
    env = T._environment({}, autoescape=False)
    problems = unknown_facts(env.parse("{{ role.salary.change_pct }}\n{{ role.salary.chnage_pct }}\n"
                                       "{% if role.has('promo.rate_pct') %}{% endif %}{{ role.stories[0].raise_pct }}\n"
                                       "{{ role.path.stages[0].name.zh }}{{ role.policies.as_of }}{{ role.stories.as_of }}"
                                       "{{ role.title.en }}{{ role.key }}{{ role.mentors.texts }}"))
    assert [line for line, _ in problems] == [2, 3, 4]
    assert "role.salary.chnage_pct: no role profile defines 'chnage_pct'" in problems[0][1]
    assert "role.has('promo.rate_pct')" in problems[1][1] and "'promo'" in problems[1][1]
    assert "'texts'" in problems[2][1]


def test_unknown_facts_through_a_loop_variable_or_a_set():
    env = T._environment({}, autoescape=False)
    problems = unknown_facts(env.parse("{% for s in role.path.stages %}{{ s.name }}{{ s.nme }}{% endfor %}\n"
                                       "{% set pay = role.salary %}{{ pay.change_pct }}{{ pay.chnage_pct }}\n"
                                       "{% for x in needs %}{{ x.anything }}{% endfor %}"
                                       "{% for st in role.stories %}{{ st.raise_pct }}{% endfor %}"))
    assert [(line, m.split(":")[0]) for line, m in problems] == [(1, "role.path.stages[0].nme"),
                                                                (2, "role.salary.chnage_pct")]


def test_every_field_of_the_document_is_a_known_fact():
    env = T._environment({}, autoescape=False)
    uses = []
    for group, fields in FACT_FIELDS.items():
        for name, kind in fields.items():
            if isinstance(kind, dict):
                uses += [f"role.{group}.{name}[0].{sub}" if group not in ("stories", "testimonials")
                         else f"role.{group}[0].{sub}" for sub in kind]
            else:
                uses.append(f"role.{group}.{name}")
    assert unknown_facts(env.parse("".join("{{ %s }}" % use for use in uses))) == []


def test_recall_validate_reports_the_template_file_and_line(tmp_path):
    shutil.copytree(ROOT / "workflows", tmp_path / "workflows")
    shutil.copytree(ROOT / "forms", tmp_path / "forms")
    target = tmp_path / "workflows" / "templates" / "zh" / "day_90_salary.j2"
    target.write_text(target.read_text(encoding="utf-8") + "另:{{ role.salary.chnage_pct }}\n", encoding="utf-8")
    problems = [str(d) for d in load_bundle([tmp_path / "workflows"], forms_dir=tmp_path / "forms").diagnostics]
    line = len(target.read_text(encoding="utf-8").splitlines())
    assert any(p.startswith(f"workflows/templates/zh/day_90_salary.j2:{line}:") and "chnage_pct" in p
               for p in problems), problems


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_shipped_templates_use_only_known_facts(lang):
    bundle = load_bundle([ROOT / "workflows"], forms_dir=ROOT / "forms")
    assert bundle.diagnostics == []
    assert not any("请补充" in s or "fill in" in s for key, s in bundle.templates.items() if key.startswith(lang))


def test_the_templates_facts_are_the_fields_the_profiles_validator_accepts():
    """engine/role_facts.py (what templates may name) and engine/archive/role_document.py (what a profile
    may hold) list the same document: a field added to one and not the other fails here."""
    from engine.archive import role_document
    items = {"path": role_document.STAGE, "stories": role_document.STORY, "testimonials": role_document.TESTIMONIAL}
    for group, fields in role_document.GROUPS.items():
        assert set(FACT_FIELDS[group]) == set(fields), group
        if group in items:
            listed = next(v for v in FACT_FIELDS[group].values() if isinstance(v, dict))
            assert set(listed) == set(items[group]) - {"consented"}, group
    assert set(FACT_FIELDS) == set(role_document.GROUPS)
