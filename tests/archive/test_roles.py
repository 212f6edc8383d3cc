"""Role profiles (engine/archive/roles.py): versions in force by effective date, the most specific scope,
aliases, open positions, and a facts document refused with the path of every bad field (SQLite and
PostgreSQL)."""
from __future__ import annotations

import copy
from datetime import date

import pytest
from sqlalchemy import func, select

from engine.archive import roles
from engine.archive.role_book import RoleProfiles
from engine.archive.role_document import RoleFactsInvalid
from engine.errors import StaleVersion
from engine.models import AuditEvent
from engine.role_models import RoleProfileVersion

TITLE = {"zh": "后端工程师", "en": "Backend engineer"}
FACTS = {
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
         "text": {"zh": "入职20个月晋升主管", "en": "Team lead after 20 months"}, "consented": True, "name": None}]},
    "mentors": {"as_of": "2026-09-01", "senior_mentors_added": 3, "one_on_one": {"zh": "每周一对一", "en": "Weekly 1:1s"}},
    "policies": {"as_of": "2026-01-01", "remote_days_per_week": 2, "flexible_hours": True, "training_budget": 5000,
                 "training_budget_currency": "CNY"},
    "testimonials": {"as_of": "2026-08-01", "items": [
        {"text": {"zh": "团队氛围很好", "en": "A great team"}, "by": {"zh": "后端团队成员", "en": "Backend team member"},
         "consented": True, "photo_url": None}]},
}


def save(session, facts=None, *, key="backend_engineer", effective_from=date(2026, 7, 1), **kw):
    return roles.save_version(session, key, TITLE, facts if facts is not None else FACTS,
                              effective_from=effective_from, actor="hr.li", note=kw.pop("note", "from the HR system"),
                              **kw)


def errors_of(excinfo) -> dict[str, str]:
    return {e.field: e.message for e in excinfo.value.errors}


def test_the_version_in_force_is_the_latest_effective_one_on_or_before_the_date(db):
    with db.write_transaction() as s:
        first = save(s)
        raised = copy.deepcopy(FACTS)
        raised["salary"]["change_pct"] = 10
        second = save(s, raised, effective_from=date(2027, 1, 1), note="2027 raise announced")
    assert (first.version, second.version) == (1, 2)
    with db.read_transaction() as s:
        assert roles.profile_for(s, "backend_engineer", at=date(2026, 6, 30)) is None
        assert roles.profile_for(s, "backend_engineer", at=date(2026, 12, 31)).facts["salary"]["change_pct"] == 8.0
        now = roles.profile_for(s, "backend_engineer", at=date(2027, 1, 1))
        assert now.version == 2 and now.facts["salary"]["change_pct"] == 10 and now.changed_by == "hr.li"
        assert now.title == TITLE and now.label == "backend_engineer@v2"
        history = roles.versions(s, "backend_engineer")
        assert [(p.version, note) for p, note in history] == [(2, "2027 raise announced"), (1, "from the HR system")]


def test_a_correction_dated_in_the_past_wins_from_its_date_and_ties_go_to_the_newer_version(db):
    with db.write_transaction() as s:
        save(s, effective_from=date(2026, 7, 1))
        fixed = copy.deepcopy(FACTS)
        fixed["promotion"]["rate_pct"] = 20
        save(s, fixed, effective_from=date(2026, 7, 1), note="rate corrected")
    with db.read_transaction() as s:
        assert roles.profile_for(s, "backend_engineer", at=date(2026, 8, 1)).facts["promotion"]["rate_pct"] == 20


def test_the_same_content_again_writes_no_version_and_no_audit(db):
    with db.write_transaction() as s:
        save(s)
        again = save(s)
    with db.read_transaction() as s:
        assert again.version == 1
        assert s.scalar(select(func.count()).select_from(RoleProfileVersion)) == 1
        assert s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.kind == "role_profile_saved")) == 1


def test_the_most_specific_scope_in_force_wins(db):
    with db.write_transaction() as s:
        save(s)
        team = copy.deepcopy(FACTS)
        team["salary"]["change_pct"] = 12
        save(s, team, team="platform")
        place = copy.deepcopy(FACTS)
        place["salary"]["change_pct"] = 5
        save(s, place, location="上海")
        both = copy.deepcopy(FACTS)
        both["salary"]["change_pct"] = 15
        save(s, both, team="platform", location="上海", effective_from=date(2027, 1, 1))
    at = date(2026, 12, 1)

    def pct(**scope):
        with db.read_transaction() as s:
            return roles.profile_for(s, "backend_engineer", at=at, **scope).facts["salary"]["change_pct"]
    assert pct() == 8.0
    assert pct(team="platform") == 12
    assert pct(location="上海") == 5
    assert pct(team="platform", location="上海") == 12        # the team+location version is not in force yet
    assert pct(team="data", location="北京") == 8.0
    with db.read_transaction() as s:
        assert roles.profile_for(s, "backend_engineer", team="platform", location="上海",
                                 at=date(2027, 1, 2)).facts["salary"]["change_pct"] == 15
        assert roles.profile_for(s, "frontend_engineer", at=at) is None


