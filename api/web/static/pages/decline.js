// Record a decline (which starts a case), for an existing or a new candidate.
import { ApiError, get, post } from "../api.js";
import { clear, h, localDate, uid } from "../dom.js";
import { SchemaForm } from "../form.js";
import { CONSENT_SCOPES, lang, REASONS, t } from "../i18n.js";
import { errorMessage, go, heading, state, toast } from "../ui.js";
import { candidateName, findCandidates, PERSON_FIELDS, withUserPickers } from "../views.js";

const CANDIDATE_FORM = {
  type: "object",
  required: ["name"],
  properties: { ...PERSON_FIELDS },
};
// Built when shown: the reasons are the deployed vocabulary's (not known at import).
const declineSchema = () => ({
  type: "object",
  required: ["reason", "decline_date"],
  properties: {
    reason: { type: "string", title: "未到岗原因 / Decline reason", enum: Object.keys(REASONS) },
    detail: { type: "string", title: "原因说明 / Details", description: "候选人的原话或具体情况。 / In the candidate's words." },
    decline_date: { type: "string", format: "date", title: "未到岗日期 / Decline date", description: "各阶段的跟进从这一天算起。 / Every follow-up of the cadence counts from this day." },
    role: { type: "string", title: "岗位 / Role" },
    hiring_manager: { type: "string", title: "用人经理 / Hiring manager", "x-recall-user": { group: "hiring_manager" } },
    needs: { type: "array", title: "核心需求 / Needs", items: { type: "string" } },
    open_questions: { type: "array", title: "未解答的疑问 / Open questions", items: { type: "string" } },
    consent: {
      type: "object", title: "人才库同意 / Talent-pool consent",
      properties: {
        granted: { type: "boolean", title: "候选人同意进入人才库 / The candidate consents to the talent pool" },
        scope: { type: "string", title: "同意范围 / Scope", enum: Object.keys(CONSENT_SCOPES) },
        source: { type: "string", title: "如何取得同意 / How consent was given", description: "例如:电话中口头同意。 / E.g. agreed on the phone." },
        expires_at: { type: "string", format: "date", title: "有效期至 / Expires on" },
      },
    },
    lang: { type: "string", title: "消息语言 / Message language", enum: ["zh", "en"] },
  },
});
const declineUiSchema = () => ({
  reason: { "ui:enumNames": Object.values(REASONS).map(([zh, en]) => `${zh} / ${en}`) },
  detail: { "ui:widget": "textarea", "ui:options": { rows: 3 } },
  needs: { items: { "ui:placeholder": "例如:希望有弹性工作制 / e.g. wants flexible hours" } },
  open_questions: { items: { "ui:placeholder": "例如:晋升路径是什么? / e.g. what is the promotion path?" } },
  consent: { scope: { "ui:enumNames": Object.values(CONSENT_SCOPES).map(([zh, en]) => `${zh} / ${en}`) } },
  lang: { "ui:widget": "radio", "ui:enumNames": ["中文 / Chinese", "英文 / English"], "ui:options": { inline: true } },
});

