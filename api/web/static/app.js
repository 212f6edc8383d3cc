// The HR workspace: a small router and one function per page, drawn from the JSON API.
import { ApiError, apiFeatures, get, getToken, post, request, setToken, whenUnauthorized } from "./api.js";
import { callActivities, drawDiagram, elementIds, elementNames, nameOf } from "./diagram.js";
import { append, clear, formatDateTime, formatDuration, h, localDate, time, uid } from "./dom.js";
import { SchemaForm } from "./form.js";
import {
  CHANNELS, CONSENT_SCOPES, HISTORY_KINDS, MESSAGE_ROLES, MESSAGES, REASONS, STAGE_TASKS, STAGES, STATUSES, label,
  lang, pick, setLang, setVocabulary, t,
} from "./i18n.js";

const BASE = document.documentElement.dataset.base || "/app/";
const state = { me: null, features: null, candidates: new Map() };
let renderSeq = 0;
let firstRender = true;

// ---------------------------------------------------------------- routing
const ROUTES = [
  [/^$/, inboxPage],
  [/^signin$/, signinPage],
  [/^tasks\/([^/]+)$/, taskPage],
  [/^candidates$/, candidatesPage],
  [/^candidates\/([^/]+)$/, candidatePage],
  [/^declines\/new$/, newDeclinePage],
  [/^cases\/([^/]+)$/, casePage],
  [/^processes$/, processesPage],
  [/^processes\/([^/]+)$/, processPage],
];

function appPath() {
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : "";
  return path.replace(/\/+$/, "");
}

export function href(path) { return BASE + path; }

export function go(path, { replace = false } = {}) {
  const url = href(path);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  render();
}

document.addEventListener("click", (event) => {
  const a = event.target.closest && event.target.closest("a[href]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  if (a.target || a.hasAttribute("download") || a.origin !== location.origin || !a.pathname.startsWith(BASE)) return;
  if (a.pathname.startsWith(`${BASE}static/`) || (a.getAttribute("href") || "").startsWith("#")) return;
  event.preventDefault();
  history.pushState(null, "", a.pathname + a.search);
  render();
});
let renderedUrl = null;
window.addEventListener("popstate", () => {
  if (location.pathname + location.search !== renderedUrl) render();   // not for #fragment moves
});
document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main").focus();
});
whenUnauthorized(() => {
  setToken(null);
  state.me = null;
  if (appPath() !== "signin") go(`signin?next=${encodeURIComponent(appPath() + location.search)}`, { replace: true });
});

// ---------------------------------------------------------------- chrome
function toast(message) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

function announce(message) {
  const el = document.getElementById("announcer");
  el.textContent = "";
  setTimeout(() => { el.textContent = message; }, 50);
}

function renderChrome() {
  document.documentElement.lang = lang() === "en" ? "en" : "zh-CN";
  document.getElementById("skip-link").textContent = t("skip_to_main");
  document.getElementById("brand").textContent = t("app_name");
  const nav = clear(document.getElementById("nav"));
  nav.setAttribute("aria-label", t("main_nav"));
  const role = state.me && state.me.role;
  const links = [];
  if (role && role !== "integrator") links.push(["", t("nav_inbox")]);
  if (role === "hr" || role === "admin") links.push(["declines/new", t("nav_new_decline")]);
  if (role === "hr" || role === "admin") links.push(["candidates", t("nav_candidates")]);
  if (role) links.push(["processes", t("nav_processes")]);
  const here = appPath();
  const list = h("ul", {});
  for (const [path, text] of links) {
    const active = path === "" ? (here === "" || here.startsWith("tasks/")) : here === path || here.startsWith(`${path}/`);
    list.append(h("li", {}, h("a", { href: href(path), "aria-current": active ? "page" : null }, text)));
  }
  nav.append(list);

  const session = clear(document.getElementById("session"));
  const langButton = h("button", { type: "button", class: "link-button", lang: lang() === "en" ? "zh-CN" : "en", id: "lang-switch" }, t("switch_lang"));
  langButton.setAttribute("aria-label", t("switch_lang_label"));
  langButton.addEventListener("click", () => { setLang(lang() === "en" ? "zh" : "en"); render({ keepFocus: "lang-switch" }); });
  session.append(langButton);
  if (state.me) {
    session.append(h("span", { class: "who" }, h("span", { class: "visually-hidden" }, `${t("signed_in_as")}: `),
      state.me.name, " · ", t(`role_${state.me.role}`)));
    const out = h("button", { type: "button", class: "link-button" }, t("sign_out"));
    out.addEventListener("click", () => {
      setToken(null);
      state.me = null;
      state.candidates.clear();
      toast(t("signed_out"));
      go("signin");
    });
    session.append(out);
  }
  updateClock(state.me && state.me.simulated_clock ? state.me.now : null);
}

