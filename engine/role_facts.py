"""The `role` object message templates see: a role profile's facts by name, in the template's language.

    {{ role.salary.change_pct }}           8      (the number; 8.0 is shown as 8)
    {{ role.salary.change_effective }}     2026-07-01
    {{ role.path }}                        初级工程师 → 主管   /  Junior engineer → Team lead
    {{ role.stories[0] }}                  the first consented story's text
    {% if role.has("salary.change_pct") %} ... {% endif %}

Facts come from a role profile (the archive's engine/archive/roles.py, see docs/role-profiles.md);
the engine core never imports the archive: the archive installs a provider on the runtime
(`Runtime.role_source`, set by engine/archive/__init__.py:install) that, given the session and the
task's data, returns a `RoleSource` (the case's role key and the profile in force). This module only
reads the profile's `facts` document.

Every fact a rendering reads is recorded with the date its group's figures are from (`as_of`) and
whether that date is older than the allowed age (`stale`); a fact the profile lacks renders a visible
marker naming it and where to add it (【缺少岗位信息:薪资调整幅度 — 请在「岗位档案」中补充】) and is
recorded as missing. `prefill` stores both lists in the task data (`suggestion_facts`: fact, label
{zh, en}, as_of, stale, profile; `suggestion_missing_facts`: fact, label, role_key, add_url) so the
task page shows HR the date of every figure they would send and a link to add what is missing. Stories and testimonials without `consented: true` do not exist here.

Bounded like the rest of the renderer: at most `MAX_RECORDED` facts of each kind are recorded
(a loop over many facts records the first ones), and every value passes the renderer's output limits.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

MAX_RECORDED = 50
DEFAULT_MAX_AGE_DAYS = 365
TEXT = "text"      # a field holding {"zh": ..., "en": ...}

# The facts document (docs/role-profiles.md): group -> field -> kind; list groups name their items' fields.
# Kinds: "number", "date", "str", "bool", TEXT, or a dict (the fields of each item of a list).
FACT_FIELDS: dict[str, dict[str, Any]] = {
    "salary": {"band_min": "number", "band_max": "number", "currency": "str", "period": "str",
               "change_pct": "number", "change_effective": "date"},
    "path": {"stages": {"key": "str", "name": TEXT, "requirements": TEXT, "typical_months": "number"}},
    "promotion": {"period_months": "number", "rate_pct": "number", "avg_raise_pct": "number",
                  "headcount": "number"},
    "stories": {"items": {"joined": "str", "from_stage": "str", "to_stage": "str", "months": "number",
                          "raise_pct": "number", "text": TEXT, "name": "str"}},
    "mentors": {"senior_mentors_added": "number", "one_on_one": TEXT, "text": TEXT},
    "policies": {"remote_days_per_week": "number", "flexible_hours": "bool", "training_budget": "number",
                 "training_budget_currency": "str", "text": TEXT},
    "testimonials": {"items": {"text": TEXT, "by": TEXT, "photo_url": "str"}},
}
# `role.stories` / `role.testimonials` are their consented items; `role.path` renders the stages.
LIST_GROUPS = {"stories": "items", "testimonials": "items"}
ROLE_ATTRIBUTES = {"key", "title", "has"}

# What the marker calls a fact (the group's label when the field has none).
LABELS: dict[str, tuple[str, str]] = {
    "salary": ("薪资信息", "salary"),
    "salary.band_min": ("薪资范围下限", "salary band (minimum)"),
    "salary.band_max": ("薪资范围上限", "salary band (maximum)"),
    "salary.currency": ("薪资币种", "salary currency"),
    "salary.period": ("薪资周期", "salary period"),
    "salary.change_pct": ("薪资调整幅度", "salary change (percent)"),
    "salary.change_effective": ("薪资调整生效日期", "salary change effective date"),
    "path": ("晋升路径", "promotion path"),
    "path.stages": ("晋升路径的各阶段", "promotion path stages"),
    "promotion": ("晋升数据", "promotion figures"),
    "promotion.period_months": ("晋升统计周期", "promotion figures' period"),
    "promotion.rate_pct": ("晋升比例", "promotion rate"),
    "promotion.avg_raise_pct": ("晋升平均涨薪幅度", "average raise on promotion"),
    "promotion.headcount": ("晋升统计人数", "headcount behind the promotion figures"),
    "stories": ("成长故事(本人已同意公开)", "growth stories (consented)"),
    "mentors": ("导师与团队信息", "mentors and team"),
    "mentors.senior_mentors_added": ("新增资深导师人数", "senior mentors added"),
    "mentors.one_on_one": ("一对一辅导安排", "one-to-one meetings"),
    "mentors.text": ("导师与团队介绍", "mentors and team description"),
    "policies": ("工作政策", "policies"),
    "policies.remote_days_per_week": ("每周远程办公天数", "remote days per week"),
    "policies.flexible_hours": ("弹性工作时间", "flexible hours"),
    "policies.training_budget": ("培训预算", "training budget"),
    "policies.training_budget_currency": ("培训预算币种", "training budget currency"),
    "policies.text": ("工作政策说明", "policies description"),
    "testimonials": ("员工寄语(本人已同意公开)", "testimonials (consented)"),
    "title": ("岗位名称", "role title"),
}
_ITEM = re.compile(r"\[\d+\]")


def fact_label(fact: str, lang: str) -> str:
    """The name HR reads for `fact` ("stories[0].raise_pct" is labelled as its group's field)."""
    plain = _ITEM.sub("", fact)
    label = LABELS.get(plain) or LABELS.get(plain.split(".")[0]) or (plain, plain)
    return label[0] if lang == "zh" else label[1]


def missing_marker(fact: str, lang: str) -> str:
    if lang == "zh":
        return f"【缺少岗位信息:{fact_label(fact, 'zh')} — 请在「岗位档案」中补充】"
    return f"[Missing role fact: {fact_label(fact, 'en')} — please add it under \"Role profiles\"]"


def unknown_part(path: list) -> str | None:
    """For `recall validate`: None if `path` (the attribute names and item indexes after `role`) names a
    fact the document can hold, else the first part it cannot."""
    if not path:
        return None
    head, rest = path[0], list(path[1:])
    if head == "key":
        return None if not rest else str(rest[0])
    if head == "title":
        return None if not rest or rest in (["zh"], ["en"]) else str(rest[-1])
    if head not in FACT_FIELDS:
        return str(head)
    spec: Any = FACT_FIELDS[head]
    if head in LIST_GROUPS:
        if rest[:1] == ["as_of"]:
            return None if len(rest) == 1 else str(rest[1])
        if rest and isinstance(rest[0], int):
            rest = rest[1:]
        spec = spec[LIST_GROUPS[head]]
    elif rest[:1] == ["as_of"]:
        return None if len(rest) == 1 else str(rest[1])
    i = 0
    while i < len(rest):
        part = rest[i]
        if not isinstance(spec, dict) or part not in spec:
            return f"[{part}]" if isinstance(part, int) else str(part)
        spec = spec[part]
        i += 1
        if isinstance(spec, dict) and i < len(rest) and isinstance(rest[i], int):
            i += 1                                  # stages[0]
        elif spec == TEXT and i < len(rest) and rest[i] in ("zh", "en"):
            i += 1
            spec = None                             # nothing below a text's language
        elif not isinstance(spec, dict) and i < len(rest):
            return f"[{rest[i]}]" if isinstance(rest[i], int) else str(rest[i])
    return None


def fact_parts(fact: str) -> list:
    """"stories[0].raise_pct" -> ["stories", 0, "raise_pct"]."""
    return [int(p[1:-1]) if p.startswith("[") else p for p in re.findall(r"\[\d+\]|[^.\[\]]+", fact)]


@dataclass(frozen=True)
class RoleSource:
    """What the archive's provider answers for a case: its role key (None when the case names no role),
    the profile in force (None when there is none; duck-typed: role_key, version, facts, title) and the
    age after which a figure is stale."""
    role_key: str | None
    profile: Any = None
    max_age_days: int = DEFAULT_MAX_AGE_DAYS


@dataclass
class FactLog:
    """What one rendering read: facts used (with dates) and facts missing, in first-read order."""
    used: dict[str, dict] = field(default_factory=dict)
    missing: dict[str, dict] = field(default_factory=dict)


def _number(value):
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _parse_day(value) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


class RoleFacts:
    """`role` in a template; see the module docstring."""

    def __init__(self, source: RoleSource | None, *, lang: str, today: dt.date):
        source = source or RoleSource(None)
        self._source = source
        self._lang = lang
        self._today = today
        self._facts = dict(getattr(source.profile, "facts", None) or {}) if source.profile is not None else {}
        self.log = FactLog()

    # -- what templates call ------------------------------------------------
    @property
    def key(self) -> str:
        return self._source.role_key or ""

    @property
    def title(self):
        title = getattr(self._source.profile, "title", None)
        text = self._text(title) if isinstance(title, dict) else None
        if not text:
            return self._missing("title")
        self._use("title", None)
        return text

    def has(self, fact) -> bool:
        """Whether `fact` ("salary.change_pct", "stories[0]", "path") has a value; records nothing."""
        value = self._lookup(str(fact))
        return value is not None and value != [] and value != ""

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name in LIST_GROUPS:
            return FactList(self, name, self._consented(name))
        group = self._facts.get(name)
        if name == "path":
            return PathFact(self, group) if isinstance(group, dict) and group.get("stages") else self._missing("path")
        if not isinstance(group, dict):
            return self._missing(name)
        return FactNode(self, name, name, group)

    def __str__(self) -> str:
        return str(self.title)

    # -- recording ------------------------------------------------------------
    def _group_of(self, fact: str) -> str:
        return _ITEM.sub("", fact).split(".")[0]

    def _use(self, fact: str, group: str | None) -> None:
        if fact in self.log.used or len(self.log.used) >= MAX_RECORDED:
            return
        profile = self._source.profile
        as_of = _parse_day((self._facts.get(group) or {}).get("as_of")) if group else None
        if as_of is None and profile is not None:
            as_of = getattr(profile, "effective_from", None)
        stale = as_of is not None and (self._today - as_of).days > self._source.max_age_days
        self.log.used[fact] = {
            "fact": fact, "label": {"zh": fact_label(fact, "zh"), "en": fact_label(fact, "en")},
            "as_of": as_of.isoformat() if as_of else None, "stale": stale,
            "profile": (getattr(profile, "label", None) or f"{profile.role_key}@v{profile.version}")
            if profile is not None else None}

    def _missing(self, fact: str) -> MissingFact:
        return MissingFact(self, fact)

    def _record_missing(self, fact: str) -> None:
        if fact in self.log.missing or len(self.log.missing) >= MAX_RECORDED:
            return
        key = self._source.role_key
        self.log.missing[fact] = {"fact": fact, "label": {"zh": fact_label(fact, "zh"), "en": fact_label(fact, "en")},
                                  "role_key": key,
                                  "add_url": f"/app/roles/{key}" if key else "/app/roles"}

    def _text(self, value: dict) -> str:
        text = value.get(self._lang) or value.get("zh") or value.get("en")
        return str(text) if text is not None else ""

    def _consented(self, group: str) -> list:
        items = (self._facts.get(group) or {}).get(LIST_GROUPS[group]) if isinstance(self._facts.get(group), dict) else None
        return [i for i in items or [] if isinstance(i, dict) and i.get("consented") is True]

    def _lookup(self, fact: str):
        """The raw value `fact` names, None when there is none (consent applied)."""
        parts = fact_parts(fact)
        if not parts:
            return None
        head, rest = parts[0], parts[1:]
        if head in LIST_GROUPS:
            value: Any = self._consented(head)
            if rest and rest[0] == "as_of":
                return (self._facts.get(head) or {}).get("as_of") if value else None
        elif head == "title":
            value = getattr(self._source.profile, "title", None)
        else:
            value = self._facts.get(head)
        for part in rest:
            if isinstance(part, int):
                value = value[part] if isinstance(value, list) and -len(value) <= part < len(value) else None
            else:
                value = value.get(part) if isinstance(value, dict) else None
            if value is None:
                return None
        if head == "path" and not rest:
            return value if isinstance(value, dict) and value.get("stages") else None
        return value

    def _value(self, fact: str, group: str, value):
        """A template-facing value: texts in the template's language, dicts and lists wrapped."""
        if isinstance(value, dict):
            if set(value) <= {"zh", "en"} and value:
                self._use(fact, group)
                return self._text(value)
            return FactNode(self, group, fact, value)
        if isinstance(value, list):
            return FactList(self, fact, value, group=group)
        if value is None or value == "":
            return self._missing(fact)
        self._use(fact, group)
        return _number(value)


class FactNode:
    """A group of facts (`role.salary`) or an item (`role.path.stages[0]`); attributes are its fields."""

    def __init__(self, role: RoleFacts, group: str, fact: str, value: dict):
        self._role, self._group, self._fact, self._data = role, group, fact, value

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name == "as_of":
            return self._data.get("as_of") or self._role._missing(f"{self._fact}.as_of")
        return self._role._value(f"{self._fact}.{name}", self._group, self._data.get(name))

    def __getitem__(self, name):
        return self.__getattr__(str(name))

    def __str__(self) -> str:
        text = self._data.get("text")
        if isinstance(text, dict):
            self._role._use(self._fact, self._group)
            return self._role._text(text)
        name = self._data.get("name")
        if isinstance(name, dict):
            self._role._use(f"{self._fact}.name", self._group)
            return self._role._text(name)
        return str(self._role._missing(f"{self._fact}.text"))


class FactList:
    """`role.stories` (consented items only), `role.path.stages`: index, loop, length; an index past the
    end is a missing fact."""

    def __init__(self, role: RoleFacts, fact: str, items: list, *, group: str | None = None):
        self._role, self._fact, self._items, self._group = role, fact, items, group or fact

    def __getitem__(self, index):
        if isinstance(index, int) and -len(self._items) <= index < len(self._items):
            return self._role._value(f"{self._fact}[{index}]", self._group, self._items[index])
        if index == "as_of":
            return self.as_of
        return self._role._missing(f"{self._fact}[{index}]")

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name == "as_of":
            group = self._role._facts.get(self._group) or {}
            return group.get("as_of") if self._items and isinstance(group, dict) and group.get("as_of") \
                else self._role._missing(f"{self._fact}.as_of")
        return self._role._missing(f"{self._fact}.{name}")

    def __iter__(self):
        return (self[i] for i in range(len(self._items)))

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def __str__(self) -> str:
        if not self._items:
            return str(self._role._missing(self._fact))
        return str(self[0])


class PathFact(FactNode):
    """`role.path`: renders as its stages' names joined by arrows."""

    def __init__(self, role: RoleFacts, value: dict):
        super().__init__(role, "path", "path", value)

    def __str__(self) -> str:
        names = []
        for stage in self._data.get("stages") or []:
            name = stage.get("name") if isinstance(stage, dict) else None
            text = self._role._text(name) if isinstance(name, dict) else (str(name) if name else "")
            if text:
                names.append(text)
        if not names:
            return str(self._role._missing("path.stages"))
        self._role._use("path", "path")
        return " → ".join(names)


class MissingFact:
    """A fact the profile does not hold: renders the marker (and is recorded as missing then); any field
    of it is missing too; false in a test; no value to compare or count."""

    def __init__(self, role: RoleFacts, fact: str):
        self._role, self._fact = role, fact

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return MissingFact(self._role, f"{self._fact}.{name}")

    def __getitem__(self, index):
        suffix = f"[{index}]" if isinstance(index, int) else f".{index}"
        return MissingFact(self._role, f"{self._fact}{suffix}")

    def __iter__(self):
        return iter(())

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return False

    def __str__(self) -> str:
        self._role._record_missing(self._fact)
        return missing_marker(self._fact, self._role._lang)


def _chain(node, aliases: dict | None = None) -> list | None:
    """["salary", "change_pct"] for the expression `role.salary.change_pct`, None if not rooted at `role`
    (or at a name `aliases` maps to a role expression: a loop variable, a `set`)."""
    from jinja2 import nodes
    parts: list = []
    while isinstance(node, (nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
        else:
            arg = node.arg
            parts.append(arg.value if isinstance(arg, nodes.Const) and isinstance(arg.value, (int, str)) else 0)
        node = node.node
    if isinstance(node, nodes.Name) and node.name == "role" and parts:
        return parts[::-1]
    if isinstance(node, nodes.Name) and aliases and node.name in aliases and parts:
        return aliases[node.name] + parts[::-1]
    return None


def _aliases(template_ast) -> dict[str, list]:
    """Names bound once to a role expression: `{% for s in role.path.stages %}` (s is an item: [..., 0]),
    `{% set pay = role.salary %}`. A name bound more than once is left alone (no false alarms)."""
    from jinja2 import nodes
    found: dict[str, list | None] = {}
    for node in template_ast.find_all((nodes.For, nodes.Assign)):
        target = node.target
        if not isinstance(target, nodes.Name):
            continue
        source = node.iter if isinstance(node, nodes.For) else node.node
        chain = _chain(source, {k: v for k, v in found.items() if v is not None})
        if chain is not None and isinstance(node, nodes.For):
            chain = chain + [0]
        found[target.name] = None if target.name in found else chain
    return {name: chain for name, chain in found.items() if chain is not None}


def unknown_facts(template_ast) -> list[tuple[int, str]]:
    """(line, problem) for each `role.…` expression or `role.has("…")` naming a fact no role profile can
    hold (a misspelt `role.salary.chnage_pct`, also through a loop variable or a `set`), for `recall validate`."""
    from jinja2 import nodes
    aliases = _aliases(template_ast)
    problems: dict[tuple[int, str], str] = {}
    for node in template_ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Call)):
        if isinstance(node, nodes.Call):
            if _chain(node.node) == ["has"] and node.args and isinstance(node.args[0], nodes.Const):
                fact = str(node.args[0].value)
                part = unknown_part(fact_parts(fact))
                if part is not None:
                    problems.setdefault((node.lineno, fact), f"role.has({fact!r}): no role profile defines "
                                        f"{part!r} (the facts are listed in docs/role-profiles.md)")
            continue
        chain = _chain(node, aliases)
        if chain is None or chain[0] == "has":
            continue
        part = unknown_part(chain)
        if part is not None:
            fact = ".".join(f"[{p}]" if isinstance(p, int) else p for p in chain).replace(".[", "[")
            problems.setdefault((node.lineno, part), f"role.{fact}: no role profile defines {part!r} "
                                f"(the facts are listed in docs/role-profiles.md)")
    return [(line, message) for (line, _), message in sorted(problems.items(), key=lambda kv: kv[0][0])]
