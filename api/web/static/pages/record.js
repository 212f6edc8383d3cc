// What HR (or an admin) records for a candidate from their page, so no integrator or curl is needed:
// a reply, an offer answer given by phone, new-hire feedback, that the employee left — the same
// POST /messages an integrator uses, correlated on the candidate — and a signal
// (POST /candidates/{id}/signals). The server audits each as the signed-in person.
import { ApiError, get, request } from "../api.js";
import { clear, h, uid } from "../dom.js";
import { SchemaForm } from "../form.js";
import { CHANNELS, pick, t } from "../i18n.js";
import { setDirty } from "../keep.js";
import { errorMessage, render, state, toast, updateClock } from "../ui.js";

const both = (map) => Object.values(map).map(([zh, en]) => `${zh} / ${en}`);
const channel = () => ({ type: "string", title: "渠道 / Channel", enum: Object.keys(CHANNELS) });
const SIGNAL_KINDS = {
  open_to_work: ["愿意重新考虑工作机会", "Open to work again"],
  family_resolved: ["家庭情况已解决", "Family situation resolved"],
  left_new_job: ["已离开新工作", "Left the new job"],
  other: ["其他", "Other"],
};

// Each action: the form (titles "中文 / English", as the task forms) and where it goes.
const ACTIONS = {
  candidate_replied: {
    schema: () => ({ type: "object", required: ["text", "replied_at"], properties: {
      text: { type: "string", title: "候选人的回复 / What the candidate said" }, channel: channel(),
      replied_at: { type: "string", format: "date-time", title: "回复时间 / When they replied",
        description: "默认为现在,不能晚于现在。 / Now unless you change it; not in the future." } } }),
    ui: () => ({ text: { "ui:widget": "textarea", "ui:options": { rows: 3 } }, channel: { "ui:enumNames": both(CHANNELS) } }),
    moment: "replied_at",
  },
  offer_response: {
    schema: () => ({ type: "object", required: ["decision"], properties: {
      decision: { type: "string", title: "候选人的决定 / The candidate's decision", enum: ["accepted", "declined"] },
      note: { type: "string", title: "备注 / Note" } } }),
    ui: () => ({ decision: { "ui:widget": "radio", "ui:enumNames": ["接受 / Accepted", "拒绝 / Declined"] },
      note: { "ui:widget": "textarea", "ui:options": { rows: 2 } } }),
  },
  new_hire_feedback: {
    schema: () => ({ type: "object", required: ["text"], properties: {
      text: { type: "string", title: "新员工的反馈 / The new hire's feedback" }, channel: channel() } }),
    ui: () => ({ text: { "ui:widget": "textarea", "ui:options": { rows: 3 } }, channel: { "ui:enumNames": both(CHANNELS) } }),
  },
  employee_left: {
    schema: () => ({ type: "object", properties: {
      reason: { type: "string", title: "离职原因 / Why they left" },
      last_day: { type: "string", format: "date", title: "最后工作日 / Last day" } } }),
    ui: () => ({ reason: { "ui:widget": "textarea", "ui:options": { rows: 2 } } }),
  },
  signal: {
    schema: () => ({ type: "object", required: ["kind"], properties: {
      kind: { type: "string", title: "动态 / Signal", enum: Object.keys(SIGNAL_KINDS) },
      text: { type: "string", title: "说明 / Note" },
      source: { type: "string", title: "来源 / Source", description: "例如:企业微信、领英、内推。 / E.g. WeCom, LinkedIn, a referral." },
      consent_noted: { type: "boolean", title: "候选人同意我们再联系 / The candidate agrees to be contacted" } } }),
    ui: () => ({ kind: { "ui:enumNames": both(SIGNAL_KINDS) }, text: { "ui:widget": "textarea", "ui:options": { rows: 2 } } }),
  },
};

// signals the product records itself (not offered in the form above)
const RECORDED_SIGNALS = {
  growth_page_viewed: ["查看了岗位成长页", "Viewed the growth page"],
  page_talk_requested: ["在页面上表示想聊聊", "Asked to talk from a page"],
};

export function signalKindLabel(kind) {
  const known = SIGNAL_KINDS[kind] || RECORDED_SIGNALS[kind];
  return known ? pick(known.join(" / ")) : kind;
}