function updateClock(now) {
  const banner = document.getElementById("clock-banner");
  if (!now || !(state.me && state.me.simulated_clock)) { banner.hidden = true; return; }
  state.me.now = now;
  clear(banner).append(`${t("simulated_clock")}: `, time(now));
  banner.hidden = false;
}

function heading(text, level = 1) {
  return h(`h${level}`, level === 1 ? { tabindex: "-1", class: "page-title" } : {}, text);
}

function alertBox(message, kind = "error") {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
}

function errorMessage(err) {
  if (!(err instanceof ApiError)) return t("error_generic", { detail: String(err && err.message || err) });
  if (err.status === 403) return `${t("forbidden")} (${err.message})`;
  if (err.status === 404) return t("not_found");
  return t("error_generic", { detail: err.message });
}

// ---------------------------------------------------------------- render loop
async function render({ keepFocus } = {}) {
  const seq = ++renderSeq;
  const path = appPath();
  const query = new URLSearchParams(location.search);
  setLang(lang());
  if (!getToken() && path !== "signin") {
    history.replaceState(null, "", href(`signin?next=${encodeURIComponent(path + location.search)}`));
    return render();
  }
  if (getToken() && !state.me) {
    try {
      state.me = await get("/workspace/me");
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) {
        renderChrome();
        clear(document.getElementById("main")).append(heading(t("app_name")), alertBox(errorMessage(err)));
      }
      return undefined;
    }
  }
  if (!state.features && state.me) state.features = await apiFeatures();
  if (!state.vocabulary && state.me) {
    // reasons, stages and their labels as deployed (none yet: an empty vocabulary)
    state.vocabulary = await get("/vocabulary").catch(() => ({ decline_reasons: [], stages: [] }));
    setVocabulary(state.vocabulary);
  }
  if (seq !== renderSeq) return undefined;
  renderChrome();
  const main = clear(document.getElementById("main"));
  main.setAttribute("aria-busy", "true");
  delete main.dataset.ready;
  renderedUrl = location.pathname + location.search;
  main.append(h("p", { class: "loading" }, t("loading")));
  let page = null;
  let params = [];
  for (const [pattern, fn] of ROUTES) {
    const m = path.match(pattern);
    if (m) { page = fn; params = m.slice(1).map(decodeURIComponent); break; }
  }
  const ctx = { query, alive: () => seq === renderSeq };
  const body = h("div", { class: "page" });
  try {
    if (!page) body.append(heading(t("not_found")), h("p", {}, h("a", { href: href("") }, t("back_to_inbox"))));
    else await page(body, ctx, ...params);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return undefined;
    body.append(alertBox(errorMessage(err)));
  }
  if (seq !== renderSeq) return undefined;
  clear(main).append(body);
  main.removeAttribute("aria-busy");
  main.dataset.ready = path || "inbox";     // tests and scripts wait for this
  const h1 = body.querySelector("h1");
  document.title = `${h1 ? h1.textContent : t("app_name")} · ${t("app_name")}`;
  if (keepFocus) document.getElementById(keepFocus)?.focus();
  else if (!firstRender && h1) h1.focus();
  firstRender = false;
  document.dispatchEvent(new CustomEvent("recall:rendered", { detail: { path } }));
  return undefined;
}

// ---------------------------------------------------------------- shared data
async function candidate(id) {
  if (!id || !(state.features && state.features.candidates)) return null;
  if (!state.candidates.has(id)) {
    state.candidates.set(id, get(`/candidates/${encodeURIComponent(id)}`).catch(() => null));
  }
  return state.candidates.get(id);
}

function candidateName(c, id) {
  if (c && c.name) return c.name;
  if (!id) return "—";
  return /^[0-9a-f]{8}-[0-9a-f-]{27}$/i.test(id) ? `${t("col_candidate")} #${id.slice(0, 8)}` : id;
}

function candidateLink(id, c) {
  const text = candidateName(c, id);
  if (!id) return text;
  if (state.features && state.features.candidates && state.me && state.me.role !== "manager") {
    return h("a", { href: href(`candidates/${encodeURIComponent(id)}`) }, text);
  }
  return text;
}

function queueLabel(queue) {
  if (queue === "all") return t("queue_all");
  if (queue === "mine") return t("queue_mine");
  if (queue === "overdue") return t("queue_overdue");
  if (queue.startsWith("group:")) return t("queue_group", { group: queue.slice(6) });
  if (queue.startsWith("user:")) return t("queue_user", { user: queue.slice(5) });
  return queue;
}

async function allHistory(instanceId) {
  const items = [];
  let offset = 0;
  for (let i = 0; i < 20; i += 1) {
    const page = await get(`/process-instances/${encodeURIComponent(instanceId)}/history?limit=200&offset=${offset}`);
    items.push(...page.items);
    if (!page.next) break;
    offset += 200;
  }
  return items;
}

