// Role profiles (issue 18; HR, process owners, admins): the facts behind the messages. /app/roles lists every
// profile with its stale fact groups, makes a new one and imports a CSV/XLSX file (a dry run first: a table of
// row, column and problem; then the import, all rows or only the good ones). /app/roles/<key> edits one
// profile (a fieldset per fact group, path stages and stories added and removed, the consented checkbox),
// sets its open positions and aliases, and shows the version history (who, when, the note).
// API: GET/PUT/PATCH /roles/{key}, GET /roles/{key}/versions, POST /roles/import (docs/role-profiles.md).
import { ApiError, get, request } from "../api.js";
import { formatDate, formatDateTime, h, uid } from "../dom.js";
import { lang } from "../i18n.js";
import { errorMessage, go, heading, href, render, state, toast } from "../ui.js";

const localDate = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;

const TEXT = {
  title: ["岗位档案", "Role profiles"],
  intro: ["每个岗位的真实数据:薪资调整、晋升路径、晋升数据、成长故事、导师和政策。推荐消息直接引用这些数据;超过 {days} 天的数据标为过期。",
    "The real figures of each role: salary change, promotion path, promotion figures, growth stories, mentors and policies. Suggested messages quote them; figures older than {days} days are marked stale."],
  list: ["全部岗位", "All roles"],
  none: ["还没有岗位档案。新建一个或导入文件。", "No role profiles yet. Create one or import a file."],
  role: ["岗位", "Role"], team: ["团队", "Team"], location: ["地点", "Location"], any: ["全部", "any"],
  version: ["版本", "Version"], effective: ["生效日期", "Effective from"], openings: ["空缺数", "Open positions"],
  freshness: ["数据状态", "Freshness"], fresh: ["数据有效", "Up to date"], stale: ["已过期", "Stale"],
  stale_groups: ["已过期:{groups}", "Stale: {groups}"], pending: ["v{version} 将于 {date} 生效", "v{version} in force from {date}"],
  not_in_force: ["尚未生效", "Not in force yet"],
  new_title: ["新建岗位档案", "New role profile"], role_key: ["岗位编码", "Role key"],
  role_key_hint: ["小写字母、数字和下划线,例如 backend_engineer", "Lower-case letters, digits and _, e.g. backend_engineer"],
  create: ["新建", "Create"], key_bad: ["岗位编码格式不正确", "Not a valid role key"],
  import_title: ["从文件导入", "Import from a file"],
  import_hint: ["CSV(UTF-8 或 GBK)或 XLSX,每行一个岗位。先检查,没有问题再导入。列名见文档 docs/role-profiles.md。",
    "CSV (UTF-8 or GBK) or XLSX, one role per row. Check first, then import. Columns: docs/role-profiles.md."],
  file: ["文件", "File"], check: ["检查文件", "Check the file"], import_all: ["导入全部 {n} 行", "Import all {n} rows"],
  import_good: ["只导入无误的 {n} 行", "Import only the {n} good rows"],
  report_ok: ["检查通过:新建 {new} 个,更新 {changed} 个,未变化 {unchanged} 个。", "Checked: {new} new, {changed} changed, {unchanged} unchanged."],
  report_bad: ["发现 {n} 个问题,尚未导入任何内容。请修改文件后重新检查,或只导入无误的行。", "{n} problem(s) found; nothing was imported. Fix the file and check it again, or import only the good rows."],
  report_row: ["行", "Row"], report_column: ["列", "Column"], report_message: ["问题", "Problem"],
  imported: ["已导入:新建 {new} 个,更新 {changed} 个,未变化 {unchanged} 个。", "Imported: {new} new, {changed} changed, {unchanged} unchanged."],
  choose_file: ["请选择文件", "Choose a file"],
  // one profile
  back: ["返回岗位列表", "Back to all roles"], title_zh: ["中文名称", "Name (Chinese)"], title_en: ["英文名称", "Name (English)"],
  current: ["当前版本 v{version},{date} 起生效,{who} 于 {when} 修改", "Version {version}, in force from {date}, changed by {who} at {when}"],
  edit: ["编辑岗位信息(保存为新版本)", "Edit the facts (saved as a new version)"],
  as_of: ["数据日期", "Figures as of"], zh: ["中文", "Chinese"], en: ["英文", "English"],
  band_min: ["薪资下限", "Band minimum"], band_max: ["薪资上限", "Band maximum"], currency: ["币种", "Currency"],
  period: ["薪资周期", "Period"], month: ["月", "month"], year: ["年", "year"],
  change_pct: ["调薪幅度(%)", "Salary change (%)"], change_effective: ["调薪生效日期", "Change effective"],
  stages: ["阶段", "Stages"], stage: ["阶段 {n}", "Stage {n}"], stage_key: ["编码", "Key"], stage_name: ["名称", "Name"],
  requirements: ["要求", "Requirements"], typical_months: ["通常月数", "Typical months"],
  add_stage: ["添加阶段", "Add a stage"], remove_stage: ["删除阶段 {n}", "Remove stage {n}"],
  period_months: ["统计周期(月)", "Period (months)"], rate_pct: ["晋升率(%)", "Promotion rate (%)"],
  avg_raise_pct: ["平均涨幅(%)", "Average raise (%)"], headcount: ["统计人数", "Headcount"],
  story: ["故事 {n}", "Story {n}"], joined: ["入职年月(YYYY-MM)", "Joined (YYYY-MM)"], from_stage: ["起始阶段编码", "From stage (key)"],
  to_stage: ["晋升到(阶段编码)", "To stage (key)"], months: ["用时(月)", "Months"], raise_pct: ["涨幅(%)", "Raise (%)"],
  text: ["内容", "Text"], consented: ["本人已同意展示", "The employee agreed to be shown"],
  name: ["姓名(仅在本人同意时显示)", "Name (shown only with consent)"],
  add_story: ["添加故事", "Add a story"], remove_story: ["删除故事 {n}", "Remove story {n}"],
  senior_mentors_added: ["新增资深导师", "Senior mentors added"], one_on_one: ["一对一辅导", "One-on-ones"],
  remote_days_per_week: ["每周远程天数", "Remote days a week"], flexible_hours: ["弹性工作时间", "Flexible hours"],
  training_budget: ["培训预算", "Training budget"], training_budget_currency: ["培训预算币种", "Budget currency"],
  testimonial: ["心声 {n}", "Testimonial {n}"], by: ["来自", "By"], photo_url: ["照片链接", "Photo URL"],
  add_testimonial: ["添加员工心声", "Add a testimonial"], remove_testimonial: ["删除心声 {n}", "Remove testimonial {n}"],
  effective_from: ["本版本生效日期", "This version is in force from"], note: ["修改说明", "What changed"],
  save: ["保存新版本", "Save a new version"], saved: ["已保存 v{version}", "Saved as v{version}"], unchanged: ["内容没有变化,未新建版本", "Nothing changed; no new version"],
  errors: ["有 {n} 处需要修改:", "{n} field(s) to fix:"], conflict: ["别人刚刚修改了这个岗位档案,请刷新后再改。", "Someone else just changed this profile; reload it and apply your change again."],
  role_now: ["空缺与别名", "Openings and aliases"], aliases: ["别名(每行一个,HR 填写的岗位名称)", "Aliases (one per line: names HR types for this role)"],
  save_role: ["保存空缺与别名", "Save openings and aliases"], role_saved: ["已保存", "Saved"],
  history: ["版本历史", "Version history"], changed_by: ["修改人", "Changed by"], changed_at: ["修改时间", "Changed at"],
  in_force: ["生效中", "In force"],
  group_salary: ["薪资", "Salary"], group_path: ["晋升路径", "Promotion path"], group_promotion: ["晋升数据(近 12 个月)", "Promotions (last 12 months)"],
  group_stories: ["成长故事", "Growth stories"], group_mentors: ["导师与团队", "Mentors and team"],
  group_policies: ["政策", "Policies"], group_testimonials: ["员工心声", "Testimonials"],
  group_as_of: ["数据截至 {date}", "as of {date}"], missing: ["未填写", "not filled in"],
};
const GROUPS = ["salary", "path", "promotion", "stories", "mentors", "policies", "testimonials"];

