// The studio's rehearsal step (issue 19 "Rehearse", docs/studio.md): before deploying, run the draft against
// simulated candidates on a simulated clock and a scratch database (POST /studio/rehearsals, polled), beside
// the deployed version with the same seed, and show what the change does: the follow-up calendar (HR tasks
// per week, draft and deployed side by side, as a chart and as a table), the end events reached, elements no
// case reached (a click selects one on the diagram), running cases whose timer would already be overdue, the
// templates each reason got, where cases stopped. The form is prefilled from GET /studio/rehearsals/defaults
// (the funnel's measured reply rates, the archive's reason mix, the limits).
import { ApiError, get, post } from "../api.js";
import { h, uid } from "../dom.js";
import { label, lang, pick, REASONS, STAGES, STAGE_TASKS, STATUSES } from "../i18n.js";
import { alertBox, errorMessage, href } from "../ui.js";

const W = {
  lead: ["预演：用模拟的候选人、模拟的时钟和临时数据库运行这份草稿，并与已部署版本（相同随机种子）并排比较。不会写入正式数据。",
    "Rehearse: run this draft with simulated candidates on a simulated clock and a scratch database, beside the deployed version (same seed). Nothing is written to the live data."],
  candidates: ["候选人数", "Candidates"], days: ["模拟天数", "Days simulated"], seed: ["随机种子", "Seed"],
  reasons: ["拒绝原因", "Decline reasons"],
  reasons_hint: ["不选：按档案中的原因比例抽取", "None chosen: drawn from the archive's mix"],
  in_archive: ["档案中", "in the archive"],
  replies: ["各阶段的回复概率 (%)", "Reply probability per stage (%)"],
  measured: ["漏斗实测", "measured by the funnel"], assumed: ["默认值（尚无实测）", "default (nothing measured yet)"],
  run: ["预演", "Rehearse"], running: ["预演进行中…", "Rehearsing…"], queued: ["排队中（一次只运行一个预演）…", "Queued (one rehearsal runs at a time)…"],
  elapsed: ["已用 {s} 秒，预计约 {e} 秒", "{s} s so far, about {e} s expected"],
  not_saved: ["草稿没有保存，未开始预演。", "The draft was not saved; the rehearsal did not start."],
  failed: ["预演失败", "The rehearsal failed"],
  done: ["预演完成", "Rehearsal done"],
  draft: ["草稿", "Draft"], deployed: ["已部署版本", "Deployed"], week: ["周", "Week"], task: ["任务", "Task"],
  total: ["合计", "Total"],
  calendar: ["跟进日历：每周新增的 HR 任务", "Follow-up calendar: HR tasks created per week"],
  pairs: ["每周两根柱：左为草稿（深色），右为已部署版本（浅色）", "Two bars a week: the draft on the left (dark), the deployed version on the right (light)"],
  axis: ["横轴：从模拟开始算起的周数；纵轴：该周新增的 HR 任务数", "Across: weeks from the start of the simulation; up: HR tasks created that week"],
  status: ["模拟结束时的案例", "Cases when the simulation ends"],
  calendar_chart: ["每周 HR 任务数的柱状图（左柱草稿，右柱已部署版本）；数字见下表。",
    "Bar chart of HR tasks per week (left bar the draft, right bar the deployed version); the numbers are in the table below."],
  numbers: ["表格中的数字", "The numbers as a table"],
  week_n: ["第 {n} 周", "week {n}"],
  ends: ["到达的结束事件", "End events reached"], end: ["结束事件", "End event"],
  never: ["没有案例到达的环节", "Elements no case reached"],
  never_hint: ["点击在流程图上选中它。", "Click one to select it on the diagram."],
  new_never: ["草稿新增", "new in the draft"],
  past: ["运行中案例：定时器会已经过期", "Running cases whose timer would already be overdue"],
  past_none: ["没有：草稿的定时器不会让运行中的案例过期。", "None: the draft's timers leave no running case overdue."],
  case: ["案例", "Case"], element: ["环节", "Element"], version: ["版本", "Version"], due: ["当前到期", "Due now"],
  would_be: ["按草稿到期", "Due under the draft"], overdue: ["过期天数", "Days overdue"],
  templates: ["各原因得到的模板", "Templates per reason"], reason: ["原因", "Reason"], template: ["模板", "Template"],
  stopped: ["停在（预演不处理的任务）", "Stopped at (tasks the rehearsal does not work)"],
  form_problems: ["预演无法提交的表单（案例停在此处）", "Forms the rehearsal could not submit (the cases stop there)"],
  seconds: ["用时（秒）", "Seconds"], none: ["无", "none"],
  start: ["模拟时钟从 {d} 开始", "The simulated clock starts on {d}"],
};
const w = (key, vars = {}) => {
  let text = W[key][lang() === "en" ? 1 : 0];
  for (const [k, v] of Object.entries(vars)) text = text.split(`{${k}}`).join(String(v));
  return text;
};
const COLORS = ["#0b5cad", "#1e7b34", "#a35a00", "#6a3ea1", "#b3261e", "#00838f", "#5b6675", "#ad1457"];
// Measured (docs/benchmarks.md §12): about 50 s for 1,000 candidates over 400 days, per side.
const SECONDS_PER_CANDIDATE_DAY = 50.5 / 400000;

