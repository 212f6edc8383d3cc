"""The candidate's growth page (issue 18): what a role offers, for one candidate who declined it.

Read in one snapshot: the candidate (their open questions from the interview: the candidate record's and
their latest decline's), the role (the link's `role_key`, else the latest decline's `role`, else the
candidate's `role_applied`, through engine/archive/roles.py: an alias HR recorded resolves too) and the
profile in force today. The page shows the path (stages with their requirements and typical months), the
figures with their "as of" dates (salary band and change, promotion rate WITH the headcount it is computed
from), the consented stories and testimonials only (a story's name only when consented), mentors and
policies, and an answer to each open question: the question is matched to a group of facts by its words
(salary, path/promotion, mentors, policies/flexibility, team), answered with that group's figures in one
sentence and a pointer to the section; a question no group answers is shown with "HR will answer this in
person". Nothing about anyone else.

The "I'd like to talk" form posts back (`post`): `CandidateLinks.talk` delivers `candidate_replied`
(channel growth_page) once per link.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import select

from .. import days
from ..archive import roles
from ..archive_models import Candidate, CandidateDecline
from .links import Page, PageRequest, register_page
from .service import CandidateLinks

TEMPLATE = "recall_pages/growth.html"
THANKS = "recall_pages/thanks.html"

# words of a question -> the fact group that answers it (first match wins; lower-cased)
TOPICS = (
    ("salary", ("薪", "工资", "待遇", "涨薪", "调薪", "收入", "奖金", "salary", "pay", "compensation", "raise", "bonus")),
    ("promotion", ("晋升", "升职", "发展", "路径", "成长", "职级", "promotion", "promote", "career", "path", "grow",
                   "level", "progress")),
    ("mentors", ("导师", "带教", "培养", "一对一", "mentor", "coach", "1:1", "one-on-one", "guidance")),
    ("policies", ("远程", "居家", "弹性", "加班", "培训", "假", "通勤", "remote", "flexible", "hours", "overtime",
                  "training", "leave", "home", "commute", "work-life")),
    ("testimonials", ("团队", "氛围", "同事", "文化", "team", "culture", "colleague", "atmosphere")),
)
SECTION = {"salary": "figures", "promotion": "path", "mentors": "mentors", "policies": "policies",
           "testimonials": "voices"}


def _t(text, lang: str) -> str:
    if isinstance(text, dict):
        return str(text.get(lang) or text.get("en" if lang == "zh" else "zh") or "")
    return "" if text is None else str(text)


def _num(value) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"{value:,}" if isinstance(value, int) else str(value)


def _consented(group: dict | None) -> list[dict]:
    return [i for i in (group or {}).get("items") or [] if isinstance(i, dict) and i.get("consented") is True]


def role_text_of(session, candidate: Candidate) -> tuple[str | None, CandidateDecline | None]:
    decline = session.scalars(select(CandidateDecline).where(CandidateDecline.candidate_id == candidate.id)
                              .order_by(CandidateDecline.decline_date.desc(), CandidateDecline.created_at.desc())
                              .limit(1)).first()
    return (decline.role if decline is not None and decline.role else candidate.role_applied), decline


def questions_of(candidate: Candidate, decline: CandidateDecline | None) -> list[str]:
    found = [*(decline.open_questions if decline is not None else []), *(candidate.open_questions or [])]
    return list(dict.fromkeys(q.strip() for q in found if isinstance(q, str) and q.strip()))[:20]


def topic_of(question: str) -> str | None:
    lowered = question.casefold()
    return next((group for group, words in TOPICS if any(w in lowered for w in words)), None)


def _answer(group: str, facts: dict, lang: str) -> str | None:
    zh = lang == "zh"
    if group == "salary" and facts.get("salary"):
        s = facts["salary"]
        parts = []
        if s.get("band_min") is not None and s.get("band_max") is not None:
            period = {"month": ("月", "month"), "year": ("年", "year")}.get(s.get("period"), ("", s.get("period") or ""))
            parts.append(f"薪资范围 {_num(s['band_min'])}–{_num(s['band_max'])} {s.get('currency', '')}/{period[0]}" if zh
                         else f"the band is {_num(s['band_min'])}–{_num(s['band_max'])} {s.get('currency', '')} a {period[1]}")
        if s.get("change_pct") is not None:
            parts.append(f"自 {s.get('change_effective') or s.get('as_of')} 起调整 {_num(s['change_pct'])}%" if zh
                         else f"changed by {_num(s['change_pct'])}% from {s.get('change_effective') or s.get('as_of')}")
        return ("；".join(parts) + "。") if zh and parts else ("; ".join(parts).capitalize() + ".") if parts else None
    if group == "promotion" and (facts.get("promotion") or facts.get("path")):
        p, stages = facts.get("promotion") or {}, (facts.get("path") or {}).get("stages") or []
        parts = []
        if stages:
            parts.append(("路径:" if zh else "The path: ") + " → ".join(_t(st.get("name"), lang) for st in stages))
        if p.get("rate_pct") is not None and p.get("headcount"):
            parts.append(f"过去 {p.get('period_months', 12)} 个月 {p['headcount']} 人中晋升比例 {_num(p['rate_pct'])}%" if zh
                         else f"{_num(p['rate_pct'])}% of {p['headcount']} people were promoted in the last "
                              f"{p.get('period_months', 12)} months")
        return ("；".join(parts) + "。") if zh and parts else ("; ".join(parts) + ".") if parts else None
    if group == "mentors" and facts.get("mentors"):
        m = facts["mentors"]
        parts = [_t(m.get("one_on_one"), lang)] if m.get("one_on_one") else []
        if m.get("senior_mentors_added"):
            parts.append(f"新增 {m['senior_mentors_added']} 位资深导师" if zh else f"{m['senior_mentors_added']} senior mentors added")
        if m.get("text"):
            parts.append(_t(m["text"], lang))
        return ("；".join(parts) + "。") if zh and parts else ("; ".join(parts) + ".") if parts else None
    if group == "policies" and facts.get("policies"):
        return "；".join(_policies(facts["policies"], lang)) + ("。" if zh else ".")
    if group == "testimonials" and _consented(facts.get("testimonials")):
        first = _consented(facts["testimonials"])[0]
        return f"“{_t(first.get('text'), lang)}” — {_t(first.get('by'), lang)}"
    return None


def _policies(p: dict, lang: str) -> list[str]:
    zh = lang == "zh"
    out = []
    if p.get("remote_days_per_week"):
        out.append(f"每周可远程 {p['remote_days_per_week']} 天" if zh else f"{p['remote_days_per_week']} remote days a week")
    if p.get("flexible_hours"):
        out.append("弹性工作时间" if zh else "flexible hours")
    if p.get("training_budget"):
        cur = p.get("training_budget_currency", "")
        out.append(f"每年培训预算 {_num(p['training_budget'])} {cur}" if zh
                   else f"a training budget of {_num(p['training_budget'])} {cur} a year")
    if p.get("text"):
        out.append(_t(p["text"], lang))
    return out


def growth_context(session, link, lang: str, *, today: date) -> dict:
    """Everything the template shows (texts already in `lang`)."""
    candidate = session.get(Candidate, link.candidate_id)
    role_text, decline = role_text_of(session, candidate)
    profile = (roles.profile_for(session, link.role_key, at=today) if link.role_key else None) \
        or roles.profile_for_role_text(session, role_text, at=today)
    facts = profile.facts if profile is not None else {}
    stages = [{"name": _t(st.get("name"), lang), "requirements": _t(st.get("requirements"), lang),
               "months": st.get("typical_months"), "key": st.get("key")}
              for st in (facts.get("path") or {}).get("stages") or [] if isinstance(st, dict)]
    names = {st["key"]: st["name"] for st in stages if st["key"]}
    stories = [{"text": _t(i.get("text"), lang), "name": i.get("name") or None, "joined": i.get("joined"),
                "months": i.get("months"), "raise_pct": i.get("raise_pct"),
                "move": " → ".join(names.get(k, k) for k in (i.get("from_stage"), i.get("to_stage")) if k)}
               for i in _consented(facts.get("stories"))]
    voices = [{"text": _t(i.get("text"), lang), "by": _t(i.get("by"), lang)} for i in _consented(facts.get("testimonials"))]
    questions = []
    for q in questions_of(candidate, decline):
        group = topic_of(q)
        answer = _answer(group, facts, lang) if group else None
        questions.append({"q": q, "answer": answer, "section": SECTION.get(group) if answer else None})
    mentors = facts.get("mentors") or {}
    return {
        "role_title": _t(profile.title, lang) if profile is not None else (role_text or ""),
        "has_profile": profile is not None,
        "stages": stages, "path_as_of": (facts.get("path") or {}).get("as_of"),
        "salary": facts.get("salary"), "promotion": facts.get("promotion"),
        "stories": stories, "stories_as_of": (facts.get("stories") or {}).get("as_of"),
        "voices": voices, "voices_as_of": (facts.get("testimonials") or {}).get("as_of"),
        "mentors": {"as_of": mentors.get("as_of"), "one_on_one": _t(mentors.get("one_on_one"), lang),
                    "added": mentors.get("senior_mentors_added"), "text": _t(mentors.get("text"), lang)} if mentors else None,
        "policies": {"as_of": facts["policies"].get("as_of"), "items": _policies(facts["policies"], lang)}
        if facts.get("policies") else None,
        "questions": questions,
        "replied": link.replied_at is not None,
        "expires_on": days.local_day(link.expires_at),
    }


def render(request: PageRequest) -> Page:
    with request.engine.db.read_transaction() as s:
        today = date.fromisoformat(days.local_day(request.engine.clock.now()))
        return Page(TEMPLATE, growth_context(s, request.link, request.lang, today=today))


def post(request: PageRequest) -> Page:
    """The "I'd like to talk" button (action=talk): delivered once; the thank-you page either way."""
    if request.form.get("action") != "talk":
        return Page(THANKS, {"done": False}, status=400)
    _link, delivered = CandidateLinks(request.engine).talk(request.url.rsplit("/", 1)[-1])
    return Page(THANKS, {"done": True, "again": not delivered})


register_page("growth", render, post=post)
