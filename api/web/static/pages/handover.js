// Release a claimed task back to its group's queue, or give it to someone else (POST /tasks/{id}/release,
// /reassign). The server decides who may (docs/api.md, "Release and reassign") and audits both as the
// signed-in person; the page offers the buttons to the roles that can hand a task over.
import { ApiError, get, post } from "../api.js";
import { h, uid } from "../dom.js";
import { t } from "../i18n.js";
import { errorMessage, go, render, state, toast } from "../ui.js";

/** People the task may go to, for the picker: its groups' active members, and managers for a manager's task. */
async function candidatesFor(task) {
  const groups = task.candidate_groups || [];
  const queries = groups.map((g) => `group=${encodeURIComponent(g)}`);
  if (groups.includes("hiring_manager")) queries.push("role=manager");
  const pages = await Promise.all(queries.map((q) => get(`/users?${q}&active=true`).catch(() => ({ items: [] }))));
  const people = new Map();
  for (const page of pages) for (const u of page.items || []) if (u.name !== task.assignee) people.set(u.name, u);
  return [...people.values()];
}

/** Release and reassign controls for a ready task, or null for a role that cannot hand tasks over. */
export function handoverControls(task) {
  const role = state.me.role;
  const holder = task.assignee && task.assignee === state.me.name;
  if (!(role === "hr" || role === "admin" || holder)) return null;
  const box = h("div", { class: "handover", id: "handover" });
  if (task.assignee) {
    const release = h("button", { type: "button", class: "secondary", id: "release" }, t("release"));
    release.addEventListener("click", async () => {
      release.disabled = true;
      try {
        await post(`/tasks/${encodeURIComponent(task.id)}/release`);
        toast(t("released"));
        render();
      } catch (err) {
        toast(errorMessage(err));
        release.disabled = false;
      }
    });
    box.append(release);
  }
  const inputId = uid("to");
  const listId = `${inputId}-people`;
  const input = h("input", { id: inputId, name: "to", type: "text", list: listId, autocomplete: "off", required: true,
    "aria-describedby": `${inputId}-help` });
  const people = h("datalist", { id: listId });
  const errorEl = h("p", { class: "field-error", id: `${inputId}-err`, hidden: true });
  const submit = h("button", { type: "submit", class: "secondary", id: "reassign" }, t("reassign"));
  const form = h("form", { class: "reassign", novalidate: true },
    h("div", { class: "field" }, h("label", { for: inputId }, t("reassign_to")),
      h("p", { class: "hint", id: `${inputId}-help` }, t("reassign_hint")), input, people, errorEl),
    h("div", { class: "actions" }, submit));
  const details = h("details", { class: "reassign-box" }, h("summary", {}, t("reassign")), form);
  details.addEventListener("toggle", async () => {
    if (!details.open || people.childElementCount) return;
    for (const u of await candidatesFor(task)) {
      people.append(h("option", { value: u.name }, u.display_name ? `${u.display_name} (${u.name})` : u.name));
    }
  });
  const fail = (text) => {
    errorEl.textContent = text;
    errorEl.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", `${inputId}-help ${inputId}-err`);
    input.focus();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    errorEl.hidden = true;
    input.removeAttribute("aria-invalid");
    const to = input.value.trim();
    if (!to) { fail(t("err_required")); return; }
    submit.disabled = true;
    try {
      const moved = await post(`/tasks/${encodeURIComponent(task.id)}/reassign`, { to });
      toast(t("reassigned", { to: (moved && moved.assignee_name) || to }));      // by name (the API's assignee_name)
      // it may have left this person's inbox (a colleague's task is theirs): back to the inbox
      go("");
    } catch (err) {
      if (err instanceof ApiError && err.status === 422) fail((err.errors.find((e) => e.field === "to") || err).message);
      else fail(errorMessage(err));
    } finally {
      submit.disabled = false;
    }
  });
  box.append(details);
  return box;
}