// Messages of a case from its history (when the archive does not list them).
function messagesFromHistory(items) {
  const out = [];
  for (const e of items) {
    const data = (e.details && e.details.data) || {};
    if (e.kind === "task_completed" && (e.element_id || "") in STAGE_TASKS && data.message_sent && data.outcome !== "skipped") {
      out.push({ at: e.at, direction: "sent", stage: STAGE_TASKS[e.element_id], element_id: e.element_id, channel: data.channel, text: data.message_sent });
    } else if (e.kind === "message_delivered" && e.details && (MESSAGE_ROLES.reply || []).includes(e.details.name)) {
      const payload = e.details.payload || {};
      out.push({ at: e.at, direction: "received", element_id: e.element_id, channel: payload.channel, text: payload.text || JSON.stringify(payload) });
    }
  }
  return out;
}

function messageList(messages) {
  if (!messages || !messages.length) return h("p", { class: "muted" }, t("no_messages"));
  const sorted = [...messages].sort((a, b) => String(a.at).localeCompare(String(b.at)));
  return h("ol", { class: "messages" }, sorted.map((m) => h("li", { class: `message ${m.direction === "received" ? "received" : "sent"}` },
    h("p", { class: "message-meta" },
      h("strong", {}, m.direction === "received" ? t("received") : t("sent")), " · ", time(m.at),
      m.stage && STAGES[m.stage] ? ` · ${label(STAGES, m.stage)}` : "",
      m.channel ? ` · ${label(CHANNELS, m.channel)}` : ""),
    h("p", { class: "message-text" }, m.text || ""))));
}

function list(items) {
  const values = (items || []).filter((x) => x !== null && x !== undefined && String(x).trim() !== "");
  if (!values.length) return h("p", { class: "muted" }, t("none_recorded"));
  return h("ul", {}, values.map((x) => h("li", {}, typeof x === "object" ? describeObject(x) : String(x))));
}

function describeObject(obj) {
  return Object.entries(obj).filter(([, v]) => v !== null && v !== "" && v !== undefined)
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ");
}

function statusBadge(status) {
  return h("span", { class: `badge status-${status}` }, label(STATUSES, status));
}

// ---------------------------------------------------------------- sign in
async function signinPage(body, ctx) {
  const id = uid("token");
  const errorEl = h("p", { class: "field-error", id: `${id}-err`, hidden: true });
  const input = h("input", { id, name: "token", type: "password", autocomplete: "off", spellcheck: "false", "aria-describedby": `${id}-help`, required: true });
  const form = h("form", { class: "card narrow", novalidate: true },
    h("div", { class: "field" }, h("label", { for: id }, t("token_label")),
      h("p", { class: "hint", id: `${id}-help` }, t("signin_intro")), input, errorEl),
    h("button", { type: "submit", class: "primary" }, t("signin_button")));
  body.append(heading(t("signin_title")), form);
  const fail = (text) => {
    errorEl.textContent = text;
    errorEl.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", `${id}-help ${id}-err`);
    input.focus();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return fail(t("token_required"));
    try {
      const me = (await request("GET", "/workspace/me", { token, quiet401: true })).data;
      setToken(token);
      state.me = me;
      state.features = null;
      state.candidates.clear();
      const next = ctx.query.get("next");
      const target = next && !next.startsWith("/") && !next.startsWith("signin") ? next : "";
      go(me.role === "integrator" && !target ? "processes" : target, { replace: true });
    } catch (err) {
      fail(err instanceof ApiError && err.status === 401 ? t("token_invalid") : errorMessage(err));
    }
    return undefined;
  });
  if (state.me) body.append(h("p", {}, h("a", { href: href("") }, t("back_to_inbox"))));
  setTimeout(() => input.focus(), 0);
}