def test_a_free_text_role_finds_its_profile_through_an_alias_or_its_slug(db):
    with db.write_transaction() as s:
        save(s)
        assert roles.set_aliases(s, "backend_engineer", ["后端工程师", "Backend  Engineer ", "Java 后端"],
                                 actor="hr.li") == ["Backend  Engineer", "Java 后端", "后端工程师"]
    with db.read_transaction() as s:
        assert roles.role_key_of("Backend Engineer") == "backend_engineer"
        assert roles.role_key_of("  后端 / 工程师 ") == "后端_工程师"
        assert roles.profile_for_role_text(s, "后端工程师").role_key == "backend_engineer"
        assert roles.profile_for_role_text(s, "java后端") is None          # another slug
        assert roles.profile_for_role_text(s, "JAVA 后端").role_key == "backend_engineer"
        assert roles.profile_for_role_text(s, "backend-engineer").role_key == "backend_engineer"
        assert roles.profile_for_role_text(s, "") is None and roles.profile_for_role_text(s, None) is None
        assert roles.aliases_of(s, "backend_engineer") == ["Backend  Engineer", "Java 后端", "后端工程师"]


def test_an_alias_another_role_holds_is_refused_by_name(db):
    with db.write_transaction() as s:
        save(s)
        save(s, key="frontend_engineer")
        roles.set_aliases(s, "frontend_engineer", ["前端"], actor="hr.li")
    with pytest.raises(RoleFactsInvalid) as refused, db.write_transaction() as s:
        roles.set_aliases(s, "backend_engineer", ["后端", "前端", "frontend engineer"], actor="hr.li")
    assert errors_of(refused) == {"aliases[1]": "'前端' already means role frontend_engineer",
                                  "aliases[2]": "'frontend engineer' is the key of role frontend_engineer itself"}


def test_open_roles_lists_roles_with_openings(db):
    with db.write_transaction() as s:
        save(s)
        save(s, key="frontend_engineer")
        roles.set_open_positions(s, "backend_engineer", 3, actor="hr.li")
        roles.set_open_positions(s, "frontend_engineer", 0, actor="hr.li")
    with db.read_transaction() as s:
        assert roles.open_roles(s) == [("backend_engineer", 3)]
        assert roles.open_positions_of(s, "frontend_engineer") == 0
    with pytest.raises(RoleFactsInvalid) as refused, db.write_transaction() as s:
        roles.set_open_positions(s, "backend_engineer", -1, actor="hr.li")
    assert "open_positions" in errors_of(refused)


def test_stale_is_older_than_the_maximum_age(db):
    with db.write_transaction() as s:
        profile = save(s)
    assert profile.as_of("policies") == date(2026, 1, 1) and profile.as_of("nothing") is None
    assert profile.stale("policies", today=date(2027, 1, 2), max_age_days=365)
    assert not profile.stale("policies", today=date(2027, 1, 1), max_age_days=365)
    assert not profile.stale("nothing", today=date(2030, 1, 1), max_age_days=1)
    assert profile.stale_groups(today=date(2027, 1, 2), max_age_days=365) == ["policies"]