function tr(key, vars = {}) {
  const entry = TEXT[key];
  let text = entry ? entry[lang() === "en" ? 1 : 0] : key;
  for (const [name, value] of Object.entries(vars)) text = text.split(`{${name}}`).join(String(value));
  return text;
}
const bilingual = (text) => (text ? (lang() === "en" ? text.en || text.zh : text.zh || text.en) || "" : "");
const groupNames = (groups) => groups.map((g) => tr(`group_${g}`)).join(lang() === "en" ? ", " : "、");
const scopeQuery = (p) => {
  const q = new URLSearchParams();
  if (p.team) q.set("team", p.team);
  if (p.location) q.set("location", p.location);
  const s = q.toString();
  return s ? `?${s}` : "";
};
const roleHref = (p) => href(`roles/${encodeURIComponent(p.role_key)}${scopeQuery(p)}`);

function staleBadge(profile) {
  if (!Object.keys(profile.facts || {}).length) return h("span", { class: "badge" }, tr("missing"));
  return profile.stale_groups.length
    ? h("span", { class: "badge status-waiting", "data-stale": profile.stale_groups.join(" ") },
      tr("stale_groups", { groups: groupNames(profile.stale_groups) }))
    : h("span", { class: "badge ok" }, tr("fresh"));
}

// ---------------------------------------------------------------- the list
function listCard(items) {
  const id = uid("roles");
  if (!items.length) return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, tr("list")), h("p", {}, tr("none")));
  return h("section", { class: "card", "aria-labelledby": id }, h("h2", { id }, tr("list")),
    h("table", { id: "roles-table" },
      h("thead", {}, h("tr", {}, ...["role", "team", "location", "version", "openings", "freshness"]
        .map((k) => h("th", { scope: "col" }, tr(k))))),
      h("tbody", {}, ...items.map((p) => h("tr", { "data-role": p.role_key, "data-team": p.team || "" },
        h("td", {}, h("a", { href: roleHref(p) }, bilingual(p.title) || p.role_key), h("div", { class: "hint" }, p.role_key)),
        h("td", {}, p.team || tr("any")), h("td", {}, p.location || tr("any")),
        h("td", {}, p.version ? `v${p.version} · ${formatDate(p.effective_from)}` : tr("not_in_force"),
          p.pending ? h("div", { class: "hint" }, tr("pending", { version: p.pending.version, date: formatDate(p.pending.effective_from) })) : null),
        h("td", {}, String(p.open_positions)),
        h("td", {}, staleBadge(p)))))));
}

