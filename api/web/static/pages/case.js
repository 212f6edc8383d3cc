// A case: its BPMN diagram with what is done, current and waiting, and its history.
import { ApiError, get, post } from "../api.js";
import { callActivities, drawDiagram, elementIds, elementNames, nameOf } from "../diagram.js";
import { formatDateTime, h, time, uid } from "../dom.js";
import { HISTORY_KINDS, label, MESSAGES, pick, t } from "../i18n.js";
import { alertBox, errorMessage, heading, href, render, state, toast } from "../ui.js";
import { allHistory, candidate, candidateLink, drawAll, holderText, personName, statusBadge } from "../views.js";
import { goalsLinkCard } from "./goals_link.js";

export async function casePage(body, ctx, instanceId) {
  body.append(heading(t("case_title")));
  let inst;
  try {
    inst = await get(`/process-instances/${encodeURIComponent(instanceId)}`);
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) { body.append(alertBox(t("not_allowed_case"), "info")); return; }
    throw err;
  }
  const [history, diagram] = await Promise.all([
    allHistory(instanceId).catch(() => []),
    get(`/workspace/diagrams/${encodeURIComponent(inst.process_key)}?version=${inst.version}`),
  ]);
  const names = {};
  for (const file of diagram.files) Object.assign(names, elementNames(file.xml));

  // the candidate, from one of the case's tasks
  let candidateId = null;
  try {
    const tasks = await get(`/tasks?instance_id=${encodeURIComponent(instanceId)}&status=any&limit=1`);
    if (tasks.items.length) candidateId = ((await get(`/tasks/${tasks.items[0].id}`)).data || {}).candidate_id || null;
  } catch { /* not visible to this user */ }
  const c = await candidate(candidateId);

  const facts = h("dl", { class: "meta" },
    candidateId ? [h("dt", {}, t("col_candidate")), h("dd", {}, candidateLink(candidateId, c))] : null,
    h("dt", {}, t("col_process")), h("dd", {}, h("a", { href: href(`processes/${inst.process_key}`) }, nameOf(names, inst.process_key))),
    h("dt", {}, t("status")), h("dd", {}, statusBadge(inst.status)),
    inst.end_event ? [h("dt", {}, t("end_event")), h("dd", {}, nameOf(names, inst.end_event))] : null,
    h("dt", {}, t("version")), h("dd", {}, String(inst.version)),
    h("dt", {}, t("created_label")), h("dd", {}, time(inst.created_at)));
  body.append(facts);
  if (candidateId && ["hr", "admin"].includes(state.me.role) && !["completed", "cancelled"].includes(inst.status)) {
    body.append(h("p", {}, h("a", { class: "button-like secondary", id: "record-reply",
      href: href(`candidates/${encodeURIComponent(candidateId)}?record=candidate_replied`) }, t("record_reply"))));
  }
  const goalsLink = goalsLinkCard(inst, candidateId, history);
  if (goalsLink) body.append(goalsLink);
  const cancel = cancelControl(inst);
  if (cancel) body.append(cancel);

  const done = new Set();
  for (const e of history) {
    if (e.element_id && ["element_completed", "task_completed", "timer_fired"].includes(e.kind)) done.add(e.element_id);
  }
  const current = inst.ready_tasks.map((x) => x.element_id);
  const timers = inst.waiting_timers.map((x) => ({ id: x.element_id, text: formatDateTime(x.due_at) }));
  const waitingMessages = inst.waiting_messages.map((x) => x.element_id).filter(Boolean);
  for (const id of [...current, ...timers.map((x) => x.id)]) done.delete(id);
  if (inst.end_event) done.add(inst.end_event);

  body.append(legend());
  const nowList = h("section", { class: "card now", "aria-labelledby": "now-title", id: "case-now" }, h("h2", { id: "now-title" }, t("now_section")),
    h("h3", {}, t("current_tasks")),
    inst.ready_tasks.length ? h("ul", {}, inst.ready_tasks.map((x) => h("li", { "data-element-id": x.element_id },
      h("a", { href: href(`tasks/${x.id}`) }, pick(x.title || x.element_id)), ` (${holderText(x)})`))) : h("p", { class: "muted" }, t("nothing_waiting")),
    h("h3", {}, t("waiting_timers")),
    inst.waiting_timers.length ? h("ul", {}, inst.waiting_timers.map((x) => h("li", { "data-element-id": x.element_id },
      `${nameOf(names, x.element_id)} — `, t("due_at", { when: formatDateTime(x.due_at) })))) : h("p", { class: "muted" }, t("nothing_waiting")),
    h("h3", {}, t("waiting_messages")),
    inst.waiting_messages.length ? h("ul", {}, inst.waiting_messages.map((x) => h("li", {}, `${label(MESSAGES, x.name)} (${nameOf(names, x.element_id)})`))) : h("p", { class: "muted" }, t("nothing_waiting")));

  // a case inside a called process: the call activity that runs it is current too
  const fileIds = diagram.files.map((file) => elementIds(file.xml));
  const active = new Set([...current, ...timers.map((x) => x.id), ...waitingMessages]);
  const calls = {};
  for (const file of diagram.files) Object.assign(calls, callActivities(file.xml));
  diagram.files.forEach((file, index) => {
    if (index === 0 || ![...active].some((id) => fileIds[index].has(id))) return;
    for (const pid of file.process_ids) for (const id of calls[pid] || []) if (!current.includes(id)) { current.push(id); done.delete(id); }
  });
  const marked = new Set([...done, ...current, ...timers.map((x) => x.id), ...waitingMessages]);
  const figures = [];
  diagram.files.forEach((file, index) => {
    const ids = fileIds[index];
    if (index > 0 && ![...marked].some((id) => ids.has(id))) return;
    const processName = nameOf(names, file.process_ids[0]);
    const currentNames = [...current, ...timers.map((x) => x.id)].filter((id) => ids.has(id)).map((id) => nameOf(names, id));
    const description = t("diagram_alt", { name: processName, done: [...done].filter((id) => ids.has(id)).length, current: currentNames.join(", ") || t("nothing_waiting") });
    const focus = [...current, ...timers.map((x) => x.id)].find((id) => ids.has(id));
    figures.push(drawDiagram({ xml: file.xml, title: t("diagram_of", { name: processName }), description,
      marks: { done: [...done], current, timers, messages: waitingMessages }, focus }));
  });
  for (const f of figures) body.append(f.figure);
  body.append(nowList);
  body.append(historyTable(history, names));
  // draw once the figures are in the document (bpmn-js measures its container)
  queueMicrotask(() => drawAll(figures));
}