// ---------------------------------------------------------------- inbox
async function inboxPage(body, ctx) {
  body.append(heading(t("inbox_title")));
  if (state.me.role === "integrator") {
    body.append(alertBox(t("no_workspace_role"), "info"), h("p", {}, h("a", { href: href("processes") }, t("nav_processes"))));
    return;
  }
  const inbox = await get("/workspace/inbox");
  updateClock(inbox.now);
  const selected = ctx.query.get("queue") || "all";
  const queues = [{ queue: "all", count: inbox.total }, ...inbox.queues, { queue: "overdue", count: inbox.overdue }];
  const queueNav = h("nav", { class: "queues", "aria-label": t("queues") }, h("ul", {}, queues.map((q) => h("li", {},
    h("a", { href: href(q.queue === "all" ? "" : `?queue=${encodeURIComponent(q.queue)}`), "aria-current": q.queue === selected ? "page" : null, class: q.queue === "overdue" && q.count ? "has-overdue" : null },
      queueLabel(q.queue), " ", h("span", { class: "count" }, String(q.count)))))));
  body.append(queueNav, h("p", { class: "muted", id: "inbox-summary" }, t("inbox_count", { n: inbox.total, overdue: inbox.overdue })));
  if (inbox.truncated) body.append(alertBox(t("inbox_truncated"), "info"));
  const items = inbox.items.filter((task) => selected === "all" || (selected === "overdue" ? task.overdue : task.queue === selected));
  if (!items.length) {
    body.append(h("p", { class: "empty" }, inbox.total ? t("inbox_filtered_empty") : t("inbox_empty")));
    return;
  }
  const rows = items.map((task) => {
    const who = task.candidate_name ? { name: task.candidate_name } : null;
    const candidateCell = h("td", { "data-label": t("col_candidate") }, candidateLink(task.candidate_id, who));
    const due = task.effective_due_at;
    const row = h("tr", { class: task.overdue ? "overdue" : null, "data-task-id": task.id, "data-element-id": task.element_id },
      h("th", { scope: "row", "data-label": t("col_step") }, h("a", { href: href(`tasks/${task.id}`) }, pick(task.title || task.element_id))),
      candidateCell,
      h("td", { "data-label": t("col_waited") }, formatDuration(task.waited_seconds)),
      h("td", { "data-label": t("col_due") }, due ? [time(due), task.follow_up_due_at && !task.due_at ? h("span", { class: "muted" }, ` (${t("due_follow_up")})`) : null] : t("no_due"),
        task.overdue ? [" ", h("strong", { class: "badge overdue" }, t("overdue"))] : null),
      h("td", { "data-label": t("col_queue") }, queueLabel(task.queue)));
    return row;
  });
  body.append(h("table", { class: "inbox" },
    h("caption", { class: "visually-hidden" }, `${t("inbox_title")}: ${queueLabel(selected)}`),
    h("thead", {}, h("tr", {}, [t("col_step"), t("col_candidate"), t("col_waited"), t("col_due"), t("col_queue")].map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows)));
}

// ---------------------------------------------------------------- task page
async function taskPage(body, ctx, taskId) {
  const { data: task, etag } = await request("GET", `/tasks/${encodeURIComponent(taskId)}`);
  const data = task.data || {};
  const schema = (task.form && task.form.schema) || { type: "object", properties: {} };
  const ui = (task.form && task.form.ui_schema) || {};
  const title = pick(task.title || schema.title || task.element_id);
  const h1 = heading(title);
  h1.id = "task-title";
  body.append(h1);
  if (schema.description) body.append(h("p", { class: "lead" }, pick(schema.description)));

  const meta = h("dl", { class: "meta" });
  const addMeta = (term, ...value) => append(meta, [h("dt", {}, term), h("dd", {}, ...value)]);
  const candidateDd = data.candidate_id ? h("span", {}, data.candidate_id) : null;
  if (candidateDd) addMeta(t("col_candidate"), candidateDd);
  if (state.me.role !== "manager") {
    addMeta(t("case_label"), h("a", { href: href(`cases/${task.instance_id}`) }, t("view_diagram")));
  }
  addMeta(t("created_label"), time(task.created_at));
  if (task.due_at) addMeta(t("due_label"), time(task.due_at));
  addMeta(task.assignee ? t("assignee_label") : t("group_label"), task.assignee || `${(task.candidate_groups || []).join(", ")} (${t("unassigned")})`);
  body.append(h("section", { class: "task-meta", "aria-label": t("task_meta") }, meta));

  if (task.status !== "ready") {
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

  const isFollowUp = task.element_id in STAGE_TASKS || "suggested_message" in data;
  const layout = h("div", { class: `task-layout${isFollowUp ? " context-first" : ""}` });
  const formSection = h("section", { class: "task-form", "aria-labelledby": "task-title" });
  const form = new SchemaForm(schema, ui, data, { idPrefix: "fld" });
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
  if (state.me.role === "process_owner") {      // reads every task, completes none
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
        if (control) { control.value = data.suggested_message; control.focus(); }
      });
      block.append(h("p", { class: "hint" }, t("suggestion_hint")), text, h("div", { class: "actions" }, copy, use));
    }
    if (data.suggestion_error) block.append(alertBox(t("suggestion_error", { error: data.suggestion_error })));
    aside.append(block);
  }

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
  if (c && data.candidate_id && state.me.role !== "manager") {
    aside.append(h("p", {}, h("a", { href: href(`candidates/${encodeURIComponent(data.candidate_id)}`) }, t("open_candidate"))));
  }
}

