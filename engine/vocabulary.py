"""The process owner's vocabulary: decline reasons, the follow-up cadence and the element roles.

Declared once in `workflows/vocabulary.json` (process-owner data, like the diagrams and
templates), validated with the bundle against the BPMN, forms, the follow-up template
decision and the templates (`check`), deployed with every definition version (column
`process_definitions.vocabulary_json`) and served at `GET /api/v1/vocabulary`. Nothing outside
the bundle names a reason, a stage or an element the archive reads: the decline API, history,
funnel, search, consent, the workspace inbox, the web app, `recall demo` and the workflow tests
all read it from here, so a process owner's change reaches the whole product with no code change.

- reasons: key and labels (zh, en);
- stages: key, labels, the follow-up user task and the timer that raises it (the order is the
  cadence's; a follow-up is due when its timer was due);
- roles: element ids by what the archive reads them for (`consent_tasks`, `reoffer_sent`, ...);
- messages: message names by role (`reply`, `from_candidate`, ...).
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterable

from sqlalchemy import func, select

from .models import ProcessDefinition

FILE_NAME = "vocabulary.json"
LANGUAGES = ("zh", "en")
KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
# role -> what the archive reads it for (a role not listed here is refused: a typo would hide)
ROLES = {
    "decline_archive": "the user task confirming the decline (its reason is the one the funnel counts)",
    "consent_tasks": "user tasks whose answer records the talent-pool consent",
    "reply_assessment": "the user task assessing a reply (outcome interested: the funnel's 'interested')",
    "signal_reaction": "the user task reacting to a candidate signal (a message sent, stage 'signal')",
    "manager_contact": "the hiring manager's contact task (a message sent, stage 'handoff')",
    "contact_taken_back": "HR's contact task when the manager did not call (stage 'handoff')",
    "reoffer_sent": "the user task sending the re-offer (stage 'reoffer', the funnel's 're-offered')",
    "start_date": "the timer of the start date (a hire)",
    "end_retained": "end events meaning probation passed",
    "end_left": "end events meaning the employee left",
    "end_left_early": "end events meaning the employee left before the end of probation",
}
USER_TASK_ROLES = {"decline_archive", "consent_tasks", "reply_assessment", "signal_reaction", "manager_contact",
                   "contact_taken_back", "reoffer_sent"}
MESSAGE_ROLES = {
    "reply": "the candidate's reply to a follow-up",
    "offer_answer": "the candidate's answer to a re-offer (decision accepted/declined)",
    "employee_left": "the HR system's notice that the employee left",
    "from_candidate": "messages and signals from the candidate shown in their message history",
}
SENT_STAGES = {"signal_reaction": "signal", "manager_contact": "handoff", "contact_taken_back": "handoff",
               "reoffer_sent": "reoffer"}


# The product's own words, the same for every bundle: what the history of a case says happened
# (audit kinds, engine and archive) and the groups people work in. Served by GET /vocabulary beside
# the deployed words so that no page shows a code.
HISTORY_KINDS = {
    "instance_started": ("案件开始", "Case started"), "instance_completed": ("案件结束", "Case ended"),
    "instance_cancelled": ("案件取消", "Case cancelled"), "instance_error": ("出错", "Error"),
    "instance_retried": ("重试", "Retried"), "instance_repaired": ("已修复", "Repaired"),
    "task_completed": ("任务完成", "Task completed"), "task_claimed": ("任务认领", "Task claimed"),
    "task_released": ("任务释放", "Task released"), "task_reassigned": ("任务转交", "Task reassigned"),
    "element_completed": ("步骤完成", "Step done"), "timer_fired": ("定时器到期", "Timer fired"),
    "message_delivered": ("收到消息", "Message received"), "message_buffered": ("消息暂存", "Message held"),
    "message_expired": ("消息过期", "Message expired"), "message_replayed": ("重复消息", "Message repeated"),
    "incident": ("故障", "Incident"), "stalled": ("停滞", "Stalled"),
    "definition_deployed": ("流程发布", "Process deployed"),
    "instance_migrated": ("迁移到新版本", "Moved to a new version"),
    "studio_draft_created": ("新建草稿", "Draft created"), "studio_draft_saved": ("保存草稿", "Draft saved"),
    "studio_draft_deleted": ("删除草稿", "Draft deleted"),
    "candidate_created": ("建立候选人档案", "Candidate created"),
    "candidate_changed": ("修改候选人档案", "Candidate changed"),
    "candidate_merged": ("合并候选人档案", "Records merged"),
    "import_checked": ("检查导入文件", "Import checked"), "import_confirmed": ("确认导入", "Import confirmed"),
    "import_finished": ("导入完成", "Import finished"), "import_discarded": ("放弃导入", "Import discarded"),
    "ranking_pinned": ("置顶优先联系", "Pinned: call first"), "ranking_unpinned": ("取消置顶", "Unpinned"),
    "ranking_scorecard_changed": ("修改召回评分卡", "Recall scorecard changed"),
    "ranking_model_trained": ("训练召回模型", "Recall model trained"),
    "decline_recorded": ("记录未到岗", "Decline recorded"), "decline_changed": ("修改未到岗记录", "Decline changed"),
    "signal_recorded": ("记录新动态", "Signal recorded"), "contact_viewed": ("查看联系方式", "Contact viewed"),
    "consent_changed": ("授权变更", "Consent changed"), "consent_lapsed": ("授权过期", "Consent lapsed"),
    "consent_renewal_requested": ("请求续期授权", "Consent renewal requested"),
    "erasure_pending": ("待删除", "Erasure pending"), "erasure_completed": ("已删除个人信息", "Erasure completed"),
    "data_erased": ("个人信息已删除", "Data erased"),
    "signed_in": ("登录", "Signed in"), "signed_out": ("退出登录", "Signed out"),
    "signin_failed": ("登录失败", "Sign-in failed"), "signin_locked": ("登录已锁定", "Sign-in locked"),
    "password_changed": ("修改密码", "Password changed"),
    "token_created": ("新建 API 令牌", "API token created"), "token_revoked": ("吊销 API 令牌", "API token revoked"),
    "webhook_created": ("新建 Webhook", "Webhook created"), "webhook_changed": ("修改 Webhook", "Webhook changed"),
    "webhook_enabled": ("启用 Webhook", "Webhook enabled"), "webhook_disabled": ("停用 Webhook", "Webhook disabled"),
    "webhook_deleted": ("删除 Webhook", "Webhook deleted"),
    "webhook_redelivered": ("重新推送 Webhook", "Webhook redelivered"),
    "notification_queued": ("已通知员工", "Employee notified"),
    "notification_skipped": ("无法通知员工", "Employee could not be notified"),
    "notification_digest_queued": ("已发送每日汇总", "Daily summary sent"),
    "notification_digest_dropped": ("每日汇总未发送", "Daily summary not sent"),
    "notification_preferences_changed": ("通知设置已修改", "Notification settings changed"),
    "connector_http_queued": ("已排队 HTTP 调用", "HTTP call queued"),
    "email_received": ("收到邮件", "Email received"), "email_assigned": ("邮件已归属候选人", "Email assigned"),
    "email_address_failing": ("邮箱地址无法送达", "Email address failing"),
    "channel_send_bounced": ("邮件被退回", "Email bounced"),
    "channel_send_requested": ("消息已确认，排队发送", "Message confirmed, queued to send"),
    "channel_send_awaiting": ("通过企业微信发送，等待确认", "Sent via WeCom, awaiting confirmation"),
    "channel_send_sent": ("消息已发出", "Message sent"), "channel_send_failed": ("消息发送失败", "Message failed"),
    "channel_send_cancelled": ("消息已取消", "Message cancelled"),
    "channel_send_retrying": ("发送暂时失败，将重试", "Send failed for now, retrying"),
    "channel_send_retried": ("消息重新发送", "Message sent again"),
    "channel_sends_recorded": ("发送结果已记入任务", "Sends recorded with the task"),
    "channel_settings_changed": ("修改渠道设置", "Channel settings changed"),
    "channel_tested": ("测试渠道连接", "Channel connection tested"),
    "secrets_rotated": ("渠道密钥已轮换", "Channel secrets re-sealed"),
    "wecom_contact_added": ("企业微信联系人已添加", "WeCom contact added"),
    "wecom_contact_removed": ("企业微信联系人已删除", "WeCom contact removed"),
    "wecom_contact_linked": ("企业微信联系人已关联候选人", "WeCom contact linked to the candidate"),
    "wecom_callback_refused": ("拒绝企业微信回调", "WeCom callback refused"),
    "role_profile_saved": ("岗位档案已保存", "Role profile saved"),
    "role_aliases_changed": ("岗位别名已修改", "Role aliases changed"),
    "role_open_positions_changed": ("岗位空缺数已修改", "Open positions changed"),
    "role_profiles_imported": ("岗位档案已导入", "Role profiles imported"),
    "candidate_link_issued": ("已生成候选人页面链接", "Candidate page link issued"),
    "candidate_link_revoked": ("候选人页面链接已停用", "Candidate page link revoked"),
    "candidate_link_viewed": ("候选人打开了页面", "Candidate opened the page"),
    "candidate_link_replied": ("候选人在页面上表示想聊聊", "Candidate asked to talk from the page"),
}
GROUPS = {
    "hr": ("人力资源", "HR"), "hiring_manager": ("用人部门经理", "Hiring manager"), "hrbp": ("HRBP", "HRBP"),
}


def split_name(name: str | None, key: str) -> tuple[str, str]:
    """A BPMN name written "中文 / English" as (zh, en); a name in one language (or none: the key) for both."""
    zh, sep, en = (name or key).partition(" / ")
    return (zh.strip(), en.strip()) if sep else (zh.strip(), zh.strip())


@dataclass(frozen=True)
class Term:
    """A reason or a stage: its key and its labels."""

    key: str
    zh: str
    en: str

    def label(self, lang: str) -> str:
        return self.en if lang == "en" else self.zh


@dataclass(frozen=True)
class Stage(Term):
    task: str = ""       # the follow-up user task of this stage
    timer: str = ""      # the timer that raises it (its due time is the follow-up's)


@dataclass(frozen=True)
class Vocabulary:
    process: str | None = None
    template_decision: str | None = None
    reasons: tuple[Term, ...] = ()
    stages: tuple[Stage, ...] = ()
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    messages: dict[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    @property
    def reason_keys(self) -> tuple[str, ...]:
        return tuple(r.key for r in self.reasons)

    @property
    def stage_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.stages)

    def role(self, name: str) -> tuple[str, ...]:
        return self.roles.get(name, ())

    def message(self, name: str) -> tuple[str, ...]:
        return self.messages.get(name, ())

    def reason(self, key: str | None) -> Term | None:
        return next((r for r in self.reasons if r.key == key), None)

    def stage_of_task(self, element_id: str | None) -> Stage | None:
        return next((s for s in self.stages if s.task == element_id), None)

    @property
    def follow_up_tasks(self) -> tuple[str, ...]:
        return tuple(s.task for s in self.stages)

    @property
    def follow_up_timers(self) -> tuple[str, ...]:
        return tuple(s.timer for s in self.stages)

    def sent_stage(self, element_id: str | None) -> str | None:
        """The stage of a message sent by completing `element_id`: a cadence stage, or the stage
        of a role that contacts the candidate (signal, handoff, reoffer); None otherwise."""
        stage = self.stage_of_task(element_id)
        if stage is not None:
            return stage.key
        return next((sent for role, sent in SENT_STAGES.items() if element_id in self.role(role)), None)

    def as_dict(self) -> dict:
        return {"process": self.process, "template_decision": self.template_decision,
                "decline_reasons": [{"key": r.key, "zh": r.zh, "en": r.en} for r in self.reasons],
                "stages": [{"key": s.key, "zh": s.zh, "en": s.en, "task": s.task, "timer": s.timer}
                           for s in self.stages],
                "roles": {k: list(v) for k, v in self.roles.items()},
                "messages": {k: list(v) for k, v in self.messages.items()}}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def merged(cls, many: Iterable["Vocabulary"]) -> "Vocabulary":
        """Every version's words together, the later ones' labels first: for reads over cases of
        any version (history, funnel, search), where an old case may sit at a stage since removed."""
        many = list(many)
        if len(many) == 1:
            return many[0]
        reasons: dict[str, Term] = {}
        stages: dict[str, Stage] = {}
        roles: dict[str, tuple[str, ...]] = {}
        messages: dict[str, tuple[str, ...]] = {}
        for vocabulary in many:                      # later versions come last and win
            reasons.update((r.key, r) for r in vocabulary.reasons)
            stages.update((s.task, s) for s in vocabulary.stages)
            for target, source in ((roles, vocabulary.roles), (messages, vocabulary.messages)):
                for name, ids in source.items():
                    target[name] = tuple(dict.fromkeys((*target.get(name, ()), *ids)))
        last = many[-1] if many else cls()
        return cls(last.process, last.template_decision, tuple(reasons.values()), tuple(stages.values()),
                   roles, messages)


EMPTY = Vocabulary()


# ---------------------------------------------------------------- reading
def _line(text: str, needle: str) -> int | None:
    at = text.find(needle)
    return text.count("\n", 0, at) + 1 if at >= 0 else None


def _terms(value, what: str) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise ValueError(f"{what} must be a list of objects")
    return value


def parse(data: dict) -> tuple[Vocabulary, list[tuple[str | None, str]]]:
    """The vocabulary of a decoded file and its problems as (key, message); raises ValueError when
    its shape is wrong throughout."""
    if not isinstance(data, dict):
        raise ValueError("the file must contain a JSON object")
    problems: list[tuple[str | None, str]] = []
    for name in ("process", "template_decision"):
        if not isinstance(data.get(name), str) or not data[name]:
            problems.append((None, f"{name!r} must name the {'recall process' if name == 'process' else 'follow-up template decision'}"))
    reasons, stages = [], []
    for what, target in (("decline_reasons", reasons), ("stages", stages)):
        seen: set[str] = set()
        for entry in _terms(data.get(what), what):
            key = entry.get("key")
            if not isinstance(key, str) or not KEY.fullmatch(key):
                problems.append((str(key), f"{what}: key {key!r} must be lower case letters, digits and _"))
                continue
            if key in seen:
                problems.append((key, f"{what}: {key!r} is declared twice"))
            seen.add(key)
            for lang in LANGUAGES:
                if not isinstance(entry.get(lang), str) or not entry[lang].strip():
                    problems.append((key, f"{what}: {key!r} needs a {lang} label"))
            extra = set(entry) - {"key", *LANGUAGES, *(("task", "timer") if what == "stages" else ())}
            if extra:
                problems.append((key, f"{what}: {key!r} has unknown fields {sorted(extra)}"))
            if what == "stages":
                for part in ("task", "timer"):
                    if not isinstance(entry.get(part), str) or not entry[part]:
                        problems.append((key, f"stage {key!r} must name its follow-up {part} ({part!r})"))
                target.append(Stage(key, str(entry.get("zh", "")), str(entry.get("en", "")),
                                    str(entry.get("task", "")), str(entry.get("timer", ""))))
            else:
                target.append(Term(key, str(entry.get("zh", "")), str(entry.get("en", ""))))
    if not reasons:
        problems.append((None, "declare at least one decline reason"))
    groups = {}
    for what, known in (("roles", ROLES), ("messages", MESSAGE_ROLES)):
        value = data.get(what, {})
        if not isinstance(value, dict):
            raise ValueError(f"{what} must be an object of lists of ids")
        groups[what] = {}
        for name, ids in value.items():
            if name not in known:
                problems.append((name, f"{what}: unknown role {name!r} (known: {', '.join(sorted(known))})"))
                continue
            if not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids):
                problems.append((name, f"{what}: {name!r} must be a list of ids"))
                continue
            groups[what][name] = tuple(ids)
    extra = set(data) - {"description", "process", "template_decision", "decline_reasons", "stages", "roles",
                         "messages"}
    if extra:
        problems.append((None, f"unknown fields {sorted(extra)}"))
    return Vocabulary(data.get("process"), data.get("template_decision"), tuple(reasons), tuple(stages),
                      groups["roles"], groups["messages"]), problems


def read(text: str) -> tuple[Vocabulary | None, list[tuple[int | None, str | None, str]]]:
    """Parse the file's text: (vocabulary or None, [(line, key, message)])."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        return None, [(e.lineno, None, f"not valid JSON: {e.msg} (column {e.colno})")]
    try:
        vocabulary, problems = parse(data)
    except ValueError as e:
        return None, [(1, None, str(e))]
    return vocabulary, [(_line(text, f'"{key}"') if key else 1, key, message) for key, message in problems]