@pytest.mark.parametrize("change, field, message", [
    (lambda f: f["path"]["stages"][1].update(typical_months=-1), "facts.path.stages[1].typical_months",
     "must be a whole number >= 0 and <= 600"),
    (lambda f: f["path"]["stages"][1].update(typical_months="12"), "facts.path.stages[1].typical_months",
     "must be a whole number >= 0 and <= 600"),
    (lambda f: f.update(bonus={"as_of": "2026-01-01"}), "facts.bonus",
     "unknown fact group; expected one of salary, path, promotion, stories, mentors, policies, testimonials"),
    (lambda f: f["salary"].update(chnage_pct=8), "facts.salary.chnage_pct",
     "unknown field; expected one of as_of, band_min, band_max, currency, period, change_pct, change_effective"),
    (lambda f: f["salary"].pop("as_of"), "facts.salary.as_of", "is required"),
    (lambda f: f["salary"].update(as_of="2026-02-30"), "facts.salary.as_of", "must be a date YYYY-MM-DD"),
    (lambda f: f["salary"].update(band_min=40000), "facts.salary.band_max", "must be >= band_min"),
    (lambda f: f["salary"].update(change_pct=float("nan")), "facts.salary.change_pct",
     "must be a number >= -100 and <= 1000"),
    (lambda f: f["salary"].update(change_pct=True), "facts.salary.change_pct", "must be a number >= -100 and <= 1000"),
    (lambda f: f["stories"]["items"][0].update(text={"zh": "长" * 2001}), "facts.stories.items[0].text.zh",
     "must be a text of at most 2000 characters"),
    (lambda f: f["stories"]["items"][0].update(text={"fr": "x"}), "facts.stories.items[0].text.fr",
     "unknown field; expected zh or en"),
    (lambda f: f["stories"]["items"][0].update(consented="yes"), "facts.stories.items[0].consented",
     "must be true or false"),
    (lambda f: f["stories"].update(items=[{}] * 51), "facts.stories.items", "at most 50 entries (got 51)"),
    (lambda f: f["path"]["stages"].append(dict(f["path"]["stages"][0])), "facts.path.stages[2].key",
     "'junior' is used by an earlier stage"),
    (lambda f: f["mentors"].update(one_on_one={"a": {"b": {"c": {"d": [[[[1]]]]}}}}), "facts.mentors.one_on_one.a",
     "unknown field; expected zh or en"),
    (lambda f: f["testimonials"]["items"][0].update(photo_url="javascript:alert(1)"),
     "facts.testimonials.items[0].photo_url", "must be an https:// or /path URL of at most 1024 characters, or null"),
    (lambda f: f.update(path=[]), "facts.path", "must be an object"),
])
def test_a_bad_facts_document_is_refused_naming_the_field_and_nothing_is_written(db, change, field, message):
    facts = copy.deepcopy(FACTS)
    change(facts)
    with pytest.raises(RoleFactsInvalid) as refused, db.write_transaction() as s:
        save(s, facts)
    assert errors_of(refused).get(field) == message, errors_of(refused)
    with db.read_transaction() as s:
        assert roles.profile_for(s, "backend_engineer", at=date(2030, 1, 1)) is None


def test_huge_and_deep_documents_and_bad_keys_are_refused(db):
    deep: dict = {}
    node = deep
    for _ in range(5000):
        node["x"] = {}
        node = node["x"]
    for facts, field in [({"mentors": {"as_of": "2026-01-01", "text": {"zh": "x" * 300_000}}}, "facts"),
                         (deep, "facts"), ("not an object", "facts")]:
        with pytest.raises(RoleFactsInvalid) as refused, db.write_transaction() as s:
            save(s, facts)
        assert field in errors_of(refused)
    for key in ("Backend", "back end", "", "a" * 65, "_x", None):
        with pytest.raises(RoleFactsInvalid) as refused, db.write_transaction() as s:
            save(s, key=key)
        assert "role_key" in errors_of(refused)
    with pytest.raises(RoleFactsInvalid) as refused, db.write_transaction() as s:
        roles.save_version(s, "backend_engineer", {"de": "x"}, {}, effective_from=date(2026, 1, 1), actor="a", note="")
    assert "title.de" in errors_of(refused)


def test_an_expected_version_that_moved_on_is_stale(db):
    with db.write_transaction() as s:
        save(s, expected_version=0)
    with pytest.raises(StaleVersion), db.write_transaction() as s:
        save(s, copy.deepcopy(FACTS) | {"mentors": {"as_of": "2026-01-01"}}, expected_version=0)
    with db.write_transaction() as s:
        assert save(s, copy.deepcopy(FACTS) | {"mentors": {"as_of": "2026-01-01"}}, expected_version=1).version == 2


def test_the_front_door_saves_in_one_unit_of_work_and_audits(engine):
    book = RoleProfiles(engine)
    saved = book.save("backend_engineer", TITLE, FACTS, effective_from=date(2026, 1, 1), actor="hr.li", note="first")
    assert saved.version == 1 and book.profile_for("backend_engineer", at=date(2026, 1, 1)).version == 1
    assert book.set_open_positions("backend_engineer", 2, actor="hr.li") == 2
    assert book.open_roles() == [("backend_engineer", 2)]
    with engine.db.read_transaction() as s:
        kinds = list(s.scalars(select(AuditEvent.kind).where(AuditEvent.kind.like("role_%")).order_by(AuditEvent.id)))
    assert kinds == ["role_profile_saved", "role_open_positions_changed"]


def test_racing_saves_of_a_new_scope_make_one_profile_with_consecutive_versions(engine):
    from tests.support import race
    book = RoleProfiles(engine)
    bodies = []
    for pct in range(4):
        facts = copy.deepcopy(FACTS)
        facts["salary"]["change_pct"] = pct
        bodies.append(facts)
    counter = iter(range(4))
    saved = race(4, lambda: book.save("backend_engineer", TITLE, bodies[next(counter)],
                                      effective_from=date(2026, 1, 1), actor="hr.li", note="race"))
    assert sorted(v.latest_version for v in saved) == [1, 2, 3, 4]
    with engine.db.read_transaction() as s:
        assert [p.version for p, _ in roles.versions(s, "backend_engineer")] == [4, 3, 2, 1]
        assert len(roles.scopes(s, "backend_engineer")) == 1
