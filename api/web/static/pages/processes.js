// The processes and, per process, its diagrams with how many cases wait at each element.
import { ApiError, get } from "../api.js";
import { drawDiagram, elementNames, nameOf } from "../diagram.js";
import { h, time } from "../dom.js";
import { t } from "../i18n.js";
import { heading, href } from "../ui.js";
import { drawAll, personName, processLabel } from "../views.js";

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

export async function processPage(body, ctx, key) {
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