@lru_cache(maxsize=64)
def from_json(text: str | None) -> Vocabulary:
    """A deployed vocabulary (validated when it was deployed); EMPTY for a version without one.
    Cached on the text: the same few versions are read on every request that needs them."""
    if not text:
        return EMPTY
    return parse(json.loads(text))[0]


# ---------------------------------------------------------------- checks against the bundle
@dataclass
class BundleFacts:
    """What `check` compares the vocabulary with, as `engine.bundle` read it."""

    elements: dict[str, tuple[str, str, int | None]]     # element id -> (file, BPMN tag, line)
    timers: set[str]                                      # ids of events with a timer definition
    message_names: set[str]
    forms: dict[str, dict]
    forms_label: str
    decisions: dict[str, tuple[str, object]]              # decision id -> (file, lxml decision element)
    templates: dict[str, str]                             # "<lang>/<template id>" -> source
    template_languages: tuple[str, ...] = LANGUAGES


Problem = tuple[str, int | None, str | None, str]          # (file, line, element id, message)


def check(vocabulary: Vocabulary, text: str, label: str, facts: BundleFacts) -> list[Problem]:
    """Where the vocabulary and the bundle disagree, each problem naming the file and element."""
    out: list[Problem] = []

    def here(key: str | None, message: str) -> None:
        out.append((label, _line(text, f'"{key}"') if key else 1, key, message))

    def element(eid: str, tags: set[str], what: str, key: str) -> None:
        found = facts.elements.get(eid)
        if found is None:
            here(key, f"{what} {eid!r} is not an element of any diagram in the bundle")
        elif found[1] not in tags:
            here(key, f"{what} {eid!r} is a bpmn:{found[1]} in {found[0]}, not a {' or '.join(sorted(tags))}")

    for stage in vocabulary.stages:
        element(stage.task, {"userTask"}, f"stage {stage.key!r}: task", stage.key)
        if stage.timer not in facts.timers:
            here(stage.key, f"stage {stage.key!r}: timer {stage.timer!r} is not a timer event of any diagram "
                 "in the bundle")
    for role, ids in vocabulary.roles.items():
        for eid in ids:
            if role in USER_TASK_ROLES:
                element(eid, {"userTask"}, f"role {role}:", role)
            elif eid not in facts.elements:
                here(role, f"role {role}: {eid!r} is not an element of any diagram in the bundle")
    for role, names in vocabulary.messages.items():
        for name in names:
            if name not in facts.message_names:
                here(role, f"messages {role}: {name!r} is not a message or signal of any diagram in the bundle")
    out.extend(_check_forms(vocabulary, facts))
    out.extend(_check_decision(vocabulary, text, label, facts))
    return out