function newKey() {
  return `web-record-${window.crypto && crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`}`;
}

// "2026-07-05T17:03" (a datetime-local input, this browser's zone) <-> an instant with its offset
const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
function toLocalInput(iso) {
  const d = new Date(iso);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
function withOffset(d) {
  const minutes = -d.getTimezoneOffset();
  return `${toLocalInput(d)}:${pad(d.getSeconds())}${minutes >= 0 ? "+" : "-"}${pad(minutes / 60)}:${pad(minutes % 60)}`;
}

/** The "record what the candidate did" card: every action for HR and admins on a candidate's page;
 * `kinds` narrows it (a hiring manager records the replies of their hand-off's candidate); `preset`
 * opens one action's form at once (the case page's "record the candidate's reply"). */
export function recordSection(c, { kinds, preset } = {}) {
  const allowed = kinds || (["hr", "admin"].includes(state.me.role) ? Object.keys(ACTIONS) : []);
  if (!allowed.length) return null;
  const section = h("section", { class: "card wide", "aria-labelledby": "record-title", id: "record" },
    h("h2", { id: "record-title", tabindex: "-1" }, t("record_title")), h("p", { class: "hint" }, t("record_intro")));
  const choiceId = uid("what");
  const choice = h("select", { id: choiceId, name: "what" }, h("option", { value: "" }, t("choose")),
    allowed.map((k) => h("option", { value: k }, t(`record_${k}`))));
  const slot = h("div", {});
  section.append(h("div", { class: "field" }, h("label", { for: choiceId }, t("record_what")), choice), slot);
  let shown = 0;
  const show = async () => {
    const seq = ++shown;
    clear(slot);
    if (!choice.value) return;
    const spec = ACTIONS[choice.value];
    // "now" is the service's (a simulated clock in tests and demos), asked when the form opens
    const now = spec.moment ? ((await get("/workspace/me").catch(() => null)) || {}).now || new Date().toISOString() : null;
    if (now) updateClock(now);
    if (seq === shown) slot.append(actionForm(c, choice.value, now));
  };
  choice.addEventListener("change", show);
  if (preset && allowed.includes(preset)) {
    choice.value = preset;
    show();
    document.addEventListener("recall:rendered", () => document.getElementById("record-title")?.focus(), { once: true });
  }
  return section;
}

function actionForm(c, action, now) {
  const spec = ACTIONS[action];
  const form = new SchemaForm(spec.schema(), spec.ui(), spec.moment ? { [spec.moment]: toLocalInput(now) } : {},
    { idPrefix: `rec-${action}` });
  const status = h("div", { class: "form-status", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary", id: "record-submit" }, t("record_submit"));
  const formEl = h("form", { novalidate: true, class: "record-form", "data-action": action }, form.element, status,
    h("div", { class: "actions" }, submit));
  // one key per filled-in form: a double click or a retry after a lost answer records it once
  const key = newKey();
  let busy = false;
  formEl.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (busy) return;
    busy = true;
    clear(status);
    form.clearErrors();
    submit.disabled = true;
    try {
      const value = form.value() || {};
      // the messages declare no required payload field, so an empty reply would be accepted: say so here
      const missing = (spec.schema().required || []).filter((name) => value[name] === undefined || String(value[name]).trim() === "");
      if (missing.length) {
        form.showErrors(missing.map((field) => ({ field, message: "Missing data for required field." })));
        return;
      }
      if (spec.moment) {
        const when = new Date(value[spec.moment]);      // no offset: this browser's time zone
        if (Number.isNaN(when.getTime())) { form.showErrors([{ field: spec.moment, message: "is not a 'date-time'" }]); return; }
        if (when.getTime() > new Date(now).getTime()) { form.showErrors([{ field: spec.moment, message: "is in the future" }]); return; }
        value[spec.moment] = withOffset(when);
      }
      let answer;
      if (action === "signal") {
        // signals take no Idempotency-Key (yet): `busy` keeps a double click to one request
        answer = await request("POST", `/candidates/${encodeURIComponent(c.id)}/signals`, { body: value });
        toast(answer.data && answer.data.status === "delivered" ? t("record_signal_delivered") : t("record_signal_recorded"));
      } else {
        answer = await request("POST", "/messages", {
          body: { name: action, correlation: { candidate_id: c.id }, payload: value }, headers: { "Idempotency-Key": key } });
        toast(answer.status === 202 ? t("record_buffered") : t("record_delivered"));
      }
      state.candidates.delete(String(c.id));
      setDirty(false);            // recorded: leaving now loses nothing
      // recorded: the case page's "record the reply" preset is done, the card is drawn afresh
      if (new URLSearchParams(location.search).has("record")) history.replaceState(null, "", location.pathname);
      render({ keepFocus: "record-title" });
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && err.errors.length) {
        form.showErrors(err.errors.map((e) => ({ ...e, field: String(e.field || "").replace(/^payload\./, "") })));
      } else if (err instanceof ApiError && (err.type.endsWith("message-not-awaited") || err.type.endsWith("no-case-for-message"))) {
        status.append(h("p", { class: "notice error" }, t("record_not_awaited", { what: t(`record_${action}`) })));
      } else {
        status.append(h("p", { class: "notice error" }, errorMessage(err)));
      }
    } finally {
      busy = false;
      submit.disabled = false;
    }
  });
  return formEl;
}
