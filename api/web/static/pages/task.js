// A task: its form drawn from the JSON Schema, and beside it the candidate's context and the suggestion.
import { ApiError, get, post, request } from "../api.js";
import { append, clear, h, time } from "../dom.js";
import { SchemaForm } from "../form.js";
import { label, lang, pick, REASONS, STAGE_TASKS, STATUSES, t } from "../i18n.js";
import { discardDraft, loadDraft, saveDraft, setDirty } from "../keep.js";
import { alertBox, announce, errorMessage, go, heading, href, render, state, toast } from "../ui.js";
import {
  allHistory, candidate, candidateLink, candidateName, holderText, list, messageList, messagesFromHistory, personName, withUserPickers,
} from "../views.js";
import { handoverControls } from "./handover.js";
import { recordSection } from "./record.js";
import { sendSection } from "./send.js";
import { attachGrowthLink } from "./growth_link.js";

export async function taskPage(body, ctx, taskId) {
  const { data: task, etag } = await request("GET", `/tasks/${encodeURIComponent(taskId)}`);
  const data = task.data || {};
  const { schema, ui } = await withUserPickers((task.form && task.form.schema) || { type: "object", properties: {} },
    (task.form && task.form.ui_schema) || {});
  const title = pick(task.title || schema.title || task.element_id);
  const h1 = heading(title);
  h1.id = "task-title";
  body.append(h1);
  if (schema.description) body.append(h("p", { class: "lead" }, pick(schema.description)));

  const meta = h("dl", { class: "meta" });
  const addMeta = (term, ...value) => append(meta, [h("dt", {}, term), h("dd", {}, ...value)]);
  // "a candidate #1a2b3c4d" until the archive says the name (to those who may see it), never the bare id
  const candidateDd = data.candidate_id ? h("span", {}, candidateName(null, String(data.candidate_id))) : null;
  if (candidateDd) addMeta(t("col_candidate"), candidateDd);
  if (state.me.role !== "manager") {
    addMeta(t("case_label"), h("a", { href: href(`cases/${task.instance_id}`) }, t("view_diagram")));
  }
  addMeta(t("created_label"), time(task.created_at));
  if (task.due_at) addMeta(t("due_label"), time(task.due_at));
  if (task.status === "ready" || !task.completed_by) {
    addMeta(task.assignee ? t("assignee_label") : t("group_label"), h("span", { title: task.assignee || null }, holderText(task)));
  }
  if (task.completed_by) {
    addMeta(t("completed_by_label"), h("span", { title: task.completed_by }, personName(task.completed_by, task.completed_by_name)),
      task.completed_at ? [" · ", time(task.completed_at)] : null);
  }
  body.append(h("section", { class: "task-meta", "aria-label": t("task_meta") }, meta));

  if (task.status !== "ready") {
    if (candidateDd) candidate(data.candidate_id).then((c) => clear(candidateDd).append(candidateLink(data.candidate_id, c))).catch(() => {});
    body.append(alertBox(t("task_done_readonly", { status: label(STATUSES, task.status) }), "info"),
      h("p", {}, h("a", { href: href("") }, t("back_to_inbox"))));
    return;
  }

  if (!task.assignee && ["hr", "manager"].includes(state.me.role)) {
    const claim = h("button", { type: "button", class: "secondary", id: "claim" }, t("claim"));
    claim.addEventListener("click", async () => {
      try {
        await post(`/tasks/${encodeURIComponent(task.id)}/claim`);
        toast(t("claimed"));
        render();
      } catch (err) { toast(errorMessage(err)); }
    });
    body.querySelector(".task-meta").append(claim);
  }
  const handover = handoverControls(task);
  if (handover) body.querySelector(".task-meta").append(handover);

  const isFollowUp = task.element_id in STAGE_TASKS || "suggested_message" in data;
  const layout = h("div", { class: `task-layout${isFollowUp ? " context-first" : ""}` });
  const formSection = h("section", { class: "task-form", "aria-labelledby": "task-title" });
  // what this person typed before a reload or a redraw (kept locally until the task is completed)
  const canComplete = state.me.role !== "process_owner";
  const draft = canComplete ? loadDraft(state.me.name, task.id) : null;
  const form = new SchemaForm(schema, ui, draft ? { ...data, ...draft } : data, { idPrefix: "fld" });
  const status = h("div", { class: "form-status", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary", id: "complete" }, t("complete"));
  const formEl = h("form", { novalidate: true, "aria-labelledby": "task-title", id: "task-form" },
    form.element, status, h("div", { class: "actions" }, submit, h("a", { href: href(""), class: "button-like secondary" }, t("back_to_inbox"))));
  formSection.append(formEl);
  const aside = h("aside", { class: "task-context", "aria-labelledby": "context-title" }, heading(t("context_title"), 2));
  aside.querySelector("h2").id = "context-title";
  // follow-ups: the suggestion and the candidate's story come first (also on a phone)
  if (isFollowUp) layout.append(aside, formSection);
  else layout.append(formSection, aside);
  body.append(layout);

  taskContext(aside, task, form, candidateDd).catch(() => {});
  if (draft) {
    const discard = h("button", { type: "button", class: "link-button", id: "discard-draft" }, t("discard_draft"));
    discard.addEventListener("click", () => { discardDraft(state.me.name, task.id); setDirty(false); render(); });
    formSection.prepend(h("p", { class: "notice info", role: "status", id: "draft-notice" }, t("draft_restored"), " ", discard));
  }
  if (canComplete) {
    const keepDraft = () => saveDraft(state.me.name, task.id, form.value());
    formEl.addEventListener("input", keepDraft);
    formEl.addEventListener("change", keepDraft);
  } else {      // a process owner reads every task, completes none
    for (const control of formEl.querySelectorAll("input, select, textarea, .schema-form button")) control.disabled = true;
    submit.remove();
    status.append(h("p", { class: "notice info" }, t("read_only_owner")));
  }

  formEl.addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(status);
    form.clearErrors();
    submit.disabled = true;
    submit.textContent = t("completing");
    formEl.setAttribute("aria-busy", "true");
    try {
      await request("POST", `/tasks/${encodeURIComponent(task.id)}/complete`, {
        body: { data: form.value() }, headers: etag ? { "If-Match": etag } : {},
      });
      let next = null;
      try {
        const inbox = await get("/workspace/inbox");
        next = inbox.items.find((x) => x.id !== task.id) || null;
      } catch { /* the inbox page will tell */ }
      discardDraft(state.me.name, task.id);
      const done = t("task_completed", { title });
      toast(next ? `${done} ${t("next_task", { title: pick(next.title) })}` : `${done} ${t("all_done")}`);
      go(next ? `tasks/${next.id}` : "");
      return;
    } catch (err) {
      if (err instanceof ApiError && err.status === 422) {
        form.showErrors(err.errors.length ? err.errors : [{ field: "(form)", message: err.message }]);
      } else if (err instanceof ApiError && err.status === 412) {
        const reload = h("button", { type: "button", class: "secondary" }, t("reload"));
        reload.addEventListener("click", () => render());
        status.append(h("p", { class: "notice error" }, t("stale_task"), " ", reload));
      } else if (err instanceof ApiError && err.status === 409) {
        discardDraft(state.me.name, task.id);      // nobody can complete it any more
        status.append(h("p", { class: "notice error" }, t("task_not_open"), " ", h("a", { href: href("") }, t("back_to_inbox"))));
      } else {
        status.append(h("p", { class: "notice error" }, errorMessage(err)));
      }
    } finally {
      submit.disabled = false;
      submit.textContent = t("complete");
      formEl.removeAttribute("aria-busy");
    }
  });
}