function newCard() {
  const id = uid("new");
  const key = h("input", { id: `${id}-key`, type: "text", required: true, spellcheck: "false", autocomplete: "off",
    pattern: "[a-z0-9_\\p{L}]+", "aria-describedby": `${id}-key-help ${id}-key-err` });
  const error = h("p", { class: "field-error", id: `${id}-key-err`, hidden: true });
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": id },
    h("h2", { id }, tr("new_title")),
    h("div", { class: "field" }, h("label", { for: key.id }, tr("role_key")),
      h("p", { class: "hint", id: `${id}-key-help` }, tr("role_key_hint")), key, error),
    h("button", { type: "submit", class: "primary" }, tr("create")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = key.value.trim();
    if (!/^[^\W_][\w]{0,63}$/u.test(value) || value !== value.toLowerCase()) {
      error.textContent = tr("key_bad");
      error.hidden = false;
      key.setAttribute("aria-invalid", "true");
      key.focus();
      return;
    }
    go(`roles/${encodeURIComponent(value)}?new=1`);
  });
  return form;
}

async function upload(file, { dryRun, onlyValid = false }) {
  const body = new FormData();
  body.append("file", file, file.name);
  const query = `?dry_run=${dryRun}&only_valid=${onlyValid}`;
  try {
    return (await request("POST", `/roles/import${query}`, { body })).data;
  } catch (err) {
    if (err instanceof ApiError && err.problem && err.problem.report) return err.problem.report;
    throw err;
  }
}

