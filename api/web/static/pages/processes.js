// The processes and, per process, its versions, the diagrams with how many cases wait at each element, and its cases.
import { ApiError, get } from "../api.js";
import { drawDiagram, elementNames, nameOf } from "../diagram.js";
import { formatDateTime, h, time } from "../dom.js";
import { t } from "../i18n.js";
import { alertBox, errorMessage, go, heading, href } from "../ui.js";
import { drawAll, personName, processLabel, statusBadge } from "../views.js";

export async function processesPage(body) {
  body.append(heading(t("processes_title")));
  const page = await get("/process-definitions?limit=200");
  body.append(h("table", { class: "processes" },
    h("caption", { class: "visually-hidden" }, t("processes_title")),
    h("thead", {}, h("tr", {}, [t("col_process"), t("col_version"), t("col_deployed")].map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, page.items.map((d) => h("tr", {},
      // the process by its BPMN name (GET /vocabulary); its key, the API's word for it, in the tooltip
      h("th", { scope: "row", "data-label": t("col_process") }, h("a", { href: href(`processes/${encodeURIComponent(d.process_key)}`),
        title: d.process_key, "data-process-key": d.process_key }, processLabel(d.process_key))),
      h("td", { "data-label": t("col_version") }, String(d.latest_version)),
      h("td", { "data-label": t("col_deployed") }, time(d.deployed_at), ` · ${personName(d.deployed_by)}`))))));
}

// The process page: a version selector (all versions, or one), the chosen version's diagram with the counts per
// element of the cases on it, the version history (who deployed what, when and why) and the cases on the
// version, paged. Each read keeps its own permission: a role that may not list cases or counts sees neither.
export async function processPage(body, ctx, key) {
  const path = encodeURIComponent(key);
  const asked = /^[1-9][0-9]{0,8}$/.test(ctx.query.get("version") || "") ? Number(ctx.query.get("version")) : null;
  const [diagram, detail] = await Promise.all([
    get(`/workspace/diagrams/${path}${asked ? `?version=${asked}` : ""}`),
    get(`/process-definitions/${path}`)]);
  const names = {};
  for (const file of diagram.files) Object.assign(names, elementNames(file.xml));
  body.append(heading(`${nameOf(names, key)} · v${diagram.version}`));
  body.append(versionChooser(key, detail.versions, asked));
  const versionQuery = asked ? `?version=${asked}` : "";
  const [waiting, cases] = await Promise.all([
    allowedOnly(get(`/workspace/diagrams/${path}/waiting${versionQuery}`)),
    allowedOnly(caseList(key, asked))]);
  const figures = [];
  const badges = [];
  const markers = [];
  if (waiting) {
    body.append(h("p", { class: "lead", id: "process-active" }, t("active_cases", { n: waiting.active_instances })));
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
  if (cases) body.append(cases);
  body.append(versionHistory(key, detail.versions, asked));
  queueMicrotask(() => drawAll(figures));
}

// A read the caller's role may not make (403) shows nothing instead of an error.
async function allowedOnly(promise) {
  try {
    return await promise;
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) return null;
    throw err;
  }
}

const versionPath = (key, version) => `processes/${encodeURIComponent(key)}${version ? `?version=${version}` : ""}`;

function versionChooser(key, versions, asked) {
  const select = h("select", { id: "process-version", name: "version" },
    h("option", { value: "", selected: asked ? null : true }, t("all_versions")),
    ...versions.map((v) => h("option", { value: String(v.version), selected: v.version === asked ? true : null },
      t("version_n", { n: v.version }))));
  select.addEventListener("change", () => go(versionPath(key, Number(select.value) || null)));
  return h("div", { class: "card", id: "process-version-chooser" },
    h("label", { for: "process-version" }, `${t("version")} `), select,
    h("p", { class: "muted" }, asked ? t("showing_version", { n: asked }) : t("showing_all_versions")));
}

function versionHistory(key, versions, asked) {
  return h("section", { class: "card", "aria-labelledby": "versions-title" }, h("h2", { id: "versions-title" }, t("versions_title")),
    h("table", { class: "table", id: "process-versions" },
      h("thead", {}, h("tr", {}, [t("version"), t("col_deployed"), t("col_deployed_by"), t("col_note")].map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, versions.map((v) => h("tr", { "data-version": String(v.version) },
        h("th", { scope: "row", "data-label": t("version") }, h("a", { href: href(versionPath(key, v.version)),
          "aria-current": v.version === asked ? "page" : null }, `v${v.version}`)),
        h("td", { "data-label": t("col_deployed") }, time(v.deployed_at)),
        h("td", { "data-label": t("col_deployed_by") }, personName(v.deployed_by)),
        h("td", { "data-label": t("col_note"), class: "note" }, v.note || "—"))))));
}

const CASE_PAGE = 25;

// The active cases of the process (on the chosen version), newest change first, CASE_PAGE at a time.
async function caseList(key, version) {
  const query = new URLSearchParams({ process_key: key, status: "running,waiting,error", sort: "-updated_at",
    limit: String(CASE_PAGE), expand: "candidate,ready_tasks" });
  if (version) query.set("version", String(version));
  const first = await get(`/process-instances?${query}`);
  const rows = h("tbody", {});
  const more = h("button", { type: "button", class: "secondary", id: "process-cases-more" }, t("more_cases"));
  const section = h("section", { class: "card", "aria-labelledby": "cases-title" }, h("h2", { id: "cases-title" }, t("cases_title")));
  const add = (page) => {
    rows.append(...page.items.map((c) => h("tr", { "data-instance-id": c.id, "data-version": String(c.version) },
      h("th", { scope: "row", "data-label": t("col_case") }, h("a", { href: href(`cases/${encodeURIComponent(c.id)}`) },
        // the candidate's name for who may see it; else when the case began (never an id: it names nothing)
        (c.candidate && c.candidate.name) || t("case_started", { when: formatDateTime(c.created_at) }))),
      h("td", { "data-label": t("version") }, `v${c.version}`),
      // where it stands: its ready tasks (three cases begun the same hour are told apart), else what it waits for
      h("td", { "data-label": t("col_now_at"), class: "now-at" }, (c.ready_tasks || []).length
        ? c.ready_tasks.map((task) => task.title || task.element_id).join(", ") : c.status === "waiting" ? t("now_waiting") : "—"),
      h("td", { "data-label": t("col_status") }, statusBadge(c.status)),
      h("td", { "data-label": t("col_updated") }, time(c.updated_at)))));
    const after = page.next ? new URL(page.next, location.origin).searchParams.get("after") : null;
    more.style.display = after ? "" : "none";      // (a .secondary button's display would override `hidden`)
    more.dataset.after = after || "";
  };
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      query.set("after", more.dataset.after);
      add(await get(`/process-instances?${query}`));
    } catch (err) { section.append(alertBox(errorMessage(err))); } finally { more.disabled = false; }
  });
  add(first);
  if (!first.items.length) {
    section.append(h("p", { class: "muted" }, t("no_active_cases")));
    return section;
  }
  section.append(h("table", { class: "table", id: "process-cases" },
    h("thead", {}, h("tr", {}, [t("col_case"), t("version"), t("col_now_at"), t("col_status"), t("col_updated")].map((x) => h("th", { scope: "col" }, x)))),
    rows), more);
  return section;
}