async function taskContext(aside, task, form, candidateDd) {
  const data = task.data || {};
  const isFollowUp = task.element_id in STAGE_TASKS || "suggested_message" in data;
  const c = await candidate(data.candidate_id);
  if (candidateDd) clear(candidateDd).append(candidateLink(data.candidate_id, c));

  const who = h("section", { class: "context-block" }, heading(t("col_candidate"), 3),
    h("p", { class: "candidate-name" }, candidateLink(data.candidate_id, c)));
  const contact = c && [["phone", c.phone], ["email", c.email], ["wecom", c.wecom_external_id]].filter(([, v]) => v);
  if (contact && contact.length) {
    who.append(h("dl", { class: "meta compact" }, contact.map(([k, v]) => [h("dt", {}, t(k)), h("dd", {}, v)])));
  }
  aside.append(who);

  if (isFollowUp && (data.suggested_message || data.suggestion_error)) {
    const block = h("section", { class: "context-block suggestion", "aria-labelledby": "suggestion-title" },
      h("h3", { id: "suggestion-title" }, t("suggested_message")));
    if (data.suggested_message) {
      const text = h("p", { class: "suggestion-text", id: "suggested-message" }, data.suggested_message);
      const copy = h("button", { type: "button", class: "primary", id: "copy-suggestion", "aria-describedby": "suggested-message" }, t("copy"));
      copy.addEventListener("click", async () => {
        let ok = false;
        try {
          await navigator.clipboard.writeText(data.suggested_message);
          ok = true;
        } catch {
          const range = document.createRange();
          range.selectNodeContents(text);
          const sel = window.getSelection();
          sel.removeAllRanges();
          sel.addRange(range);
          try { ok = document.execCommand("copy"); } catch { ok = false; }
        }
        copy.textContent = ok ? `✓ ${t("copy")}` : t("copy");
        copy.dataset.copied = ok ? "true" : "false";
        announce(ok ? t("copied") : t("copy_failed"));
        toast(ok ? t("copied") : t("copy_failed"));
      });
      const use = h("button", { type: "button", class: "secondary", id: "use-suggestion" }, t("use_suggestion"));
      use.addEventListener("click", () => {
        const entry = form.fields.get("message_sent");
        const control = entry && (typeof entry.focusEl === "function" ? entry.focusEl() : entry.focusEl);
        if (!control) return;
        control.value = data.suggested_message;
        control.dispatchEvent(new Event("input", { bubbles: true }));      // kept in the draft
        setDirty(true);
        control.focus();
      });
      block.append(h("p", { class: "hint" }, t("suggestion_hint")), text, h("div", { class: "actions" }, copy, use));
    }
    if (data.suggestion_error) block.append(alertBox(t("suggestion_error", { error: data.suggestion_error })));
    if (data.suggested_message) block.append(...suggestionFacts(data));
    aside.append(block);
  }
  // beside the copy button: send through a configured channel after confirming (pages/send.js)
  if (data.candidate_id && form.fields.get("message_sent")) {
    const slot = h("div", { class: "send-slot" });
    (aside.querySelector(".suggestion") || aside).append(slot);
    sendSection(task, form, data.suggested_message).then((section) => slot.replaceWith(section)).catch(() => slot.remove());
  }
  const growthLink = attachGrowthLink(task, form);      // a signed link to the role's growth page (pages/growth_link.js)
  if (growthLink) aside.append(growthLink);

  const latest = c && Array.isArray(c.declines) && c.declines.length ? c.declines[c.declines.length - 1] : {};
  const reason = data.decline_reason || latest.reason;
  const detail = data.decline_detail || latest.detail;
  aside.append(h("section", { class: "context-block" }, heading(t("decline_reason"), 3),
    h("p", { class: "reason" }, reason ? h("strong", {}, label(REASONS, reason)) : t("none_recorded")),
    detail ? h("p", { class: "detail" }, detail) : null));
  aside.append(h("section", { class: "context-block" }, heading(t("needs"), 3), list(data.needs || (c && c.needs))));
  aside.append(h("section", { class: "context-block" }, heading(t("open_questions"), 3), list(data.open_questions || (c && c.open_questions))));
  if (data.talking_points) {
    aside.append(h("section", { class: "context-block" }, heading(t("talking_points"), 3), h("p", { class: "detail" }, data.talking_points)));
  }
  let messages = c && Array.isArray(c.messages) ? c.messages : null;
  if (!messages && ["hr", "admin", "process_owner"].includes(state.me.role)) {
    try { messages = messagesFromHistory(await allHistory(task.instance_id)); } catch { messages = null; }
  }
  aside.append(h("section", { class: "context-block", id: "past-messages" }, heading(t("past_messages"), 3), messageList(messages || [])));
  // the manager holding a hand-off records what the candidate told them (POST /messages, theirs only)
  if (data.candidate_id && state.me.role === "manager" && task.assignee === state.me.name) {
    aside.append(recordSection(c || { id: data.candidate_id }, { kinds: ["candidate_replied"] }));
  }
  if (c && data.candidate_id && state.me.role !== "manager") {
    aside.append(h("p", {}, h("a", { href: href(`candidates/${encodeURIComponent(data.candidate_id)}`) }, t("open_candidate"))));
  }
}