function legend() {
  return h("div", { class: "legend", role: "group", "aria-label": t("legend") },
    h("span", { class: "legend-title" }, `${t("legend")}:`),
    [["done", "legend_done"], ["current", "legend_current"], ["timer", "legend_timer"], ["message", "legend_message"]]
      .map(([cls, key]) => h("span", { class: `legend-item lg-${cls}` }, h("span", { class: "swatch", "aria-hidden": "true" }), t(key))));
}

function historyTable(history, names) {
  const shown = history.filter((e) => e.kind !== "element_completed" || (e.details && /Task|Event/.test(e.details.type || "")));
  return h("section", { class: "card", "aria-labelledby": "history-title" }, h("h2", { id: "history-title" }, t("history")),
    h("ol", { class: "timeline" }, shown.map((e) => h("li", {},
      time(e.at), " ", h("strong", {}, HISTORY_KINDS[e.kind] ? label(HISTORY_KINDS, e.kind) : e.kind),
      e.element_id ? ` · ${nameOf(names, e.element_id)}` : "", h("span", { class: "muted", title: e.actor }, ` — ${personName(e.actor, e.actor_name)}`)))));
}

// HR, admins and process owners may end a running case; the reason goes into its history.
function cancelControl(inst) {
  if (!["hr", "admin", "process_owner"].includes(state.me.role) || ["completed", "cancelled"].includes(inst.status)) return null;
  const id = uid("cancel-reason");
  const reason = h("textarea", { id, name: "reason", rows: 2, required: true, "aria-required": "true" });
  const errorEl = h("p", { class: "field-error", id: `${id}-err`, hidden: true });
  const submit = h("button", { type: "submit", class: "secondary", id: "cancel-case" }, t("cancel_case"));
  const form = h("form", { novalidate: true, id: "cancel-form" },
    h("div", { class: "field" }, h("label", { for: id }, t("cancel_reason")), reason, errorEl), h("div", { class: "actions" }, submit));
  const fail = (text) => {
    errorEl.textContent = text;
    errorEl.hidden = false;
    reason.setAttribute("aria-invalid", "true");
    reason.setAttribute("aria-describedby", errorEl.id);
    reason.focus();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorEl.hidden = true;
    if (!reason.value.trim()) { fail(t("err_required")); return; }
    if (!window.confirm(t("cancel_confirm"))) return;
    submit.disabled = true;
    try {
      await post(`/process-instances/${encodeURIComponent(inst.id)}/cancel`, { reason: reason.value.trim() });
      toast(t("case_cancelled"));
      render();
    } catch (err) {
      const field = err instanceof ApiError && err.errors.find((e) => e.field === "reason");
      fail(field ? field.message : errorMessage(err));
    } finally {
      submit.disabled = false;
    }
  });
  return h("details", { class: "card cancel-box", id: "cancel" }, h("summary", {}, t("cancel_case")), form);
}
