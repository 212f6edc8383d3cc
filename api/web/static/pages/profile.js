// HR changes a candidate's archive record from their page: the profile, tags, notes, needs and questions
// (PATCH /candidates/{id}); the talent-pool consent given, renewed or withdrawn (PATCH consent — a
// withdrawal ends the running cases); and erasure on the person's request (DELETE /candidates/{id}),
// after a confirmation that says what will be removed. The server audits each as the signed-in person.
import { ApiError, request } from "../api.js";
import { h } from "../dom.js";
import { SchemaForm } from "../form.js";
import { CONSENT_SCOPES, t } from "../i18n.js";
import { errorMessage, go, render, state, toast } from "../ui.js";
import { PERSON_FIELDS } from "../views.js";

const both = (map) => Object.values(map).map(([zh, en]) => `${zh} / ${en}`);
const strings = (title) => ({ type: "array", title, items: { type: "string" } });
const PROFILE = {
  type: "object",
  required: ["name"],
  properties: {
    ...PERSON_FIELDS,
    tags: strings("标签 / Tags"),
    needs: strings("核心需求 / Needs"),
    open_questions: strings("未解答的疑问 / Open questions"),
    notes: { type: "string", title: "备注 / Notes" },
  },
};
const CONSENT = () => ({
  type: "object",
  required: ["scope", "source", "expires_at"],
  properties: {
    scope: { type: "string", title: "同意范围 / Scope", enum: Object.keys(CONSENT_SCOPES) },
    source: { type: "string", title: "如何取得同意 / How consent was given", description: "例如:电话中口头同意。 / E.g. agreed on the phone." },
    expires_at: { type: "string", format: "date", title: "有效期至 / Expires on" },
  },
});

const patch = (c, body) => request("PATCH", `/candidates/${encodeURIComponent(c.id)}`, { body });

/** One collapsible form that PATCHes the candidate and redraws the page. */
function patchForm(c, { id, summary, schema, ui, data, toBody, submitText, done, confirmText }) {
  const form = new SchemaForm(schema, ui, data, { idPrefix: id });
  const status = h("div", { class: "form-status", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary", id: `${id}-submit` }, submitText);
  const formEl = h("form", { novalidate: true, id: `${id}-form` }, form.element, status, h("div", { class: "actions" }, submit));
  formEl.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.replaceChildren();
    form.clearErrors();
    const value = form.value() || {};
    const missing = (schema.required || []).filter((k) => value[k] === undefined || String(value[k]).trim() === "");
    if (missing.length) { form.showErrors(missing.map((field) => ({ field, message: "Missing data for required field." }))); return; }
    if (confirmText && !window.confirm(confirmText)) return;
    submit.disabled = true;
    try {
      await patch(c, toBody(value));
      state.candidates.delete(String(c.id));
      toast(done);
      render();
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && err.errors.length) {
        form.showErrors(err.errors.map((e) => ({ ...e, field: String(e.field || "").replace(/^consent\./, "") })));
      } else status.append(h("p", { class: "notice error" }, errorMessage(err)));
    } finally {
      submit.disabled = false;
    }
  });
  return h("details", { class: "card wide edit-box", id }, h("summary", {}, summary), formEl);
}

/** The edit, consent and erase cards of a candidate's page (hr, admin); none for other roles. */
export function profileSections(c) {
  if (!["hr", "admin"].includes(state.me.role)) return [];
  const cards = [];
  cards.push(patchForm(c, {
    id: "edit-profile", summary: t("edit_profile"), schema: PROFILE, submitText: t("save"), done: t("profile_saved"),
    ui: { notes: { "ui:widget": "textarea", "ui:options": { rows: 4 } } },
    data: Object.fromEntries(Object.keys(PROFILE.properties).map((k) => [k, c[k] ?? (PROFILE.properties[k].type === "array" ? [] : "")])),
    // every field goes: an emptied one is cleared, not left as it was
    toBody: (v) => Object.fromEntries(Object.keys(PROFILE.properties).map((k) => [k,
      PROFILE.properties[k].type === "array" ? (v[k] || []) : (v[k] === undefined || v[k] === "" ? null : v[k])])),
  }));
  const consent = c.consent || {};
  cards.push(patchForm(c, {
    id: "edit-consent", summary: consent.granted ? t("renew_consent") : t("give_consent"), schema: CONSENT(),
    ui: { scope: { "ui:enumNames": both(CONSENT_SCOPES) } }, submitText: t("save"), done: t("consent_saved"),
    data: { scope: consent.scope || undefined, source: "", expires_at: consent.expires_on || undefined },
    toBody: (v) => ({ consent: { granted: true, ...v } }),
  }));
  const actions = h("div", { class: "actions" });
  if (consent.granted) {
    const withdraw = h("button", { type: "button", class: "secondary", id: "withdraw-consent" }, t("withdraw_consent"));
    withdraw.addEventListener("click", async () => {
      if (!window.confirm(t("withdraw_confirm"))) return;
      try {
        await patch(c, { consent: { granted: false, withdraw: true } });
        state.candidates.delete(String(c.id));
        toast(t("consent_withdrawn"));
        render();
      } catch (err) { toast(errorMessage(err)); }
    });
    actions.append(withdraw);
  }
  const erase = h("button", { type: "button", class: "secondary", id: "erase" }, t("erase"));
  erase.addEventListener("click", async () => {
    if (!window.confirm(t("erase_confirm", { name: c.name || c.id }))) return;
    erase.disabled = true;
    try {
      const report = (await request("DELETE", `/candidates/${encodeURIComponent(c.id)}`)).data || {};
      state.candidates.delete(String(c.id));
      toast(t("erased", { cases: (report.cases_cancelled || []).length }));
      go("candidates");
    } catch (err) {
      toast(errorMessage(err));
      erase.disabled = false;
    }
  });
  actions.append(erase);
  cards.push(h("section", { class: "card wide", "aria-labelledby": "privacy-title" },
    h("h2", { id: "privacy-title" }, t("privacy_title")), h("p", { class: "hint" }, t("erase_hint")), actions));
  return cards;
}