// Element names of the draft's diagrams ("中文 / English"), so a task the vocabulary does not name
// (archive_decline, assess_reply, prepare_reoffer) is shown by its diagram name, not only its id.
const elementNames = new Map();
function readNames(files) {
  elementNames.clear();
  for (const [path, xml] of Object.entries(files || {})) {
    if (!path.endsWith(".bpmn")) continue;
    const doc = new DOMParser().parseFromString(xml, "application/xml");
    for (const el of doc.getElementsByTagName("*")) {
      const id = el.getAttribute("id");
      const name = el.getAttribute("name");
      if (id && name && !elementNames.has(id)) elementNames.set(id, name);
    }
  }
}
const taskName = (id) => (STAGE_TASKS[id] && STAGES[STAGE_TASKS[id]] ? `${label(STAGES, STAGE_TASKS[id])} (${id})`
  : elementNames.has(id) ? `${pick(elementNames.get(id))} (${id})` : id);

export function drawRehearse(editor, pane) {
  readNames(editor.files);
  const out = h("div", { id: "studio-rehearse-report", "aria-live": "polite" });
  const form = h("form", { class: "card", id: "studio-rehearse-form", novalidate: true },
    h("p", { class: "hint", id: "studio-rehearse" }, w("lead")));
  pane.append(form, out);
  get("/studio/rehearsals/defaults")
    .then((defaults) => fillForm(editor, form, out, defaults))
    .catch((err) => form.append(alertBox(errorMessage(err))));
}

function numberInput(name, value, min, max) {
  return h("input", { type: "number", name, value: String(value), min: String(min), max: String(max), step: "1", required: true,
    inputmode: "numeric", style: "max-width:10rem" });
}