// The role facts a suggestion used, each with the date of its figures (flagged when stale), and the
// missing ones as links to the role's profile page, where HR adds them (docs/role-profiles.md).
function suggestionFacts(data) {
  const named = (f) => (f.label && typeof f.label === "object" ? f.label[lang()] || f.label.zh || f.label.en : null) || f.fact;
  const used = Array.isArray(data.suggestion_facts) ? data.suggestion_facts : [];
  const missing = Array.isArray(data.suggestion_missing_facts) ? data.suggestion_missing_facts : [];
  const out = [];
  if (used.length) {
    out.push(h("div", { class: "suggestion-facts", id: "suggestion-facts" },
      h("h4", {}, t("suggestion_facts")),
      h("ul", {}, used.map((f) => h("li", { "data-fact": f.fact, class: f.stale ? "stale" : null },
        h("span", { class: "fact-label" }, named(f)), " · ",
        h("span", { class: "fact-date" }, f.as_of ? t("fact_as_of", { date: f.as_of }) : t("fact_no_date")),
        f.stale ? h("strong", { class: "fact-stale" }, " · ", t("fact_stale")) : null,
        f.profile ? h("span", { class: "hint" }, " · ", f.profile) : null)))));
  }
  if (missing.length) {
    out.push(h("div", { class: "suggestion-missing", id: "suggestion-missing", role: "note" },
      h("h4", {}, t("suggestion_missing")),
      h("ul", {}, missing.map((f) => h("li", { "data-fact": f.fact },
        h("a", { href: String(f.add_url || "/app/roles").startsWith("/app/") ? f.add_url : "/app/roles" },
          t("add_fact", { fact: named(f) })))))));
  }
  return out;
}