def _check_forms(vocabulary: Vocabulary, facts: BundleFacts) -> list[Problem]:
    """Every form field `decline_reason` offers exactly the declared reasons, and its uischema
    names them with the declared labels ("zh / en") in the form's order."""
    out: list[Problem] = []
    declared = vocabulary.reason_keys
    for name, schema in sorted(facts.forms.items()):
        field_ = ((schema.get("properties") or {}).get("decline_reason") or {}) if isinstance(schema, dict) else {}
        enum = field_.get("enum")
        if not isinstance(enum, list) or name.endswith(".uischema.json"):
            continue
        where = f"{facts.forms_label}/{name}"
        missing = [k for k in declared if k not in enum]
        extra = [k for k in enum if k not in declared]
        if missing:
            out.append((where, None, "decline_reason", f"the enum lacks {', '.join(map(repr, missing))} "
                        f"declared in {FILE_NAME}"))
        if extra:
            out.append((where, None, "decline_reason", f"the enum offers {', '.join(map(repr, extra))}, "
                        f"which {FILE_NAME} does not declare"))
        ui_name = name.replace(".schema.json", ".uischema.json")
        names = ((facts.forms.get(ui_name) or {}).get("decline_reason") or {}).get("ui:enumNames")
        if isinstance(names, list):
            expected = [f"{r.zh} / {r.en}" if r else repr(k) for k, r in ((k, vocabulary.reason(k)) for k in enum)]
            if names != expected:
                out.append((f"{facts.forms_label}/{ui_name}", None, "decline_reason",
                            f"ui:enumNames must be the labels of {FILE_NAME} in the enum's order: {expected}"))
    return out