// ---------------------------------------------------------------- candidates
async function candidatesPage(body, ctx) {
  body.append(heading(t("candidates_title")));
  await apiFeatures();
  if (!state.features.candidates) { body.append(alertBox(t("archive_unavailable"), "info")); return; }
  const q = ctx.query.get("q") || "";
  const reason = ctx.query.get("reason") || "";
  const due = ctx.query.get("due") === "7";
  const qId = uid("q");
  const rId = uid("reason");
  const dId = uid("due");
  const qInput = h("input", { id: qId, name: "q", type: "search", value: q, "aria-describedby": `${qId}-help` });
  const rSelect = h("select", { id: rId, name: "reason" }, h("option", { value: "" }, t("any_reason")),
    Object.keys(REASONS).map((k) => h("option", { value: k, selected: k === reason }, label(REASONS, k))));
  const dueBox = h("input", { id: dId, type: "checkbox", name: "due" });
  dueBox.checked = due;
  const form = h("form", { class: "search", role: "search" },
    h("div", { class: "field" }, h("label", { for: qId }, t("search_label")), h("p", { class: "hint", id: `${qId}-help` }, t("search_hint")), qInput),
    h("div", { class: "field" }, h("label", { for: rId }, t("reason_filter")), rSelect),
    h("div", { class: "field checkbox" }, h("div", { class: "choice" }, dueBox, h("label", { for: dId }, t("due_this_week")))),
    h("button", { type: "submit", class: "primary" }, t("search")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    if (qInput.value.trim()) params.set("q", qInput.value.trim());
    if (rSelect.value) params.set("reason", rSelect.value);
    if (dueBox.checked) params.set("due", "7");
    go(`candidates${params.toString() ? `?${params}` : ""}`);
  });
  body.append(form);
  const params = new URLSearchParams({ limit: "100" });
  if (q) params.set("q", q);
  if (reason) params.set("reason", reason);
  if (due) params.set("due_within_days", "7");
  const page = await get(`/candidates?${params}`);
  const items = page.items || [];
  const total = page.total ?? `${page.total_at_least}+`;
  body.append(h("p", { class: "muted" }, t("candidates_found", { n: total })));
  if (!items.length) { body.append(h("p", { class: "empty" }, t("no_candidates"))); return; }
  body.append(h("table", { class: "candidates" },
    h("caption", { class: "visually-hidden" }, t("candidates_title")),
    h("thead", {}, h("tr", {}, [t("col_name"), t("col_role"), t("col_reason"), t("col_next_follow_up"), t("col_tags")].map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, items.map((c) => {
      const last = c.last_decline;
      return h("tr", {},
        h("th", { scope: "row", "data-label": t("col_name") }, h("a", { href: href(`candidates/${encodeURIComponent(c.id)}`) }, candidateName(c, c.id))),
        h("td", { "data-label": t("col_role") }, c.role_applied || (last && last.role) || "—"),
        h("td", { "data-label": t("col_reason") }, last ? [label(REASONS, last.reason), " · ", time(last.decline_day || last.decline_date, true)] : "—"),
        h("td", { "data-label": t("col_next_follow_up") }, c.next_follow_up_at ? time(c.next_follow_up_at) : "—"),
        h("td", { "data-label": t("col_tags") }, (c.tags || []).length ? (c.tags || []).map((x) => h("span", { class: "tag" }, x)) : "—"));
    }))));
}

// Candidates whose name, phone or email contains `text` (the newest 200), plus full-text matches.
async function findCandidates(text) {
  const needle = text.toLowerCase();
  const [recent, matched] = await Promise.all([
    get("/candidates?limit=200").catch(() => ({ items: [] })),
    get(`/candidates?limit=20&q=${encodeURIComponent(text)}`).catch(() => ({ items: [] })),
  ]);
  const found = new Map();
  for (const c of recent.items || []) {
    if ([c.name, c.phone, c.email, c.wecom_external_id].some((v) => v && String(v).toLowerCase().includes(needle))) found.set(c.id, c);
  }
  for (const c of matched.items || []) if (!found.has(c.id)) found.set(c.id, c);
  return [...found.values()];
}

async function candidatePage(body, ctx, id) {
  await apiFeatures();
  if (!state.features.candidates) { body.append(heading(t("candidates_title")), alertBox(t("archive_unavailable"), "info")); return; }
  const c = await get(`/candidates/${encodeURIComponent(id)}`);
  state.candidates.set(id, Promise.resolve(c));
  body.append(heading(t("candidate_title", { name: candidateName(c, id) })));
  if (state.me.role === "hr" || state.me.role === "admin") {
    body.append(h("p", {}, h("a", { class: "button-like secondary", href: href(`declines/new?candidate=${encodeURIComponent(id)}`) }, t("record_decline_for"))));
  }
  const grid = h("div", { class: "candidate-grid" });
  body.append(grid);

  const facts = h("dl", { class: "meta" });
  const add = (term, value) => { if (value !== undefined && value !== null && value !== "") append(facts, [h("dt", {}, term), h("dd", {}, value)]); };
  add(t("role_applied"), c.role_applied);
  add(t("phone"), c.phone);
  add(t("email"), c.email);
  add(t("wecom"), c.wecom_external_id);
  add(t("tags"), (c.tags || []).length ? h("span", {}, (c.tags || []).map((x) => h("span", { class: "tag" }, x))) : null);
  const consent = c.consent || {};
  const consentDl = h("dl", { class: "meta" },
    h("dt", {}, t("consent")), h("dd", {}, consent.granted ? h("strong", { class: "badge ok" }, t("consent_granted")) : h("strong", { class: "badge" }, t("consent_not_granted"))),
    consent.scope ? [h("dt", {}, t("consent_scope")), h("dd", {}, label(CONSENT_SCOPES, consent.scope))] : null,
    consent.source ? [h("dt", {}, t("consent_source")), h("dd", {}, consent.source)] : null,
    // the day the consent holds through (docs/privacy.md, "Dates"), never the instant in this browser's zone
    consent.expires_at ? [h("dt", {}, t("consent_expires")), h("dd", {}, time(consent.expires_on || consent.expires_at, true))] : null);
  grid.append(h("section", { class: "card", "aria-labelledby": "archive-title" }, h("h2", { id: "archive-title" }, t("context_title")), facts, consentDl));

  const declines = c.declines || [];
  const cases = c.cases || [];
  const names = await processNames();
  grid.append(h("section", { class: "card", "aria-labelledby": "declines-title" }, h("h2", { id: "declines-title" }, t("declines")),
    declines.length ? h("ol", { class: "declines" }, declines.map((d) => h("li", {},
      h("p", {}, h("strong", {}, label(REASONS, d.reason)), d.decline_date ? [" · ", time(d.decline_day || d.decline_date, true)] : null,
        d.role ? ` · ${t("role")}: ${d.role}` : "", d.hiring_manager ? ` · ${t("hiring_manager")}: ${d.hiring_manager}` : ""),
      d.detail ? h("p", { class: "detail" }, d.detail) : null))) : h("p", { class: "muted" }, t("none_recorded")),
    h("h3", { id: "cases-title" }, t("cases")),
    cases.length ? h("ul", { "aria-labelledby": "cases-title" }, cases.map((x) => h("li", {},
      h("a", { href: href(`cases/${x.instance_id}`) }, pick(names[x.process_key] || x.process_key)), " ", statusBadge(x.status),
      x.created_at ? [" · ", time(x.created_at, true)] : "",
      x.end_event ? ` · ${t("end_event")}: ${pick(names[x.end_event] || x.end_event)}` : ""))) : h("p", { class: "muted" }, t("no_cases"))));

  // the profile's needs and questions, and those recorded with each decline
  const union = (key) => [...new Set([...(c[key] || []), ...declines.flatMap((d) => d[key] || [])])];
  grid.append(h("section", { class: "card", "aria-labelledby": "needs-title" }, h("h2", { id: "needs-title" }, t("needs")), list(union("needs")),
    h("h2", {}, t("open_questions")), list(union("open_questions"))));
  grid.append(h("section", { class: "card", "aria-labelledby": "trail-title" }, h("h2", { id: "trail-title" }, t("interview_trail")), interviewTrail(c.interview_trail),
    c.notes ? [h("h2", {}, t("notes")), h("p", { class: "detail" }, c.notes)] : null));
  grid.append(h("section", { class: "card wide", "aria-labelledby": "messages-title" }, h("h2", { id: "messages-title" }, t("messages")), messageList(c.messages || [])));

  const timeline = c.timeline || [];
  grid.append(h("section", { class: "card wide", "aria-labelledby": "timeline-title" }, h("h2", { id: "timeline-title" }, t("timeline")),
    timeline.length ? h("ol", { class: "timeline" }, timeline.map((e) => h("li", {},
      time(e.at), " ", h("strong", {}, timelineText(e, names)),
      e.actor ? h("span", { class: "muted" }, ` · ${e.actor}`) : null,
      e.instance_id && state.me.role !== "manager" ? [" ", h("a", { href: href(`cases/${e.instance_id}`), "aria-label": `${t("view_diagram")}: ${timelineText(e, names)}` }, "↗")] : null)))
      : h("p", { class: "muted" }, t("none_recorded"))));
}

function interviewTrail(rounds) {
  if (!Array.isArray(rounds) || !rounds.length) return h("p", { class: "muted" }, t("none_recorded"));
  return h("ol", { class: "trail" }, rounds.map((r) => h("li", {},
    h("strong", {}, typeof r.round === "number" ? t("round_n", { n: r.round }) : String(r.round ?? "")),
    r.interviewer ? ` · ${r.interviewer}` : "", r.evaluation ? h("p", { class: "detail" }, r.evaluation) : null)));
}

// Element names of the deployed processes, to say "第 30 天问候" rather than an element id.
async function processNames() {
  if (!state.names) {
    state.names = get("/workspace/diagrams/offer_recall").then((d) => {
      const raw = {};
      for (const file of d.files) {
        const doc = new DOMParser().parseFromString(file.xml, "application/xml");
        for (const el of doc.getElementsByTagName("*")) if (el.getAttribute("id") && el.getAttribute("name")) raw[el.getAttribute("id")] = el.getAttribute("name");
      }
      return raw;
    }).catch(() => ({}));
  }
  return state.names;
}

// One line of a candidate's timeline, in the user's language.
function timelineText(e, names) {
  const el = e.element_id ? pick(names[e.element_id] || e.element_id) : "";
  const summary = e.summary || "";
  const kind = e.kind || "";
  let m;
  switch (kind) {
    case "candidate_created": return t("tl_created");
    case "declined": m = summary.match(/\((\w+)\)/); return t("tl_declined", { reason: m ? label(REASONS, m[1]) : "" });
    case "consent_granted":
      m = summary.match(/\((\w+)\) until (\S+)/);
      return m ? t("tl_consent_until", { scope: label(CONSENT_SCOPES, m[1]), date: m[2] }) : t("consent_granted");
    case "consent_withdrawn": return t("tl_consent_withdrawn");
    case "consent_refused": return t("tl_consent_refused");
    case "signal": return t("tl_signal", { kind: summary.replace(/^signal: /, "") });
    case "task_completed": return t("tl_task", { name: el });
    case "timer_fired": return t("tl_timer", { name: el });
    case "message_delivered": m = summary.match(/^(\w+) delivered/); return t("tl_message", { name: m ? label(MESSAGES, m[1]) : summary });
    case "instance_completed": m = summary.match(/at (\w+)/); return t("tl_case_ended", { name: m ? pick(names[m[1]] || m[1]) : "" });
    case "instance_cancelled": return t("tl_case_cancelled");
    case "contact_viewed": return t("tl_contact_viewed");
    default: return HISTORY_KINDS[kind] ? `${label(HISTORY_KINDS, kind)}${el ? ` · ${el}` : ""}` : (summary || kind);
  }
}

// ---------------------------------------------------------------- record a decline (start a case)
const CANDIDATE_FORM = {
  type: "object",
  required: ["name"],
  properties: {
    name: { type: "string", title: "姓名 / Name" },
    phone: { type: "string", title: "电话 / Phone" },
    email: { type: "string", title: "邮箱 / Email", format: "email" },
    wecom_external_id: { type: "string", title: "企业微信 ID / WeCom id" },
    role_applied: { type: "string", title: "应聘岗位 / Role applied for" },
  },
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
    hiring_manager: { type: "string", title: "用人经理 / Hiring manager" },
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

async function newDeclinePage(body, ctx) {
  body.append(heading(t("new_decline_title")), h("p", { class: "lead" }, t("new_decline_intro")));
  await apiFeatures();
  if (!state.features.candidates) { body.append(alertBox(t("archive_unavailable"), "info")); return; }
  let chosen = null;
  const preset = ctx.query.get("candidate");
  if (preset) chosen = await get(`/candidates/${encodeURIComponent(preset)}`).catch(() => null);

  // one key per filled-in form: a double click or a retry after a lost answer starts one case
  const idempotencyKey = `web-decline-${window.crypto && crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`}`;
  const candidateForm = new SchemaForm(CANDIDATE_FORM, {}, {}, { idPrefix: "cand" });
  const today = localDate(state.me && state.me.now);
  const declineForm = new SchemaForm(declineSchema(), declineUiSchema(), { decline_date: today, lang: lang() === "en" ? "en" : "zh", consent: { granted: false } }, { idPrefix: "dec" });

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
          who = await post("/candidates", { ...person, ...(decline.role && !person.role_applied ? { role_applied: decline.role } : {}) });
          chosen = who;          // created: a retry records the decline for this one, not a new candidate
          showChosen();
        } catch (err) {
          if (err instanceof ApiError && err.status === 422) { candidateForm.showErrors(err.errors); return; }
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

// ---------------------------------------------------------------- case + diagrams
async function casePage(body, ctx, instanceId) {
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
      h("a", { href: href(`tasks/${x.id}`) }, pick(x.title || x.element_id)), ` (${x.assignee || (x.candidate_groups || []).join(", ")})`))) : h("p", { class: "muted" }, t("nothing_waiting")),
    h("h3", {}, t("waiting_timers")),
    inst.waiting_timers.length ? h("ul", {}, inst.waiting_timers.map((x) => h("li", { "data-element-id": x.element_id },
      `${nameOf(names, x.element_id)} — `, t("due_at", { when: formatDateTime(x.due_at) })))) : h("p", { class: "muted" }, t("nothing_waiting")),
    h("h3", {}, t("waiting_messages")),
    inst.waiting_messages.length ? h("ul", {}, inst.waiting_messages.map((x) => h("li", {}, `${x.name} (${nameOf(names, x.element_id)})`))) : h("p", { class: "muted" }, t("nothing_waiting")));

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

async function drawAll(figures) {
  await new Promise((resolve) => requestAnimationFrame(resolve));
  for (const f of figures) {
    try {
      if (!document.body.contains(f.figure)) return;
      await f.draw();
      f.figure.dataset.drawn = "true";
    } catch (err) {
      f.figure.append(alertBox(t("diagram_failed", { error: err.message || err })));
      f.figure.dataset.drawn = "error";
    }
  }
  document.dispatchEvent(new CustomEvent("recall:diagrams-drawn"));
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
      e.element_id ? ` · ${nameOf(names, e.element_id)}` : "", h("span", { class: "muted" }, ` — ${e.actor}`)))));
}

async function processesPage(body) {
  body.append(heading(t("processes_title")));
  const page = await get("/process-definitions?limit=200");
  body.append(h("table", { class: "processes" },
    h("caption", { class: "visually-hidden" }, t("processes_title")),
    h("thead", {}, h("tr", {}, [t("col_process"), t("col_version"), t("col_deployed")].map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, page.items.map((d) => h("tr", {},
      h("th", { scope: "row", "data-label": t("col_process") }, h("a", { href: href(`processes/${encodeURIComponent(d.process_key)}`) }, d.process_key)),
      h("td", { "data-label": t("col_version") }, String(d.latest_version)),
      h("td", { "data-label": t("col_deployed") }, time(d.deployed_at), ` · ${d.deployed_by}`))))));
}

async function processPage(body, ctx, key) {
  const diagram = await get(`/workspace/diagrams/${encodeURIComponent(key)}`);
  const names = {};
  for (const file of diagram.files) Object.assign(names, elementNames(file.xml));
  body.append(heading(`${nameOf(names, key)} · v${diagram.version}`));
  let waiting = null;
  try {
    waiting = await get(`/workspace/diagrams/${encodeURIComponent(key)}/waiting`);
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 403)) throw err;
  }
  const figures = [];
  const badges = [];
  const markers = [];
  if (waiting) {
    body.append(h("p", { class: "lead" }, t("active_cases", { n: waiting.active_instances })));
    for (const e of waiting.elements) {
      const n = e.tasks + e.timers + e.messages;
      badges.push({ id: e.element_id, text: String(n), label: t("cases_waiting", { n }) });
      if (e.tasks) markers.push({ id: e.element_id, cls: "is-current" });
      if (e.timers) markers.push({ id: e.element_id, cls: "is-timer" });
      if (e.messages) markers.push({ id: e.element_id, cls: "is-message" });
    }
  }
  diagram.files.forEach((file) => {
    const processName = nameOf(names, file.process_ids[0]);
    figures.push(drawDiagram({ xml: file.xml, title: t("diagram_of", { name: processName }),
      description: `${t("diagram_of", { name: processName })}. ${t("owner_view")}: ${t("col_element")}`,
      marks: { badges, markers } }));
  });
  for (const f of figures) body.append(f.figure);
  if (waiting) {
    body.append(h("section", { class: "card", "aria-labelledby": "owner-title" }, h("h2", { id: "owner-title" }, t("owner_view")),
      waiting.elements.length ? h("table", { class: "counts" },
        h("thead", {}, h("tr", {}, [t("col_element"), t("col_tasks"), t("col_timers"), t("col_messages"), t("col_overdue"), t("col_next_due")].map((x) => h("th", { scope: "col" }, x)))),
        h("tbody", {}, waiting.elements.map((e) => h("tr", { "data-element-id": e.element_id },
          h("th", { scope: "row", "data-label": t("col_element") }, nameOf(names, e.element_id)),
          h("td", { "data-label": t("col_tasks") }, String(e.tasks)),
          h("td", { "data-label": t("col_timers") }, String(e.timers)),
          h("td", { "data-label": t("col_messages") }, String(e.messages)),
          h("td", { "data-label": t("col_overdue") }, String(e.overdue)),
          h("td", { "data-label": t("col_next_due") }, e.next_due_at ? time(e.next_due_at) : "—")))))
        : h("p", { class: "muted" }, t("nothing_waiting"))));
  }
  queueMicrotask(() => drawAll(figures));
}

// ---------------------------------------------------------------- start
render();