function reportView(report) {
  const c = report.counts;
  if (!report.errors.length) return h("p", { role: "status", class: "notice info" }, tr(report.dry_run ? "report_ok" : "imported", c));
  return h("div", { id: "import-report" },
    h("p", { role: "alert", class: "notice error" }, tr("report_bad", { n: report.errors.length })),
    h("table", {},
      h("caption", { class: "visually-hidden" }, tr("import_title")),
      h("thead", {}, h("tr", {}, ...["report_row", "report_column", "report_message"].map((k) => h("th", { scope: "col" }, tr(k))))),
      h("tbody", {}, ...report.errors.map((e) => h("tr", { "data-row": e.row },
        h("td", {}, String(e.row)), h("td", {}, e.column), h("td", {}, e.message))))));
}

function importCard() {
  const id = uid("import");
  const file = h("input", { id: `${id}-file`, type: "file", accept: ".csv,.xlsx,text/csv,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "aria-describedby": `${id}-help` });
  const result = h("div", { "aria-live": "polite" });
  const check = h("button", { type: "submit", class: "primary" }, tr("check"));
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": id },
    h("h2", { id }, tr("import_title")),
    h("div", { class: "field" }, h("label", { for: file.id }, tr("file")), h("p", { class: "hint", id: `${id}-help` }, tr("import_hint")), file),
    check, result);
  const run = async (options) => {
    const chosen = file.files && file.files[0];
    if (!chosen) { result.replaceChildren(h("p", { class: "field-error" }, tr("choose_file"))); file.focus(); return; }
    for (const b of form.querySelectorAll("button")) b.disabled = true;
    try {
      const report = await upload(chosen, options);
      result.replaceChildren(reportView(report));
      if (report.dry_run) {
        const good = report.rows.filter((r) => r.status !== "error").length;
        if (!report.errors.length && good) {
          result.append(h("button", { type: "button", class: "primary", id: "import-confirm", onclick: () => run({ dryRun: false }) },
            tr("import_all", { n: good })));
        } else if (good) {
          result.append(h("button", { type: "button", id: "import-good", onclick: () => run({ dryRun: false, onlyValid: true }) },
            tr("import_good", { n: good })));
        }
      } else if (report.written || !report.errors.length) {
        toast(tr("imported", report.counts));
        render();
      }
    } catch (err) {
      result.replaceChildren(h("p", { role: "alert", class: "notice error" }, errorMessage(err)));
    } finally {
      for (const b of form.querySelectorAll("button")) b.disabled = false;
    }
  };
  form.addEventListener("submit", (event) => { event.preventDefault(); run({ dryRun: true }); });
  file.addEventListener("change", () => result.replaceChildren());
  return form;
}

export async function rolesPage(body) {
  const items = (await get("/roles")).items;
  const days = items[0] ? items[0].max_age_days : 365;
  body.append(heading(tr("title")), h("p", { class: "hint" }, tr("intro", { days })),
    listCard(items), importCard(), newCard());
}

// ---------------------------------------------------------------- one profile: the form
let seq = 0;
function input(path, label, { kind = "text", value, hint, ...attrs } = {}) {
  const id = `rf-${++seq}`;
  const types = { int: "number", number: "number", date: "date", month: "month", bool: "checkbox" };
  const el = kind === "textarea"
    ? h("textarea", { id, rows: 2, maxlength: 2000, "data-path": path, "data-kind": kind, "aria-describedby": `${id}-err` })
    : h("input", { id, type: types[kind] || "text", "data-path": path, "data-kind": kind, "aria-describedby": `${id}-err`,
      step: kind === "number" ? "any" : null, ...attrs });
  if (kind === "bool") el.checked = value === true;
  else if (value !== undefined && value !== null) el.value = String(value);
  const error = h("p", { class: "field-error", id: `${id}-err`, hidden: true });
  const wrap = h("div", { class: `field${kind === "bool" ? " check" : ""}`, "data-field": path });
  if (kind === "bool") wrap.append(el, " ", h("label", { for: id }, label), error);
  else wrap.append(h("label", { for: id }, label), hint ? h("p", { class: "hint" }, hint) : null, el, error);
  return wrap;
}

function textPair(path, label, value, kind = "text") {
  return h("fieldset", { class: "field pair", "data-field": path }, h("legend", {}, label),
    input(`${path}.zh`, tr("zh"), { kind, value: value && value.zh }),
    input(`${path}.en`, tr("en"), { kind, value: value && value.en }));
}

function groupBox(group, profile, ...children) {
  const asOf = profile.as_of[group];
  const stale = profile.stale_groups.includes(group);
  return h("fieldset", { class: "card group", "data-group": group },
    h("legend", {}, tr(`group_${group}`), " ",
      asOf ? h("span", { class: `badge ${stale ? "status-waiting" : "ok"}`, "data-as-of": group },
        `${tr("group_as_of", { date: asOf })}${stale ? ` · ${tr("stale")}` : ""}`) : null),
    input(`${group}.as_of`, tr("as_of"), { kind: "date", value: asOf }),
    ...children);
}

function itemList(group, items, { make, addLabel }) {
  const list = h("div", { class: "items", "data-items": group });
  const renumber = () => {
    [...list.children].forEach((item, i) => {
      item.querySelector(".item-title").textContent = make.title(i + 1);
      const remove = item.querySelector(".item-remove");
      remove.textContent = make.remove(i + 1);
      for (const el of item.querySelectorAll("[data-path]")) {
        el.dataset.path = el.dataset.path.replace(/^([a-z]+\.[a-z]+)\.\d+\./, `$1.${i}.`);
        el.closest("[data-field]").dataset.field = el.dataset.path;
      }
    });
  };
  const add = (value) => {
    const i = list.children.length;
    const item = h("fieldset", { class: "item" }, h("legend", { class: "item-title" }, make.title(i + 1)),
      ...make.fields(`${group}.${i}`, value || {}),
      h("button", { type: "button", class: "item-remove", onclick: () => { item.remove(); renumber(); addButton.focus(); } }, make.remove(i + 1)));
    list.append(item);
    return item;
  };
  (items || []).forEach(add);
  const addButton = h("button", { type: "button", class: "item-add", onclick: () => {
    const item = add();
    item.querySelector("input, textarea").focus();
  } }, addLabel);
  return [list, addButton];
}

function factsForm(profile) {
  const f = profile.facts || {};
  const s = f.salary || {};
  const pr = f.promotion || {};
  const m = f.mentors || {};
  const po = f.policies || {};
  const period = h("select", { id: `rf-${++seq}`, "data-path": "salary.period", "data-kind": "text" },
    h("option", { value: "" }, "—"), ...["month", "year"].map((p) => h("option", { value: p, selected: s.period === p ? true : null }, tr(p))));
  const stages = itemList("path.stages", (f.path || {}).stages, { addLabel: tr("add_stage"), make: {
    title: (n) => tr("stage", { n }), remove: (n) => tr("remove_stage", { n }),
    fields: (p, v) => [input(`${p}.key`, tr("stage_key"), { value: v.key, spellcheck: "false" }),
      textPair(`${p}.name`, tr("stage_name"), v.name), textPair(`${p}.requirements`, tr("requirements"), v.requirements, "textarea"),
      input(`${p}.typical_months`, tr("typical_months"), { kind: "int", value: v.typical_months, min: 0 })] } });
  const stories = itemList("stories.items", (f.stories || {}).items, { addLabel: tr("add_story"), make: {
    title: (n) => tr("story", { n }), remove: (n) => tr("remove_story", { n }),
    fields: (p, v) => [input(`${p}.consented`, tr("consented"), { kind: "bool", value: v.consented }),
      input(`${p}.joined`, tr("joined"), { value: v.joined, placeholder: "2023-03" }),
      input(`${p}.from_stage`, tr("from_stage"), { value: v.from_stage }), input(`${p}.to_stage`, tr("to_stage"), { value: v.to_stage }),
      input(`${p}.months`, tr("months"), { kind: "int", value: v.months, min: 0 }),
      input(`${p}.raise_pct`, tr("raise_pct"), { kind: "number", value: v.raise_pct }),
      textPair(`${p}.text`, tr("text"), v.text, "textarea"), input(`${p}.name`, tr("name"), { value: v.name })] } });
  const testimonials = itemList("testimonials.items", (f.testimonials || {}).items, { addLabel: tr("add_testimonial"), make: {
    title: (n) => tr("testimonial", { n }), remove: (n) => tr("remove_testimonial", { n }),
    fields: (p, v) => [input(`${p}.consented`, tr("consented"), { kind: "bool", value: v.consented }),
      textPair(`${p}.text`, tr("text"), v.text, "textarea"), textPair(`${p}.by`, tr("by"), v.by),
      input(`${p}.photo_url`, tr("photo_url"), { value: v.photo_url, type: "url" })] } });
  return [
    groupBox("salary", profile,
      input("salary.band_min", tr("band_min"), { kind: "number", value: s.band_min, min: 0 }),
      input("salary.band_max", tr("band_max"), { kind: "number", value: s.band_max, min: 0 }),
      input("salary.currency", tr("currency"), { value: s.currency, maxlength: 3, placeholder: "CNY" }),
      h("div", { class: "field", "data-field": "salary.period" }, h("label", { for: period.id }, tr("period")), period,
        h("p", { class: "field-error", hidden: true })),
      input("salary.change_pct", tr("change_pct"), { kind: "number", value: s.change_pct }),
      input("salary.change_effective", tr("change_effective"), { kind: "date", value: s.change_effective })),
    groupBox("path", profile, h("h3", {}, tr("stages")), ...stages),
    groupBox("promotion", profile,
      input("promotion.period_months", tr("period_months"), { kind: "int", value: pr.period_months, min: 1 }),
      input("promotion.rate_pct", tr("rate_pct"), { kind: "number", value: pr.rate_pct }),
      input("promotion.avg_raise_pct", tr("avg_raise_pct"), { kind: "number", value: pr.avg_raise_pct }),
      input("promotion.headcount", tr("headcount"), { kind: "int", value: pr.headcount, min: 0 })),
    groupBox("stories", profile, ...stories),
    groupBox("mentors", profile,
      input("mentors.senior_mentors_added", tr("senior_mentors_added"), { kind: "int", value: m.senior_mentors_added, min: 0 }),
      textPair("mentors.one_on_one", tr("one_on_one"), m.one_on_one), textPair("mentors.text", tr("text"), m.text, "textarea")),
    groupBox("policies", profile,
      input("policies.remote_days_per_week", tr("remote_days_per_week"), { kind: "number", value: po.remote_days_per_week, min: 0, max: 7 }),
      input("policies.flexible_hours", tr("flexible_hours"), { kind: "bool", value: po.flexible_hours }),
      input("policies.training_budget", tr("training_budget"), { kind: "number", value: po.training_budget, min: 0 }),
      input("policies.training_budget_currency", tr("training_budget_currency"), { value: po.training_budget_currency, maxlength: 3, placeholder: "CNY" }),
      textPair("policies.text", tr("text"), po.text, "textarea")),
    groupBox("testimonials", profile, ...testimonials),
  ];
}

// what the form says, as the facts document: a group with nothing but its date is left out
function collect(form) {
  const facts = {};
  for (const el of form.querySelectorAll("[data-path]")) {
    const kind = el.dataset.kind;
    let value;
    if (kind === "bool") value = el.checked;
    else if (el.value.trim() === "") continue;
    else if (kind === "int" || kind === "number") value = Number(el.value);
    else value = el.value.trim();
    const parts = el.dataset.path.split(".");
    let node = facts;
    parts.forEach((part, i) => {
      if (i === parts.length - 1) { node[part] = value; return; }
      if (!(part in node)) node[part] = /^\d+$/.test(parts[i + 1]) ? [] : {};
      node = node[part];
    });
  }
  for (const [group, values] of Object.entries(facts)) {
    for (const key of ["stages", "items"]) {
      if (Array.isArray(values[key])) values[key] = values[key].filter(Boolean);
    }
    for (const item of values.items || []) if (item.consented === undefined) item.consented = false;
    // an unticked box alone (flexible hours) says nothing: the group stays out
    const meaningful = Object.entries(values).filter(([k, v]) => k !== "as_of" && v !== false && !(Array.isArray(v) && !v.length));
    if (!meaningful.length) delete facts[group];
  }
  return facts;
}

function showErrors(form, summary, errors) {
  for (const el of form.querySelectorAll(".field-error")) { el.hidden = true; el.textContent = ""; }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  const lines = [];
  let first = null;
  for (const e of errors) {
    const path = e.field.replace(/^facts\./, "").replace(/\[(\d+)\]/g, ".$1");
    let field = null;
    for (let p = path; p && !field; p = p.includes(".") ? p.slice(0, p.lastIndexOf(".")) : "") {
      field = form.querySelector(`[data-field="${CSS.escape(p)}"]`);
    }
    if (field) {
      const msg = field.querySelector(":scope > .field-error");
      if (msg) { msg.textContent = e.message; msg.hidden = false; }
      const control = field.querySelector("input, select, textarea");
      if (control) { control.setAttribute("aria-invalid", "true"); first = first || control; }
    }
    lines.push(`${e.field}: ${e.message}`);
  }
  summary.replaceChildren(...(lines.length ? [h("p", {}, tr("errors", { n: lines.length })), h("ul", {}, ...lines.map((l) => h("li", {}, l)))] : []));
  summary.hidden = !lines.length;
  if (first) first.focus();
  else if (lines.length) summary.focus();
}

function editForm(key, scope, profile, etag) {
  const id = uid("edit");
  const today = localDate(state.me && state.me.now ? new Date(state.me.now) : new Date());   // the server's clock
  const summary = h("div", { class: "notice error", role: "alert", tabindex: "-1", hidden: true, id: "role-errors" });
  const titleZh = input("title.zh", tr("title_zh"), { value: profile.title && profile.title.zh });
  const titleEn = input("title.en", tr("title_en"), { value: profile.title && profile.title.en });
  for (const w of [titleZh, titleEn]) w.querySelector("input").removeAttribute("data-path");
  const effective = input("effective_from", tr("effective_from"), { kind: "date", value: today });
  const note = input("note", tr("note"), { kind: "textarea" });
  for (const w of [effective, note]) w.querySelector("[data-path]").removeAttribute("data-path");
  const submit = h("button", { type: "submit", class: "primary" }, tr("save"));
  const form = h("form", { novalidate: true, "aria-labelledby": id, id: "role-form" },
    h("h2", { id }, tr("edit")), summary,
    h("div", { class: "card" }, titleZh, titleEn), ...factsForm(profile),
    h("div", { class: "card" }, effective, note, submit));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    submit.disabled = true;
    const body = {
      title: Object.fromEntries([["zh", titleZh], ["en", titleEn]].map(([l, w]) => [l, w.querySelector("input").value.trim()]).filter(([, v]) => v)),
      facts: collect(form), effective_from: effective.querySelector("input").value, note: note.querySelector("textarea").value.trim(),
      ...scope };
    try {
      const answer = await request("PUT", `/roles/${encodeURIComponent(key)}`, { body, headers: etag ? { "If-Match": etag } : { "If-Match": '"v0"' } });
      toast(answer.data.latest_version === profile.latest_version ? tr("unchanged") : tr("saved", { version: answer.data.latest_version }));
      go(`roles/${encodeURIComponent(key)}${scopeQuery(scope)}`, { replace: true });
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) showErrors(form, summary, [{ field: "", message: tr("conflict") }]);
      else if (err instanceof ApiError && err.errors.length) {
        showErrors(form, summary, err.errors.map((e) => ({ field: e.field.replace(/^title\./, "title."), message: e.message })));
      } else showErrors(form, summary, [{ field: "", message: errorMessage(err) }]);
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function roleNowCard(key, profile) {
  const id = uid("now");
  const openings = input("open_positions", tr("openings"), { kind: "int", value: profile.open_positions, min: 0 });
  const aliases = input("aliases", tr("aliases"), { kind: "textarea", value: (profile.aliases || []).join("\n") });
  for (const w of [openings, aliases]) w.querySelector("[data-path]").removeAttribute("data-path");
  const error = h("p", { class: "field-error", role: "alert", hidden: true });
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": id, id: "role-now" },
    h("h2", { id }, tr("role_now")), openings, aliases, error, h("button", { type: "submit" }, tr("save_role")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      await request("PATCH", `/roles/${encodeURIComponent(key)}`, { body: {
        open_positions: Number(openings.querySelector("input").value || 0),
        aliases: aliases.querySelector("textarea").value.split("\n").map((a) => a.trim()).filter(Boolean) } });
      toast(tr("role_saved"));
      render();
    } catch (err) {
      error.textContent = err instanceof ApiError && err.errors.length ? err.errors.map((e) => `${e.field}: ${e.message}`).join("; ") : errorMessage(err);
      error.hidden = false;
    }
  });
  return form;
}