def _literals(text: str | None):
    """The strings an input entry or value list matches; None: anything ('-'); ...: not literal."""
    source = (text or "").strip()
    if source in ("", "-"):
        return None
    try:
        value = ast.literal_eval(source)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return ...
    if isinstance(value, str):
        return {value}
    if isinstance(value, tuple) and all(isinstance(v, str) for v in value):
        return set(value)
    return ...


class TemplateDecision:
    """The follow-up template decision table read as SpiffWorkflow runs it (hit policy FIRST): which
    template it picks for a reason at a stage. An entry that is not a literal ('-' or a list of
    strings) is taken to match, so the checks never refuse what they cannot evaluate."""

    def __init__(self, decision):
        self.decision = decision
        self.ns = {"dmn": decision.tag.split("}")[0][1:]}
        self.table = decision.find("dmn:decisionTable", self.ns)
        self.columns: dict[str, tuple[int, object]] = {}
        self.rules: list[tuple[object, list, object]] = []
        if self.table is None:
            return
        for i, column in enumerate(self.table.findall("dmn:input", self.ns)):
            self.columns[(column.findtext("dmn:inputExpression/dmn:text", "", self.ns) or "").strip()] = (i, column)
        for rule in self.table.findall("dmn:rule", self.ns):
            entries = [_literals(e.findtext("dmn:text", "", self.ns)) for e in rule.findall("dmn:inputEntry", self.ns)]
            self.rules.append((rule, entries, _literals(rule.findtext("dmn:outputEntry/dmn:text", "", self.ns))))

    def input_values(self, name: str):
        """(the inputValues element, its literal values or None) of input `name`."""
        values_el = self.columns[name][1].find("dmn:inputValues/dmn:text", self.ns)
        return values_el, (_literals(values_el.text) if values_el is not None else None)

    def pick(self, reason: str, stage: str):
        """(the first rule matching, the template id it outputs or None if not a literal); None: no rule."""
        r_i, s_i = self.columns["decline_reason"][0], self.columns["stage"][0]
        for rule, entries, output in self.rules:
            if all(m is None or m is ... or value in m
                   for m, value in ((entries[r_i] if r_i < len(entries) else None, reason),
                                    (entries[s_i] if s_i < len(entries) else None, stage))):
                template = next(iter(output)) if isinstance(output, set) and len(output) == 1 else None
                return rule, template
        return None


