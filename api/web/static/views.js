// Data and view pieces more than one page uses: candidates (cached per session), their names and links,
// queues, a case's history and its messages, lists, badges, process element names, drawing diagrams.
import { get } from "./api.js";
import { h, time } from "./dom.js";
import { CHANNELS, GROUPS, label, MESSAGE_ROLES, PROCESSES, STAGE_TASKS, STAGES, STATUSES, t } from "./i18n.js";
import { alertBox, href, state } from "./ui.js";

export async function candidate(id) {
  if (!id) return null;
  if (!state.candidates.has(id)) {
    state.candidates.set(id, get(`/candidates/${encodeURIComponent(id)}`).catch(() => null));
  }
  return state.candidates.get(id);
}

export function candidateName(c, id) {
  if (c && c.name) return c.name;
  if (!id) return "—";
  return /^[0-9a-f]{8}-[0-9a-f-]{27}$/i.test(id) ? `${t("col_candidate")} #${id.slice(0, 8)}` : id;
}

export function candidateLink(id, c) {
  const text = candidateName(c, id);
  if (!id) return text;
  if (state.me && state.me.role !== "manager") {
    return h("a", { href: href(`candidates/${encodeURIComponent(id)}`) }, text);
  }
  return text;
}

// `people`: user name -> display name, for the queues of other people's tasks (an admin's inbox)
export function queueLabel(queue, people = {}) {
  if (queue === "all") return t("queue_all");
  if (queue === "mine") return t("queue_mine");
  if (queue === "overdue") return t("queue_overdue");
  if (queue.startsWith("group:")) return t("queue_group", { group: groupLabel(queue.slice(6)) });
  if (queue.startsWith("user:")) return t("queue_user", { user: people[queue.slice(5)] || queue.slice(5) });
  return queue;
}

// Names, not codes (GET /vocabulary): a group by its label, a process by its BPMN name, in the user's language.
export function groupLabel(group) { return label(GROUPS, group); }
export function processLabel(key) { return label(PROCESSES, key); }

// Who did something: a person by display name (the API's *_name), the engine or a timer worker by what it is.
export function personName(user, name) {
  if (name) return name;
  if (!user) return "—";
  if (user === "engine" || user === "system") return t(`actor_${user}`);
  if (user.startsWith("worker:")) return t("actor_worker");
  return user;
}

// A task's holder: the assignee by name, else its groups (unclaimed).
export function holderText(task) {
  if (task.assignee) return personName(task.assignee, task.assignee_name);
  return `${(task.candidate_groups || []).map(groupLabel).join(", ")} (${t("unassigned")})`;
}

export async function allHistory(instanceId) {
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
export function messagesFromHistory(items) {
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

export function messageList(messages) {
  if (!messages || !messages.length) return h("p", { class: "muted" }, t("no_messages"));
  const sorted = [...messages].sort((a, b) => String(a.at).localeCompare(String(b.at)));
  return h("ol", { class: "messages" }, sorted.map((m) => h("li", { class: `message ${m.direction === "received" ? "received" : "sent"}` },
    h("p", { class: "message-meta" },
      h("strong", {}, m.stage === "signal" ? t("signal_received") : m.direction === "received" ? t("received") : t("sent")), " · ", time(m.at),
      m.stage && STAGES[m.stage] ? ` · ${label(STAGES, m.stage)}` : "",
      m.channel ? ` · ${label(CHANNELS, m.channel)}` : "",
      m.recorded_at ? [" · ", t("recorded_on"), " ", time(m.recorded_at)] : null),
    h("p", { class: "message-text" }, m.text || ""))));
}

export function list(items) {
  const values = (items || []).filter((x) => x !== null && x !== undefined && String(x).trim() !== "");
  if (!values.length) return h("p", { class: "muted" }, t("none_recorded"));
  return h("ul", {}, values.map((x) => h("li", {}, typeof x === "object" ? describeObject(x) : String(x))));
}

function describeObject(obj) {
  return Object.entries(obj).filter(([, v]) => v !== null && v !== "" && v !== undefined)
    .map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ");
}

export function statusBadge(status) {
  return h("span", { class: `badge status-${status}` }, label(STATUSES, status));
}

// Candidates whose name, phone or email contains `text` (the newest 200), plus full-text matches.
export async function findCandidates(text) {
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

// Element names of the deployed processes, to say "第 30 天问候" rather than an element id.
export async function processNames() {
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


export async function drawAll(figures) {
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

// A form field naming a user (`"x-recall-user": {role?, group?}` in its JSON Schema) becomes a pick-list of
// the active users the directory lists for it (GET /users), shown by display name; the field stays a
// text box when the directory cannot be read or lists nobody. The server still checks the person (422).
export async function withUserPickers(schema, ui) {
  const props = schema.properties || {};
  const out = { schema: { ...schema, properties: { ...props } }, ui: { ...ui } };
  await Promise.all(Object.entries(props).filter(([, p]) => p && p["x-recall-user"]).map(async ([name, p]) => {
    const want = p["x-recall-user"];
    const query = new URLSearchParams({ active: "true" });
    if (want.role) query.set("role", want.role);
    if (want.group) query.set("group", want.group);
    const page = await get(`/users?${query}`).catch(() => null);
    const people = (page && page.items) || [];
    if (!people.length) return;
    out.schema.properties[name] = { ...p, enum: people.map((u) => u.name) };
    out.ui[name] = { ...(ui[name] || {}), "ui:enumNames": people.map((u) => (u.display_name ? `${u.display_name} (${u.name})` : u.name)) };
  }));
  return out;
}

// The person's own fields, as the decline form creates them and the profile edits them.
export const PERSON_FIELDS = {
    name: { type: "string", title: "姓名 / Name" },
    phone: { type: "string", title: "电话 / Phone" },
    email: { type: "string", title: "邮箱 / Email", format: "email" },
    wecom_external_id: { type: "string", title: "企业微信 ID / WeCom id" },
    role_applied: { type: "string", title: "应聘岗位 / Role applied for" },
};