function fillForm(editor, form, out, defaults) {
  const candidates = numberInput("candidates", defaults.candidates, 1, defaults.max_candidates);
  const days = numberInput("days", defaults.days, 1, defaults.max_days);
  const seed = numberInput("seed", 0, -(2 ** 31), 2 ** 31 - 1);
  const reasonBoxes = defaults.reasons.map((key) => {
    const id = uid("reason");
    const n = defaults.reason_mix[key];
    return h("span", { class: "choice", style: "display:inline-flex;margin-right:1rem" },
      h("input", { type: "checkbox", id, name: "reasons", value: key }),
      h("label", { for: id }, label(REASONS, key), n ? h("span", { class: "muted" }, ` (${w("in_archive")} ${n})`) : ""));
  });
  const measured = new Set(defaults.measured);
  const order = Object.keys(STAGE_TASKS);
  const rank = (task) => (order.includes(task) ? order.indexOf(task) : order.length);
  const replyInputs = Object.entries(defaults.reply_probabilities).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b)).map(([task, p]) => {
    const input = h("input", { type: "number", name: `reply_probabilities.${task}`, "data-task": task, min: "0", max: "100",
      step: "0.1", value: String(Math.round(p * 1000) / 10), required: true, style: "max-width:8rem" });
    return editor.field(taskName(task), input, h("p", { class: "hint" }, measured.has(task) ? w("measured") : w("assumed")));
  });
  const runButton = h("button", { type: "submit", class: "primary", id: "studio-rehearse-run" }, w("run"));
  const progress = h("p", { class: "hint", id: "studio-rehearse-progress", "aria-live": "polite" });
  form.append(
    h("div", { style: "display:flex;flex-wrap:wrap;gap:0 1.5rem" },
      editor.field(w("candidates"), candidates), editor.field(w("days"), days), editor.field(w("seed"), seed)),
    h("fieldset", { id: "studio-rehearse-reasons" }, h("legend", {}, w("reasons")), h("p", { class: "hint" }, w("reasons_hint")), ...reasonBoxes),
    h("fieldset", { id: "studio-rehearse-replies" }, h("legend", {}, w("replies")),
      h("div", { style: "display:flex;flex-wrap:wrap;gap:0 1.5rem" }, ...replyInputs)),
    h("div", { class: "actions" }, runButton, progress));
  const controls = { candidates, days, seed };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    out.replaceChildren();
    delete out.dataset.status;
    const body = {
      draft_id: editor.draft.id, candidates: Number(candidates.value), days: Number(days.value), seed: Number(seed.value),
      reply_probabilities: Object.fromEntries([...form.querySelectorAll("input[data-task]")]
        .map((i) => [i.dataset.task, i.value === "" ? NaN : Math.round(Number(i.value) * 10) / 1000])),
    };
    const chosen = [...form.querySelectorAll("input[name=reasons]:checked")].map((c) => c.value);
    if (chosen.length) body.reasons = chosen;
    runButton.disabled = true;
    try {
      await editor.syncXml();
      if (editor.changed) await editor.save();
      readNames(editor.files);            // names as the diagram has them now
      if (editor.changed) { out.append(alertBox(w("not_saved"))); return; }
      const run = await post("/studio/rehearsals", body);
      const estimate = Math.max(1, Math.round(body.candidates * body.days * SECONDS_PER_CANDIDATE_DAY * 2));
      const finished = await poll(run.id, () => document.body.contains(out), (status, seconds) => {
        progress.textContent = `${status === "queued" ? w("queued") : w("running")} ${w("elapsed", { s: seconds, e: estimate })}`;
      });
      progress.textContent = "";
      if (!finished) return;                      // the page was left: nobody to show it to
      out.dataset.status = finished.status;
      if (finished.status === "failed") { out.append(failure(finished.error)); return; }
      drawReport(editor, out, finished.report);
    } catch (err) {
      progress.textContent = "";
      out.dataset.status = "refused";
      out.append(refusal(err, form, controls));
    } finally { runButton.disabled = false; }
  });
}

async function poll(id, alive, onProgress) {
  const began = Date.now();
  while (alive()) {
    const run = await get(`/studio/rehearsals/${encodeURIComponent(id)}`);
    if (run.status === "done" || run.status === "failed") return run;
    onProgress(run.status, Math.round((Date.now() - began) / 1000));
    await new Promise((resolve) => { setTimeout(resolve, 700); });
  }
  return null;
}

// A failed run: {field: [messages]} (a draft that does not pass the checks names its files).
function failure(error) {
  const items = Object.entries(error || {}).flatMap(([field, messages]) => (Array.isArray(messages) ? messages : [messages])
    .map((m) => h("li", { "data-field": field }, `${field}: ${m}`)));
  return h("div", { class: "notice error", role: "alert", id: "studio-rehearse-error" }, h("p", {}, h("strong", {}, w("failed"))), h("ul", {}, ...items));
}

// A refused request (422 naming a field, 404, ...): the fields are named and their inputs marked.
function refusal(err, form, controls) {
  const fields = err instanceof ApiError ? err.errors : [];
  for (const e of fields) {
    const name = String(e.field || "").split(".")[0];
    const input = controls[name] || form.querySelector(`[name="${CSS.escape(e.field || "")}"]`)
      || (name === "reasons" ? form.querySelector("input[name=reasons]") : null);
    if (input) input.setAttribute("aria-invalid", "true");
  }
  return h("div", { class: "notice error", role: "alert", id: "studio-rehearse-error" }, errorMessage(err),
    fields.length ? h("ul", {}, ...fields.map((e) => h("li", { "data-field": e.field }, `${e.field}: ${e.message}`))) : "");
}