def _check_decision(vocabulary: Vocabulary, text: str, label: str, facts: BundleFacts) -> list[Problem]:
    """The follow-up template decision picks a template for every reason at every stage, and each
    template it picks exists in every language."""
    found = facts.decisions.get(vocabulary.template_decision or "")
    if found is None:
        return [(label, _line(text, '"template_decision"'), vocabulary.template_decision,
                 f"template_decision {vocabulary.template_decision!r} is not a decision of any DMN file in the bundle")]
    file, decision = found
    table = TemplateDecision(decision)
    if table.table is None:
        return []                                   # reported by the DMN checks
    out: list[Problem] = []
    for needed in ("decline_reason", "stage"):
        if needed not in table.columns:
            out.append((file, decision.sourceline, decision.get("id"), f"the decision has no input {needed!r}: it "
                        f"must pick the template from the decline reason and the stage ({FILE_NAME})"))
    if out:
        return out
    for needed, keys in (("decline_reason", vocabulary.reason_keys), ("stage", vocabulary.stage_keys)):
        values_el, values = table.input_values(needed)
        column_id = table.columns[needed][1].get("id")
        if isinstance(values, set):
            missing = [k for k in keys if k not in values]
            extra = sorted(values - set(keys))
            if missing:
                out.append((file, values_el.sourceline, column_id,
                            f"input values of {needed} lack {', '.join(map(repr, missing))} declared in {FILE_NAME}"))
            if extra:
                out.append((file, values_el.sourceline, column_id, f"input values of {needed} name "
                            f"{', '.join(map(repr, extra))}, which {FILE_NAME} does not declare"))
    missing_templates: dict[tuple[str, str], object] = {}
    for stage in vocabulary.stage_keys:
        uncovered = []
        for reason in vocabulary.reason_keys:
            hit = table.pick(reason, stage)
            if hit is None:
                uncovered.append(reason)
            elif hit[1] is not None:
                for lang in facts.template_languages:
                    if f"{lang}/{hit[1]}" not in facts.templates:
                        missing_templates.setdefault((lang, hit[1]), hit[0])
        if uncovered:
            out.append((file, table.table.sourceline, decision.get("id"), f"no rule picks a template for stage "
                        f"{stage!r} and reason{'s' if len(uncovered) > 1 else ''} {', '.join(map(repr, uncovered))}"))
    for (lang, template), rule in sorted(missing_templates.items(), key=lambda kv: kv[0]):
        out.append((file, rule.sourceline, rule.get("id"), f"rule picks template {template!r}, which has no "
                    f"{lang} template (templates/{lang}/{template}.j2)"))
    return out


# ---------------------------------------------------------------- the deployed vocabulary
def deployed(session, process_key: str) -> Vocabulary:
    """The vocabulary of the newest deployed version of `process_key` (what new cases run on);
    EMPTY when nothing is deployed. One small indexed query."""
    text = session.scalar(select(ProcessDefinition.vocabulary_json)
                          .where(ProcessDefinition.process_key == process_key)
                          .order_by(ProcessDefinition.version.desc()).limit(1))
    return from_json(text)


def known(session) -> Vocabulary:
    """Every deployed version's vocabulary merged (newest last): for reads over cases of any
    version — an old case may wait at a stage a later version removed or renamed."""
    rows = session.execute(select(ProcessDefinition.vocabulary_json, func.max(ProcessDefinition.id).label("last"))
                           .where(ProcessDefinition.vocabulary_json.is_not(None))
                           .group_by(ProcessDefinition.vocabulary_json).order_by("last")).all()
    return Vocabulary.merged(from_json(text) for text, _ in rows) if rows else EMPTY