function historyCard(versions) {
  const id = uid("history");
  return h("section", { class: "card", "aria-labelledby": id, id: "role-history" }, h("h2", { id }, tr("history")),
    h("table", {},
      h("thead", {}, h("tr", {}, ...["version", "effective", "changed_by", "changed_at", "note"].map((k) => h("th", { scope: "col" }, tr(k))))),
      h("tbody", {}, ...versions.map((v) => h("tr", { "data-version": v.version },
        h("td", {}, `v${v.version}`, v.in_force ? [" ", h("span", { class: "badge ok" }, tr("in_force"))] : null),
        h("td", {}, formatDate(v.effective_from)), h("td", {}, v.changed_by), h("td", {}, formatDateTime(v.changed_at)),
        h("td", {}, v.note || "—"))))));
}

export async function rolePage(body, ctx, key) {
  const scope = { team: ctx.query.get("team") || null, location: ctx.query.get("location") || null };
  let profile = null;
  let etag = null;
  try {
    const answer = await request("GET", `/roles/${encodeURIComponent(key)}${scopeQuery(scope)}`);
    profile = answer.data;
    etag = answer.etag;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404 && ctx.query.get("new"))) throw err;
  }
  const empty = { role_key: key, ...scope, title: {}, facts: {}, as_of: {}, stale_groups: [], aliases: [], open_positions: 0, latest_version: 0 };
  const shown = profile || empty;
  body.append(h("p", {}, h("a", { href: href("roles") }, tr("back"))),
    heading(bilingual(shown.title) || key),
    h("p", { class: "hint" }, [key, scope.team, scope.location].filter(Boolean).join(" · ")));
  if (profile && profile.version) {
    body.append(h("p", {}, tr("current", { version: profile.version, date: formatDate(profile.effective_from),
      who: profile.changed_by, when: formatDateTime(profile.changed_at) }), " ", staleBadge(profile)));
  }
  if (profile && profile.pending) {
    body.append(h("p", { class: "notice info" }, tr("pending", { version: profile.pending.version, date: formatDate(profile.pending.effective_from) })));
  }
  body.append(editForm(key, scope, shown, etag));
  if (profile) {
    body.append(roleNowCard(key, profile));
    body.append(historyCard((await get(`/roles/${encodeURIComponent(key)}/versions${scopeQuery(scope)}`)).items));
  }
}