export async function newDeclinePage(body, ctx) {
  body.append(heading(t("new_decline_title")), h("p", { class: "lead" }, t("new_decline_intro")));
  let chosen = null;
  let allowDuplicate = false;     // HR saw the possible duplicates and wants a new record anyway
  const preset = ctx.query.get("candidate");
  if (preset) chosen = await get(`/candidates/${encodeURIComponent(preset)}`).catch(() => null);

  // one key per filled-in form: a double click or a retry after a lost answer starts one case
  const idempotencyKey = `web-decline-${window.crypto && crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`}`;
  const candidateForm = new SchemaForm(CANDIDATE_FORM, {}, {}, { idPrefix: "cand" });
  const today = localDate(state.me && state.me.now);
  const picked = await withUserPickers(declineSchema(), declineUiSchema());
  const declineForm = new SchemaForm(picked.schema, picked.ui, { decline_date: today, lang: lang() === "en" ? "en" : "zh", consent: { granted: false } }, { idPrefix: "dec" });

  // candidate: pick an existing one or enter a new one
  const chosenBox = h("div", { class: "chosen", "aria-live": "polite" });
  const newBox = h("div", { class: "new-candidate" }, h("h3", {}, t("or_new_candidate")), candidateForm.element);
  const searchId = uid("find");
  const searchInput = h("input", { id: searchId, type: "search", "aria-describedby": `${searchId}-help` });
  const results = h("ul", { class: "search-results", "aria-live": "polite" });
  const findButton = h("button", { type: "button", class: "secondary" }, t("find"));
  const finder = h("div", { class: "finder" },
    h("div", { class: "field inline" }, h("label", { for: searchId }, t("find_candidate")),
      h("p", { class: "hint", id: `${searchId}-help` }, t("find_hint")), h("div", { class: "row" }, searchInput, findButton)), results);
  const showChosen = () => {
    clear(chosenBox);
    finder.hidden = Boolean(chosen);
    newBox.hidden = Boolean(chosen);
    if (chosen) {
      const change = h("button", { type: "button", class: "link-button" }, t("change"));
      change.addEventListener("click", () => { chosen = null; showChosen(); searchInput.focus(); });
      chosenBox.append(h("p", {}, h("strong", {}, t("selected_candidate", { name: candidateName(chosen, chosen.id) })), " ", change));
    }
  };
  const find = async () => {
    clear(results);
    const q = searchInput.value.trim();
    if (!q) return;
    try {
      const items = await findCandidates(q);
      if (!items.length) results.append(h("li", { class: "muted" }, t("no_candidates")));
      for (const c of items.slice(0, 10)) {
        const pickButton = h("button", { type: "button", class: "secondary" }, t("select"));
        pickButton.addEventListener("click", () => { chosen = c; showChosen(); });
        results.append(h("li", {}, `${candidateName(c, c.id)}${c.role_applied ? ` · ${c.role_applied}` : ""} `, pickButton));
      }
    } catch (err) { results.append(h("li", {}, errorMessage(err))); }
  };
  findButton.addEventListener("click", find);
  searchInput.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); find(); } });

  const status = h("div", { class: "form-status", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary", id: "record-decline" }, t("submit_decline"));
  const formEl = h("form", { novalidate: true, class: "decline-form", "aria-labelledby": "decline-title" },
    h("section", { class: "card", "aria-labelledby": "cand-section" }, h("h2", { id: "cand-section" }, t("candidate_section")),
      chosenBox, finder, newBox),
    h("section", { class: "card", "aria-labelledby": "decline-section" }, h("h2", { id: "decline-section" }, t("decline_section")), declineForm.element),
    status, h("div", { class: "actions" }, submit));
  body.querySelector("h1").id = "decline-title";
  body.append(formEl);
  showChosen();

  // the archive may already know this person (same phone, email, or name and role): use that record or not
  const duplicatesNotice = (found) => {
    const items = found.map((d) => {
      const use = h("button", { type: "button", class: "secondary use-existing" }, t("use_existing"));
      use.addEventListener("click", async () => {
        chosen = await get(`/candidates/${encodeURIComponent(d.id)}`).catch(() => ({ ...d }));
        clear(status);
        showChosen();
        submit.focus();
      });
      return h("li", {}, `${candidateName(d, d.id)}${d.role_applied ? ` · ${d.role_applied}` : ""} · ${t("matched_on")}: `,
        [].concat(d.matched_on || []).map((m) => t(`match_${m}`)).join(", "), " ", use);
    });
    const anyway = h("button", { type: "button", class: "link-button", id: "create-anyway" }, t("create_anyway"));
    anyway.addEventListener("click", () => { allowDuplicate = true; formEl.requestSubmit(); });
    return h("div", { class: "notice info", id: "duplicates" }, h("p", {}, t("duplicates_found")), h("ul", {}, items), anyway);
  };

  formEl.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(status);
    candidateForm.clearErrors();
    declineForm.clearErrors();
    submit.disabled = true;
    try {
      const decline = declineForm.value();
      const consent = decline.consent || {};
      // days go as typed: the server reads them as days in RECALL_TIMEZONE (docs/privacy.md, "Dates")
      decline.consent = { granted: Boolean(consent.granted), ...consent };
      let who = chosen;
      if (!who) {
        try {
          const person = candidateForm.value();
          who = await post(`/candidates${allowDuplicate ? "?allow_duplicate=true" : ""}`, { ...person, ...(decline.role && !person.role_applied ? { role_applied: decline.role } : {}) });
          chosen = who;          // created: a retry records the decline for this one, not a new candidate
          showChosen();
        } catch (err) {
          if (err instanceof ApiError && err.status === 422) { candidateForm.showErrors(err.errors); return; }
          if (err instanceof ApiError && err.status === 409 && Array.isArray(err.problem.duplicates)) {
            status.append(duplicatesNotice(err.problem.duplicates));
            return;
          }
          throw err;
        }
      }
      let instanceId;
      try {
        const started = await post(`/candidates/${encodeURIComponent(who.id)}/declines`, decline,
          { headers: { "Idempotency-Key": idempotencyKey } });
        instanceId = started.instance_id;
        state.candidates.delete(String(who.id));
      } catch (err) {
        if (err instanceof ApiError && err.status === 422) {
          declineForm.showErrors(err.errors);
          return;
        }
        throw err;
      }
      const tasks = await get(`/tasks?instance_id=${encodeURIComponent(instanceId)}&element_id=archive_decline`);
      toast(t("decline_recorded"));
      go(tasks.items.length ? `tasks/${tasks.items[0].id}` : `cases/${instanceId}`);
    } catch (err) {
      status.append(h("p", { class: "notice error" }, errorMessage(err)));
    } finally {
      submit.disabled = false;
    }
  });
}