// ---------------------------------------------------------------- the report
function drawReport(editor, out, report) {
  const draft = report.rehearsal;
  const deployed = report.deployed || null;
  const sides = deployed ? [["draft", draft], ["deployed", deployed]] : [["draft", draft]];
  out.append(h("p", { class: "notice info", id: "studio-rehearse-done" }, `${w("done")} · ${w("start", { d: (report.options.start || "").slice(0, 10) })} · `,
    ...sides.map(([side, r]) => h("span", { "data-seconds": side }, `${w(side)} ${w("seconds")}: ${r.seconds}  `))));
  out.append(calendar(sides, report.options.start));
  out.append(endEvents(sides), neverReached(editor, draft, report.difference), pastTimers(draft.past_timers || []),
    templates(sides), stoppedAt(sides));
}

function isoWeekMonday(week) {
  const [year, n] = week.split("-W").map(Number);
  const jan4 = new Date(Date.UTC(year, 0, 4));
  const monday = new Date(jan4.getTime() - ((jan4.getUTCDay() + 6) % 7) * 86400000);
  return new Date(monday.getTime() + (n - 1) * 7 * 86400000);
}

function isoWeek(monday) {
  const thursday = new Date(monday.getTime() + 3 * 86400000);
  const year = thursday.getUTCFullYear();
  const n = Math.round((isoWeekMonday(`${year}-W01`).getTime() - monday.getTime()) / (-7 * 86400000)) + 1;
  return `${year}-W${String(n).padStart(2, "0")}`;
}

function calendar(sides, start) {
  // weeks are counted from the simulated clock's first week (week 1); the ISO week stays in the table
  const clock = new Date(start);
  const day0 = Date.UTC(clock.getUTCFullYear(), clock.getUTCMonth(), clock.getUTCDate()) - ((clock.getUTCDay() + 6) % 7) * 86400000;
  const weekNumber = (week) => (Number.isNaN(day0) ? week : Math.round((isoWeekMonday(week).getTime() - day0) / (7 * 86400000)) + 1);
  const counts = {};   // week -> side -> task -> n
  const tasks = new Set();
  for (const [side, r] of sides) {
    for (const row of r.calendar) {
      for (const [task, n] of Object.entries(row.by_element)) {
        ((counts[row.week] ||= {})[side] ||= {})[task] = n;
        tasks.add(task);
      }
    }
  }
  // every week from the first to the last, the empty ones too: the axis is a calendar
  const listed = Object.keys(counts).sort();
  const weeks = [];
  for (let t = listed.length ? isoWeekMonday(listed[0]).getTime() : 0, end = listed.length ? isoWeekMonday(listed[listed.length - 1]).getTime() : -1;
    t <= end; t += 7 * 86400000) weeks.push(isoWeek(new Date(t)));
  const taskList = [...tasks].sort();
  const color = Object.fromEntries(taskList.map((t, i) => [t, COLORS[i % COLORS.length]]));
  const totalOf = (week, side) => Object.values((counts[week] || {})[side] || {}).reduce((a, b) => a + b, 0);
  const max = Math.max(1, ...weeks.flatMap((wk) => sides.map(([side]) => totalOf(wk, side))));
  const legend = h("ul", { class: "rehearse-legend", style: "display:flex;flex-wrap:wrap;gap:.25rem 1rem;list-style:none;padding:0;margin:.25rem 0 .5rem;font-size:.85rem" },
    ...taskList.map((t) => h("li", {}, h("span", { "aria-hidden": "true", style: `display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem;vertical-align:middle;background:${color[t]}` }), taskName(t))),
    sides.length > 1 ? h("li", { class: "muted" }, w("pairs")) : "");
  const bar = (week, side) => {
    const tasksHere = (counts[week] || {})[side] || {};
    const total = totalOf(week, side);
    return h("div", { class: "rehearse-bar", "data-side": side, "data-week": week, "data-count": String(total), title: `${week} · ${w(side)}: ${total}`,
      style: `display:flex;flex-direction:column-reverse;width:.7rem;height:${(total / max) * 100}%;${side === "deployed" ? "opacity:.45;" : ""}` },
    ...taskList.filter((t) => tasksHere[t]).map((t) => h("span", { "data-week": week, "data-task": t, "data-side": side, "data-count": String(tasksHere[t]),
      style: `display:block;flex:0 0 ${(tasksHere[t] / total) * 100}%;background:${color[t]}` })));
  };
  const chart = h("div", { role: "img", "aria-label": w("calendar_chart"), id: "studio-rehearse-chart",
    style: "display:flex;align-items:flex-end;gap:.35rem;height:12rem;overflow-x:auto;border-bottom:1px solid var(--border);padding:.25rem 0" },
  ...weeks.map((week) => h("div", { class: "rehearse-week", "data-week": week, style: "display:flex;flex-direction:column;align-items:center;height:100%" },
    h("div", { style: "display:flex;align-items:flex-end;gap:1px;flex:1" }, ...sides.map(([side]) => bar(week, side))),
    h("span", { class: "muted", style: "font-size:.7rem", title: week }, String(weekNumber(week))))));
  const axis = h("p", { class: "hint", style: "margin-top:.2rem" }, w("axis"));
  const rows = weeks.flatMap((week) => [
    h("tr", { "data-week": week, "data-task": "total" }, h("th", { scope: "row" }, `${w("week_n", { n: weekNumber(week) })} · ${week}`),
      h("th", { scope: "row" }, w("total")), ...sides.map(([side]) => h("td", { "data-side": side }, String(totalOf(week, side))))),
    ...taskList.filter((t) => sides.some(([side]) => ((counts[week] || {})[side] || {})[t])).map((t) => h("tr", { "data-week": week, "data-task": t },
      h("td", {}, ""), h("td", {}, taskName(t)), ...sides.map(([side]) => h("td", { "data-side": side }, String(((counts[week] || {})[side] || {})[t] || 0))))),
  ]);
  const table = h("table", { id: "studio-rehearse-calendar-table" },
    h("caption", { class: "visually-hidden" }, w("calendar")),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, w("week")), h("th", { scope: "col" }, w("task")), ...sides.map(([side]) => h("th", { scope: "col" }, w(side))))),
    h("tbody", {}, ...rows));
  return h("section", { class: "card", id: "studio-rehearse-calendar" }, h("h3", {}, w("calendar")), legend, chart, axis,
    h("details", {}, h("summary", {}, w("numbers")), table));
}

function sideTable(id, headings, keys, cellsOf) {
  return h("table", { id }, h("thead", {}, h("tr", {}, ...headings.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, ...keys.map((key) => cellsOf(key))));
}

function endEvents(sides) {
  const ends = [...new Set(sides.flatMap(([, r]) => Object.keys(r.end_events)))].sort();
  const table = ends.length ? sideTable("studio-rehearse-ends", [w("end"), ...sides.map(([s]) => w(s))], ends, (end) => h("tr", { "data-end": end },
    h("th", { scope: "row" }, end), ...sides.map(([side, r]) => h("td", { "data-side": side }, String(r.end_events[end] || 0))))) : h("p", {}, w("none"));
  const status = h("p", { id: "studio-rehearse-status" }, `${w("status")}: `, ...sides.map(([side, r]) => h("span", { "data-side": side },
    `${w(side)} — ${Object.entries(r.status).map(([k, n]) => `${label(STATUSES, k)} ${n}`).join(", ")}.  `)));
  return h("section", { class: "card" }, h("h3", {}, w("ends")), table, status);
}

function neverReached(editor, draft, difference) {
  const added = new Set((difference && difference.never_reached_added) || []);
  const list = h("ul", { id: "studio-rehearse-never", style: "display:flex;flex-wrap:wrap;gap:.4rem;list-style:none;padding:0" },
    ...draft.never_reached.map(({ element_id: id, type }) => {
      const button = h("button", { type: "button", class: "secondary", "data-element": id },
        `${id} · ${type || "?"}`, added.has(id) ? h("strong", {}, ` (${w("new_never")})`) : "");
      button.addEventListener("click", () => selectOnDiagram(editor, id));
      return h("li", {}, button);
    }));
  return h("section", { class: "card" }, h("h3", {}, w("never")), draft.never_reached.length ? [h("p", { class: "hint" }, w("never_hint")), list] : h("p", {}, w("none")));
}

async function selectOnDiagram(editor, id) {
  editor.showTab("bpmn");
  let el = editor.modeler.get("elementRegistry").get(id);
  if (!el && editor.bpmnPath !== "offer_recall.bpmn" && editor.files["offer_recall.bpmn"]) {
    await editor.syncXml();
    editor.bpmnPath = "offer_recall.bpmn";
    const pick = document.getElementById("studio-bpmn-file");
    if (pick) pick.value = editor.bpmnPath;
    await editor.importBpmn();
    el = editor.modeler.get("elementRegistry").get(id);
  }
  if (!el) return;
  const canvas = editor.modeler.get("canvas");
  try {
    canvas.zoom(1);
    canvas.scrollToElement(el, { top: 200, bottom: 200, left: 300, right: 300 });
  } catch { /* an element on another plane (a collapsed sub-process) is still selected */ }
  editor.modeler.get("selection").select(el);
}

function pastTimers(past) {
  const body = past.length ? sideTable("studio-rehearse-past",
    [w("case"), w("element"), w("version"), w("due"), w("would_be"), w("overdue")], past, (p) => h("tr", { "data-instance": p.instance_id },
      h("td", {}, h("a", { href: href(`cases/${encodeURIComponent(p.instance_id)}`) }, p.business_key || p.instance_id)),
      h("td", {}, p.element_id), h("td", {}, `v${p.version}`), h("td", {}, new Date(p.due_at).toLocaleString()),
      h("td", {}, new Date(p.would_be_due_at).toLocaleString()), h("td", { class: "overdue-days" }, String(p.overdue_days))))
    : h("p", { id: "studio-rehearse-past-none" }, w("past_none"));
  return h("section", { class: "card" }, h("h3", {}, w("past")), body);
}

function templates(sides) {
  const keys = [...new Set(sides.flatMap(([, r]) => Object.entries(r.templates)
    .flatMap(([reason, got]) => Object.keys(got).map((k) => `${reason}\u0000${k}`))))].sort();
  const table = keys.length ? sideTable("studio-rehearse-templates", [w("reason"), w("template"), ...sides.map(([s]) => w(s))], keys, (key) => {
    const [reason, got] = key.split("\u0000");
    return h("tr", { "data-reason": reason, "data-template": got }, h("th", { scope: "row" }, label(REASONS, reason)), h("td", {}, got),
      ...sides.map(([side, r]) => h("td", { "data-side": side }, String((r.templates[reason] || {})[got] || 0))));
  }) : h("p", {}, w("none"));
  return h("section", { class: "card" }, h("h3", {}, w("templates")), table);
}

function stoppedAt(sides) {
  const keys = [...new Set(sides.flatMap(([, r]) => Object.keys(r.stopped_at)))].sort();
  const table = keys.length ? sideTable("studio-rehearse-stopped", [w("task"), ...sides.map(([s]) => w(s))], keys, (key) => h("tr", { "data-task": key },
    h("th", { scope: "row" }, taskName(key)), ...sides.map(([side, r]) => h("td", { "data-side": side }, String(r.stopped_at[key] || 0))))) : h("p", {}, w("none"));
  const problems = sides.flatMap(([side, r]) => Object.entries(r.form_problems || {}).map(([element, message]) =>
    h("li", { "data-side": side, "data-task": element }, `${w(side)} · ${taskName(element)}: ${message}`)));
  return h("section", { class: "card" }, h("h3", {}, w("stopped")), table,
    ...(problems.length ? [h("h4", {}, w("form_problems")), h("ul", { id: "studio-rehearse-form-problems", class: "notice warning" }, ...problems)] : []));
}
