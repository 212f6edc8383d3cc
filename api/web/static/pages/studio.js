// The process owner's studio (issue 19, docs/studio.md): my drafts of the bundle, and a draft's editor —
// the bpmn-js MODELER (vendor/bpmn-js-modeler) with our own properties panel for what the engine reads,
// live checks (POST /studio/check, debounced) pinned to their elements, a DMN tab (dmn-js modeler),
// forms (JSON + a live preview with the workspace's own renderer), templates, the diff on the diagram,
// deploy with a note and the migration of running cases (dry run, choose, move). Nothing here runs a
// case: a draft is only text until it is deployed.
import { ApiError, get, post, request } from "../api.js";
import { h, uid } from "../dom.js";
import { SchemaForm } from "../form.js";
import { lang } from "../i18n.js";
import { setDirty } from "../keep.js";
import { migrationForm } from "./studio_migrate.js";
import { drawRehearse } from "./studio_rehearse.js";
import { alertBox, errorMessage, go, heading, href, toast } from "../ui.js";

const STATIC = `${document.documentElement.dataset.base || "/app/"}static/`;
const W = {
  title: ["流程工作室", "Process studio"],
  intro: ["在草稿里修改流程、表单、决策表和模板。草稿只是文本：在部署之前，什么都不会运行。",
    "Change the processes, forms, decision tables and templates in a draft. A draft is only text: nothing runs until it is deployed."],
  my_drafts: ["我的草稿", "My drafts"],
  none: ["还没有草稿。", "No drafts yet."],
  new_draft: ["从已部署版本新建草稿", "New draft from the deployed version"],
  draft_title: ["草稿标题", "Draft title"],
  open: ["打开", "Open"],
  updated: ["更新于", "Updated"],
  based_on: ["基于", "Based on"],
  tab_bpmn: ["流程图", "Diagram"], tab_dmn: ["决策表", "Decision tables"], tab_forms: ["表单", "Forms"],
  tab_templates: ["模板", "Templates"], tab_rehearse: ["预演", "Rehearse"], tab_rollout: ["发布", "Roll out"],
  save: ["保存草稿", "Save draft"], saved: ["草稿已保存", "Draft saved"], unsaved: ["有未保存的修改", "Unsaved changes"],
  conflict: ["草稿已在别处修改，请重新打开。", "The draft was changed elsewhere; open it again."],
  checks: ["实时检查", "Live checks"], checks_ok: ["没有发现问题。", "No problems found."],
  checking: ["检查中…", "Checking…"],
  props: ["属性", "Properties"], pick_element: ["在图上选择一个元素。", "Select an element on the diagram."],
  name: ["名称", "Name"], id: ["编号", "Id"], type: ["类型", "Type"], lane: ["泳道", "Lane"],
  timer: ["定时表达式", "Timer expression"], timer_kind: ["定时类型", "Timer kind"],
  reading: ["含义", "Reading"],
  form: ["表单文件", "Form file"], message: ["消息名", "Message name"], called: ["调用的流程", "Called process"],
  decision: ["决策表", "Decision table"], script: ["脚本", "Script"], condition: ["条件", "Condition"],
  script_note: ["受限的 Python：只能用表达式和简单赋值，不能 import，文本要加引号（\"P60D\"）。",
    "Restricted Python: expressions and simple assignments only, no imports; text needs quotes (\"P60D\")."],
  dmn_file: ["决策表文件", "Decision file"], form_file: ["表单", "Form"], preview: ["预览", "Preview"],
  json_bad: ["JSON 无效", "Invalid JSON"], template_file: ["模板", "Template"],
  template_note: ["预览在服务器端用示例候选人和所选的岗位档案渲染（默认用示例岗位档案）。",
    "The preview is rendered on the server for a sample candidate and the chosen role profile (the sample profile by default)."],
  lane_group: ["对应用户组", "Group"], lane_no_group: ["没有用户组对应这个泳道：它的任务不会出现在任何人的待办里。",
    "No group maps to this lane: its tasks reach nobody's queue."],
  lane_move: ["移到泳道", "Move to lane"],
  decision_unknown: ["（草稿的决策表里没有）", "(not in the draft's decision tables)"],
  called_unknown: ["（草稿里没有这个流程）", "(no such process in the draft)"],
  correlation: ["关联", "Correlation"], buffer: ["提前到达时保留", "Kept if early"], never: ["不保留", "never"],
  message_unknown: ["messages.json 里没有这个消息：引擎不会接受它。", "messages.json does not define this message: the engine will not accept it."],
  role_profile: ["岗位档案", "Role profile"], sample_profile: ["示例岗位档案", "sample role profile"],
  profile_used: ["使用的档案", "Profile used"], facts_used: ["用到的岗位信息", "Role facts used"],
  facts_missing: ["缺少的岗位信息", "Role facts missing"], sample_for: ["（该岗位暂无生效的档案，用示例）", "(no profile in force for this role: the sample)"],
  diff: ["与已部署版本比较", "Compare with the deployed version"], diff_none: ["没有改动。", "No changes."],
  annotation: ["注释", "annotation"], order: ["顺序", "order"],
  added: ["新增", "added"], removed: ["删除", "removed"], changed: ["修改", "changed"],
  deploy: ["部署", "Deploy"], note: ["变更说明（必填）", "Change note (required)"],
  deployed: ["已部署", "Deployed"], deploy_warnings: ["已部署，但请留意这些提醒：", "Deployed; mind these warnings:"], new_version: ["新版本", "new version"], note_needed: ["请填写变更说明。", "Write a change note."],
};
const w = (key) => W[key][lang() === "en" ? 1 : 0];
// a changed value in the diff: text as it is, in quotes (not JSON-escaped), anything else as JSON; none as —
const shown = (v) => (v === null || v === undefined ? "—" : typeof v === "string" ? `«${v}»` : JSON.stringify(v));

// ---------------------------------------------------------------- vendored libraries
const loaded = new Map();
function loadScript(src, global, css) {
  if (!loaded.has(src)) {
    loaded.set(src, new Promise((resolve, reject) => {
      for (const c of css) {
        if (!document.querySelector(`link[href="${STATIC}${c}"]`)) {
          document.head.append(h("link", { rel: "stylesheet", href: STATIC + c }));
        }
      }
      const script = h("script", { src: STATIC + src });
      script.addEventListener("load", () => resolve(window[global]));
      script.addEventListener("error", () => reject(new Error(src)));
      document.head.append(script);
    }));
  }
  return loaded.get(src);
}
const loadModeler = () => loadScript("vendor/bpmn-js-modeler/bpmn-modeler.production.min.js", "BpmnJS",
  ["vendor/bpmn-js-modeler/diagram-js.css", "vendor/bpmn-js-modeler/bpmn-js.css",
    "vendor/bpmn-js-modeler/bpmn-font/css/bpmn.css"]);
const loadDmn = () => loadScript("vendor/dmn-js/dmn-modeler.production.min.js", "DmnJS",
  ["vendor/dmn-js/diagram-js.css", "vendor/dmn-js/dmn-js-shared.css", "vendor/dmn-js/dmn-js-drd.css",
    "vendor/dmn-js/dmn-js-decision-table.css", "vendor/dmn-js/dmn-js-decision-table-controls.css",
    "vendor/dmn-js/dmn-js-literal-expression.css", "vendor/dmn-js/dmn-font/css/dmn.css"]);

// ---------------------------------------------------------------- timer words
const UNITS = { Y: ["年", "years"], M: ["个月", "months"], W: ["周", "weeks"], D: ["天", "days"],
  H: ["小时", "hours"], MIN: ["分钟", "minutes"], S: ["秒", "seconds"] };
export function durationWords(iso) {
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/.exec(iso);
  if (!m || iso === "P" || iso.endsWith("T")) return null;
  const keys = ["Y", "M", "W", "D", "H", "MIN", "S"];
  const en = lang() === "en";
  const parts = keys.map((k, i) => (m[i + 1] ? (en ? `${+m[i + 1]} ${UNITS[k][1]}` : `${+m[i + 1]} ${UNITS[k][0]}`) : null))
    .filter(Boolean);
  return parts.join(en ? " " : "");
}
// "P90D" → "90 天后 / 90 days after"; add_duration(decline_date, "P90D") → its words; else null
export function timerReading(expr, kind) {
  const text = (expr || "").trim();
  const en = lang() === "en";
  const quoted = /^"(P[^"]+)"$/.exec(text);
  if (quoted && durationWords(quoted[1])) {
    const d = durationWords(quoted[1]);
    return kind === "timeCycle" ? (en ? `every ${d}` : `每 ${d}`) : (en ? `${d} after it starts waiting` : `开始等待 ${d}后`);
  }
  if (/^P[0-9]/.test(text)) return en ? "Not quoted: write \"" + text + "\"" : `没有引号：请写成 "${text}"`;
  const adds = [...text.matchAll(/add_duration\(\s*([a-z_]+)\s*,\s*"(P[^"]+)"\s*\)/g)];
  if (adds.length) {
    return adds.map(([, base, iso]) => (en ? `${durationWords(iso) || iso} after ${base}` : `${base} 之后 ${durationWords(iso) || iso}`))
      .join(en ? "; otherwise " : "；否则 ") + (text.includes(" if ") ? (en ? " (unless the case sets its own date)" : "（除非案例自带日期）") : "");
  }
  const date = /^"(\d{4}-\d\d-\d\d)(T[^"]*)?"$/.exec(text);
  if (date) return en ? `on ${date[1]}` : `在 ${date[1]}`;
  return null;
}

// ---------------------------------------------------------------- what the draft defines
const BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL";
const SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core";
// "Hiring Manager" → "hiring_manager": the group a lane's tasks go to (engine/sidetables.py lane_group)
export function laneGroup(name) {
  return (name || "").trim().toLowerCase().replace(/[^0-9a-z]+/g, "_").replace(/^_+|_+$/g, "") || null;
}
function parseXml(text) {
  const doc = new DOMParser().parseFromString(text || "", "application/xml");
  return doc.getElementsByTagName("parsererror").length ? null : doc;
}

// ---------------------------------------------------------------- the list
async function draftList(body) {
  const drafts = (await get("/studio/drafts")).items;
  const id = uid("drafts");
  const list = drafts.length ? h("table", { class: "table", id: "studio-drafts" },
    h("thead", {}, h("tr", {}, h("th", {}, w("draft_title")), h("th", {}, w("based_on")), h("th", {}, w("updated")))),
    h("tbody", {}, ...drafts.map((d) => h("tr", {},
      h("td", {}, h("a", { href: href(`studio?draft=${encodeURIComponent(d.id)}`) }, d.title)),
      h("td", {}, Object.entries(d.based_on).map(([k, v]) => `${k} v${v}`).join(", ")),
      h("td", {}, new Date(d.updated_at).toLocaleString()))))) : h("p", {}, w("none"));
  const titleInput = h("input", { id: `${id}-title`, name: "title", required: true, maxlength: "200",
    value: `${w("title")} ${new Date().toISOString().slice(0, 10)}` });
  const form = h("form", { class: "card", id: "new-draft" },
    h("div", { class: "field" }, h("label", { for: titleInput.id }, w("draft_title")), titleInput),
    h("button", { type: "submit", class: "primary" }, w("new_draft")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const draft = await post("/studio/drafts", { title: titleInput.value.trim(), source: "deployed" });
      go(`studio?draft=${encodeURIComponent(draft.id)}`);
    } catch (err) { form.append(alertBox(errorMessage(err))); }
  });
  body.append(h("section", { class: "card" }, h("h2", {}, w("my_drafts")), list), form);
}

// ---------------------------------------------------------------- the editor
class Editor {
  constructor(body, draft, etag) {
    this.body = body;
    this.draft = draft;
    this.etag = etag;
    this.files = { ...draft.files };
    this.forms = { ...draft.forms };
    this.changed = false;
    this.bpmnPaths = Object.keys(this.files).filter((p) => p.endsWith(".bpmn")).sort();
    this.bpmnPath = this.bpmnPaths.includes("offer_recall.bpmn") ? "offer_recall.bpmn" : this.bpmnPaths[0];
    this.diagnostics = [];
    this.overlayIds = [];
    this.markers = [];
    this.checkSeq = 0;
  }

  async draw() {
    const b = this.body;
    this.status = h("p", { id: "studio-status", class: "hint", "aria-live": "polite" });
    const save = h("button", { type: "button", class: "primary", id: "studio-save" }, w("save"));
    save.addEventListener("click", () => this.save());
    b.append(h("div", { class: "actions" }, save, this.status));
    const tabs = ["bpmn", "dmn", "forms", "templates", "rehearse", "rollout"];
    this.panes = {};
    const bar = h("div", { role: "tablist", class: "tabs", id: "studio-tabs" });
    for (const key of tabs) {
      const button = h("button", { type: "button", role: "tab", id: `tab-${key}`, "aria-selected": key === "bpmn" ? "true" : "false" }, w(`tab_${key}`));
      button.addEventListener("click", () => this.showTab(key));
      bar.append(button);
      this.panes[key] = h("section", { role: "tabpanel", id: `pane-${key}`, "aria-labelledby": `tab-${key}`, hidden: key !== "bpmn" });
    }
    b.append(bar, ...tabs.map((k) => this.panes[k]));
    await this.drawBpmn();
    this.drawForms();
    this.drawTemplates();
    drawRehearse(this, this.panes.rehearse);
    this.drawRollout();
    this.timer = setInterval(() => { if (!document.body.contains(b)) clearInterval(this.timer); else if (this.changed && !this.conflicted) this.save(); }, 30000);
    this.scheduleCheck(0);
  }

  showTab(key) {
    for (const [k, pane] of Object.entries(this.panes)) {
      pane.hidden = k !== key;
      document.getElementById(`tab-${k}`).setAttribute("aria-selected", String(k === key));
    }
    if (key === "dmn" && !this.dmnDrawn) this.drawDmn();
  }

  markChanged() {
    this.changed = true;
    setDirty(true);
    this.status.textContent = w("unsaved");
    this.scheduleCheck();
  }

  // ------------------------------------------------ BPMN
  async drawBpmn() {
    const pane = this.panes.bpmn;
    const pickFile = h("select", { id: "studio-bpmn-file", "aria-label": w("tab_bpmn") },
      ...this.bpmnPaths.map((p) => h("option", { value: p, selected: p === this.bpmnPath ? true : null }, p)));
    pickFile.addEventListener("change", async () => { await this.syncXml(); this.bpmnPath = pickFile.value; await this.importBpmn(); });
    this.canvasHost = h("div", { id: "studio-canvas", class: "studio-canvas", style: "height:560px;border:1px solid #ccc;background:#fff" });
    this.propsEl = h("aside", { id: "studio-props", class: "card", "aria-label": w("props") });
    this.diagList = h("section", { id: "studio-checks", class: "card", "aria-live": "polite" });
    pane.append(pickFile,
      h("div", { style: "display:grid;grid-template-columns:minmax(0,1fr) 22rem;gap:1rem" }, this.canvasHost, this.propsEl),
      this.diagList);
    const BpmnJS = await loadModeler();
    this.modeler = new BpmnJS({ container: this.canvasHost });
    this.modeler.on("commandStack.changed", () => { if (!this.importing) this.markChanged(); });
    this.modeler.on("selection.changed", ({ newSelection }) => this.drawProps(newSelection[0]));
    this.modeler.on("element.changed", ({ element }) => { if (this.selected && element.id === this.selected.id) this.drawProps(element, true); });
    await this.importBpmn();
  }

  async importBpmn() {
    this.importing = true;
    try { await this.modeler.importXML(this.files[this.bpmnPath]); } finally { this.importing = false; }
    this.modeler.get("canvas").zoom("fit-viewport");
    this.drawProps(null);
    this.pinDiagnostics();
  }

  async syncXml() {
    if (!this.modeler || !this.changed) return;
    const { xml } = await this.modeler.saveXML({ format: true });
    this.files[this.bpmnPath] = xml;
    if (this.dmnModeler && this.dmnPath) this.files[this.dmnPath] = (await this.dmnModeler.saveXML({ format: true })).xml;
  }

  // The panel's choices: decision ids (the draft's .dmn files), process ids and message names (its diagrams —
  // the one on the canvas as edited — and messages.json, whose entries say how each message is correlated).
  draftIndex() {
    const decisions = new Map();
    const processes = new Map();
    const messages = new Set();
    for (const [path, text] of Object.entries(this.files)) {
      const dmn = path.endsWith(".dmn");
      if ((!dmn && !path.endsWith(".bpmn")) || path === this.bpmnPath) continue;
      const doc = parseXml(text);
      if (!doc) continue;
      if (dmn) {
        for (const d of doc.getElementsByTagNameNS("*", "decision")) {
          const id = d.getAttribute("id");
          if (id) decisions.set(id, `${d.getAttribute("name") || id} · ${id} (${path})`);
        }
        continue;
      }
      for (const pr of doc.getElementsByTagNameNS(BPMN_NS, "process")) {
        const id = pr.getAttribute("id");
        if (id) processes.set(id, `${pr.getAttribute("name") || id} · ${id} (${path})`);
      }
      for (const m of doc.getElementsByTagNameNS(BPMN_NS, "message")) if (m.getAttribute("name")) messages.add(m.getAttribute("name"));
    }
    for (const root of this.modeler.getDefinitions().rootElements || []) {
      if (root.$type === "bpmn:Process") processes.set(root.id, `${root.name || root.id} · ${root.id} (${this.bpmnPath})`);
      if (root.$type === "bpmn:Message" && root.name) messages.add(root.name);
    }
    let catalog = {};
    try { catalog = JSON.parse(this.files["messages.json"] || "{}").messages || {}; } catch { catalog = {}; }
    for (const name of Object.keys(catalog)) messages.add(name);
    return { decisions, processes, messages: [...messages].sort(), catalog };
  }

  leafLanes() {
    return this.modeler.get("elementRegistry").filter((e) => e.type === "bpmn:Lane"
      && !((e.businessObject.childLaneSet && e.businessObject.childLaneSet.lanes) || []).length);
  }

  // the group a lane maps to, and a warning when none does (the live check's lane-no-group, else no name)
  groupHint(lane, own = false) {
    const group = laneGroup(lane.businessObject.name);
    const flagged = this.diagnostics.find((d) => d.code === "lane-no-group" && d.element_id === lane.id && d.file === this.bpmnPath);
    const out = h("div", { id: "prop-lane-group", "data-group": group || "" }, h("p", {}, `${w("lane_group")}: `, h("code", {}, group || "—")));
    if (flagged && !own) out.append(h("p", { class: "notice warning", "data-code": "lane-no-group" }, flagged.message));
    else if (!group) out.append(h("p", { class: "notice warning", "data-code": "lane-no-group" }, w("lane_no_group")));
    return out;
  }

  // lane membership follows geometry in bpmn-js: move the shape (and what is attached to it) into the lane's
  // band; its flowNodeRef moves with it
  moveToLane(el, lane) {
    if (!lane) return;
    const y = Math.round(lane.y + lane.height / 2 - el.height / 2);
    const left = lane.x + 40;
    const x = el.x < left ? left : Math.min(el.x, lane.x + lane.width - el.width - 10);
    this.modeler.get("modeling").moveElements([el], { x: x - el.x, y: y - el.y });
    this.drawProps(el);
  }

  // point the event at the message named `name`: the diagram's bpmn:message of that name, else a new one
  setMessage(el, def, name) {
    if (!name || (def.messageRef && def.messageRef.name === name)) return;
    const modeling = this.modeler.get("modeling");
    const defs = this.modeler.getDefinitions();
    const roots = defs.rootElements || [];
    let target = roots.find((r) => r.$type === "bpmn:Message" && r.name === name);
    if (!target) {
      let id = `Message_${name.replace(/[^\w.-]/g, "_")}`;
      while (roots.some((r) => r.id === id) || this.modeler.get("elementRegistry").get(id)) id += "_";
      target = this.modeler.get("moddle").create("bpmn:Message", { id, name });
      target.$parent = defs;
      modeling.updateModdleProperties(el, defs, { rootElements: [...roots, target] });
    }
    modeling.updateModdleProperties(el, def, { messageRef: target });
  }

  // what messages.json says of a message: its correlation and how long an early one is kept
  messageAbout(name, catalog) {
    const out = h("div", { id: "prop-message-about" });
    const entry = name && Object.prototype.hasOwnProperty.call(catalog, name) ? catalog[name] : null;
    if (!name) return out;
    if (!entry) { out.append(h("p", { class: "notice warning" }, w("message_unknown"))); return out; }
    out.append(h("p", {}, `${w("correlation")}: `, h("code", { id: "prop-message-correlation" }, (entry.correlation || []).join(", ") || "—"),
      ` · ${w("buffer")}: ${entry.buffer ? `${durationWords(entry.buffer) || entry.buffer}` : w("never")}`));
    if (entry.description) out.append(h("p", { class: "hint" }, entry.description));
    return out;
  }

  laneOf(bo) {
    for (const el of this.modeler.get("elementRegistry").filter((e) => e.type === "bpmn:Lane")) {
      if ((el.businessObject.flowNodeRef || []).includes(bo)) return el.businessObject.name || el.id;
    }
    return null;
  }

  field(label, control, extra) {
    if (!control.id) control.id = uid("prop");
    const { id } = control;
    return h("div", { class: "field" }, h("label", { for: id }, label), control, extra || "");
  }

  textProp(label, value, onChange, { multiline = false, name } = {}) {
    const control = multiline ? h("textarea", { rows: "4", name }, value || "") : h("input", { value: value || "", name });
    if (multiline) control.value = value || "";
    control.addEventListener("input", () => onChange(control.value));
    return this.field(label, control);
  }

  drawProps(element, keepFocus = false) {
    if (keepFocus && this.propsEl.contains(document.activeElement)) return;   // typing: do not redraw under the caret
    this.selected = element && element.type !== "bpmn:Process" ? element : null;
    const p = this.propsEl;
    p.replaceChildren(h("h2", {}, w("props")));
    if (!this.selected) { p.append(h("p", { class: "hint" }, w("pick_element"))); return; }
    const modeling = this.modeler.get("modeling");
    const el = this.selected;
    const bo = el.businessObject;
    p.append(h("dl", {}, h("dt", {}, w("id")), h("dd", { id: "prop-id" }, el.id), h("dt", {}, w("type")), h("dd", {}, el.type.replace("bpmn:", ""))));
    let laneHint = null;
    p.append(this.textProp(w("name"), bo.name, (v) => {
      modeling.updateProperties(el, { name: v });
      if (laneHint) { const next = this.groupHint(el, true); laneHint.replaceWith(next); laneHint = next; }
    }, { name: "name" }));
    const index = this.draftIndex();
    const lanes = this.leafLanes();
    if (el.type === "bpmn:Lane") {
      laneHint = this.groupHint(el, true);
      p.append(laneHint);
    } else if (lanes.length && !el.waypoints && el.type !== "bpmn:BoundaryEvent" && el.parent && el.parent.type === "bpmn:Participant") {
      const current = lanes.find((l) => (l.businessObject.flowNodeRef || []).includes(bo));
      const select = h("select", { name: "lane" }, ...(current ? [] : [h("option", { value: "" }, "—")]),
        ...lanes.map((l) => h("option", { value: l.id, selected: l === current ? true : null }, l.businessObject.name || l.id)));
      select.addEventListener("change", () => this.moveToLane(el, this.modeler.get("elementRegistry").get(select.value)));
      p.append(this.field(w("lane"), select), current ? this.groupHint(current) : "");
    } else {
      const lane = this.laneOf(bo);
      if (lane) p.append(h("p", {}, `${w("lane")}: `, h("strong", { id: "prop-lane" }, lane)));
    }
    const ext = (bo.extensionElements && bo.extensionElements.values) || [];
    const props = ext.flatMap((v) => (v.$children || v.values || []));
    const formFile = props.find((c) => c.name === "formJsonSchemaFilename");
    if (formFile) {
      const uiFile = props.find((c) => c.name === "formUiSchemaFilename");
      const formNames = Object.keys(this.forms).filter((n) => n.endsWith(".schema.json")).sort();
      const select = h("select", { name: "form" }, ...formNames.map((n) => h("option", { value: n, selected: n === formFile.value ? true : null }, n)));
      select.addEventListener("change", () => {
        modeling.updateModdleProperties(el, formFile, { value: select.value });
        if (uiFile) modeling.updateModdleProperties(el, uiFile, { value: select.value.replace(/\.schema\.json$/, ".uischema.json") });
      });
      p.append(this.field(w("form"), select));
    }
    const decision = ext.find((v) => /calledDecisionId$/.test(v.$type || ""));
    if (decision) {
      const current = (decision.$body || "").trim();
      const select = h("select", { name: "decision" },
        ...(index.decisions.has(current) ? [] : [h("option", { value: current, selected: true }, `${current || "—"} ${w("decision_unknown")}`)]),
        ...[...index.decisions].map(([id, label]) => h("option", { value: id, selected: id === current ? true : null }, label)));
      select.addEventListener("change", () => {
        // a new extension element with the chosen id as its body replaces the old one (bpmn-js writes its body back)
        const made = this.modeler.get("moddle").createAny(decision.$type, SPIFF_NS, { $body: select.value });
        made.$parent = bo.extensionElements;
        modeling.updateModdleProperties(el, bo.extensionElements, { values: ext.map((v) => (v === decision ? made : v)) });
        this.drawProps(el);
      });
      p.append(this.field(w("decision"), select));
    }
    for (const def of bo.eventDefinitions || []) {
      if (def.$type === "bpmn:TimerEventDefinition") {
        const kind = ["timeDate", "timeDuration", "timeCycle"].find((k) => def[k]) || "timeDuration";
        const expr = def[kind];
        const reading = h("p", { id: "prop-timer-reading", class: "hint", "aria-live": "polite" }, timerReading(expr && expr.body, kind) || "");
        p.append(h("p", {}, `${w("timer_kind")}: ${kind}`));
        p.append(this.textProp(w("timer"), expr && expr.body, (v) => {
          reading.textContent = timerReading(v, kind) || "";
          if (expr) modeling.updateModdleProperties(el, expr, { body: v });
          else {
            const made = this.modeler.get("moddle").create("bpmn:FormalExpression", { body: v });
            modeling.updateModdleProperties(el, def, { [kind]: made });
          }
        }, { name: "timer", multiline: true }), reading);
      }
      if (def.$type === "bpmn:MessageEventDefinition") {
        const listId = uid("messages");
        const input = h("input", { name: "message", list: listId, value: (def.messageRef && def.messageRef.name) || "", autocomplete: "off" });
        let about = this.messageAbout(input.value, index.catalog);
        input.addEventListener("input", () => { const next = this.messageAbout(input.value.trim(), index.catalog); about.replaceWith(next); about = next; });
        input.addEventListener("change", () => { this.setMessage(el, def, input.value.trim()); this.drawProps(el); });
        p.append(this.field(w("message"), input, h("datalist", { id: listId }, ...index.messages.map((n) => h("option", { value: n })))), about);
      }
    }
    if (el.type === "bpmn:CallActivity") {
      const current = bo.calledElement || "";
      const select = h("select", { name: "calledElement" },
        ...(index.processes.has(current) ? [] : [h("option", { value: current, selected: true }, `${current || "—"} ${w("called_unknown")}`)]),
        ...[...index.processes].map(([id, label]) => h("option", { value: id, selected: id === current ? true : null }, label)));
      select.addEventListener("change", () => { modeling.updateProperties(el, { calledElement: select.value }); this.drawProps(el); });
      p.append(this.field(w("called"), select));
    }
    if (el.type === "bpmn:ScriptTask") {
      p.append(this.textProp(w("script"), bo.script, (v) => modeling.updateProperties(el, { script: v }), { multiline: true, name: "script" }),
        h("p", { class: "hint" }, w("script_note")));
    }
    if (el.type === "bpmn:SequenceFlow") {
      const cond = bo.conditionExpression;
      p.append(this.textProp(w("condition"), cond && cond.body, (v) => {
        if (cond) modeling.updateModdleProperties(el, cond, { body: v });
        else modeling.updateProperties(el, { conditionExpression: this.modeler.get("moddle").create("bpmn:FormalExpression", { body: v }) });
      }, { multiline: true, name: "condition" }), h("p", { class: "hint" }, w("script_note")));
    }
    const mine = this.diagnostics.filter((d) => d.element_id === el.id);
    for (const d of mine) p.append(h("p", { class: `notice ${d.severity === "error" ? "error" : "warning"}` }, d.message));
  }

  // ------------------------------------------------ live checks
  scheduleCheck(delay = 600) {
    clearTimeout(this.checkTimer);
    this.checkTimer = setTimeout(() => this.check(), delay);
  }

  async check() {
    const seq = ++this.checkSeq;
    this.diagList.replaceChildren(h("h2", {}, w("checks")), h("p", { class: "hint" }, w("checking")));
    try {
      await this.syncXml();
      const result = await post("/studio/check", { files: this.files, forms: this.forms });
      if (seq !== this.checkSeq) return;
      this.diagnostics = result.diagnostics;
    } catch (err) {
      if (seq !== this.checkSeq) return;
      this.diagList.replaceChildren(h("h2", {}, w("checks")), alertBox(errorMessage(err)));
      return;
    }
    this.pinDiagnostics();
    this.drawDiagList();
  }

  pinDiagnostics() {
    if (!this.modeler) return;
    const canvas = this.modeler.get("canvas");
    const overlays = this.modeler.get("overlays");
    const registry = this.modeler.get("elementRegistry");
    for (const [id, cls] of this.markers) if (registry.get(id)) canvas.removeMarker(id, cls);
    for (const o of this.overlayIds) overlays.remove(o);
    this.markers = [];
    this.overlayIds = [];
    for (const d of this.diagnostics) {
      if (d.file !== this.bpmnPath || !d.element_id || !registry.get(d.element_id)) continue;
      const cls = d.severity === "error" ? "studio-error" : "studio-warning";
      canvas.addMarker(d.element_id, cls);
      this.markers.push([d.element_id, cls]);
      this.overlayIds.push(overlays.add(d.element_id, "studio-diagnostic", {
        position: { bottom: -4, left: 0 },
        html: h("div", { class: `studio-pin ${cls}`, "data-element": d.element_id, title: d.message,
          style: `width:13rem;font-size:11px;padding:2px 4px;border-radius:3px;color:#fff;background:${d.severity === "error" ? "#b00020" : "#a35a00"}` },
        d.message.length > 80 ? `${d.message.slice(0, 77)}…` : d.message),
      }));
    }
  }

  drawDiagList() {
    const items = this.diagnostics;
    const list = h("ul", { id: "studio-diagnostics" }, ...items.map((d) => {
      const a = h("a", { href: "#", "data-element": d.element_id || "", "data-code": d.code, "data-severity": d.severity },
        `${d.severity === "error" ? "✖" : "⚠"} ${d.file}${d.line ? `:${d.line}` : ""}${d.element_id ? ` [${d.element_id}]` : ""} — ${d.message}`);
      a.addEventListener("click", async (event) => {
        event.preventDefault();
        if (!d.element_id) return;
        if (d.file.endsWith(".bpmn") && d.file !== this.bpmnPath && this.files[d.file]) {
          await this.syncXml();
          this.bpmnPath = d.file;
          document.getElementById("studio-bpmn-file").value = d.file;
          await this.importBpmn();
        }
        const el = this.modeler.get("elementRegistry").get(d.element_id);
        if (el) {
          const canvas = this.modeler.get("canvas");
          canvas.zoom(1);
          canvas.scrollToElement(el, { top: 200, bottom: 200, left: 300, right: 300 });
          this.modeler.get("selection").select(el);
        }
      });
      return h("li", {}, a);
    }));
    this.diagList.replaceChildren(h("h2", {}, w("checks")), items.length ? list : h("p", { id: "studio-checks-ok" }, w("checks_ok")));
    if (this.selected) this.drawProps(this.selected, true);
  }

  // ------------------------------------------------ save
  async save() {
    try {
      await this.syncXml();
      const answer = await request("PUT", `/studio/drafts/${encodeURIComponent(this.draft.id)}`,
        { body: { files: this.files, forms: this.forms }, headers: { "If-Match": this.etag } });
      this.etag = answer.etag;
      this.draft = answer.data;
      this.changed = false;
      setDirty(false);
      this.status.textContent = w("saved");
      toast(w("saved"));
    } catch (err) {
      if (err instanceof ApiError && err.status === 412) this.conflicted = true;   // no autosave into someone else's change
      this.status.textContent = this.conflicted ? w("conflict") : errorMessage(err);
    }
  }

  // ------------------------------------------------ DMN
  async drawDmn() {
    this.dmnDrawn = true;
    const pane = this.panes.dmn;
    const paths = Object.keys(this.files).filter((p) => p.endsWith(".dmn")).sort();
    this.dmnPath = paths[0];
    const pick = h("select", { id: "studio-dmn-file", "aria-label": w("dmn_file") }, ...paths.map((p) => h("option", { value: p }, p)));
    const host = h("div", { id: "studio-dmn", style: "min-height:360px;background:#fff" });
    pane.append(pick, host);
    const DmnJS = await loadDmn();
    this.dmnModeler = new DmnJS({ container: host });
    const open = async () => {
      await this.dmnModeler.importXML(this.files[this.dmnPath]);
      const views = this.dmnModeler.getViews();
      const table = views.find((v) => v.type === "decisionTable");
      if (table) await this.dmnModeler.open(table);
      const viewer = this.dmnModeler.getActiveViewer();
      if (viewer) viewer.on("elements.changed", () => this.markChanged());
    };
    pick.addEventListener("change", async () => {
      this.files[this.dmnPath] = (await this.dmnModeler.saveXML({ format: true })).xml;
      this.dmnPath = pick.value;
      await open();
    });
    if (this.dmnPath) await open();
  }

  // ------------------------------------------------ forms
  drawForms() {
    const pane = this.panes.forms;
    const names = Object.keys(this.forms).filter((n) => n.endsWith(".schema.json")).sort();
    const pick = h("select", { id: "studio-form-file", "aria-label": w("form_file") }, ...names.map((n) => h("option", { value: n }, n)));
    const text = h("textarea", { id: "studio-form-json", rows: "20", style: "width:100%;font-family:monospace", "aria-label": w("form_file") });
    const preview = h("div", { id: "studio-form-preview", class: "card" });
    const show = () => {
      preview.replaceChildren(h("h3", {}, w("preview")));
      try {
        const schema = JSON.parse(text.value);
        const uiName = pick.value.replace(/\.schema\.json$/, ".uischema.json");
        const ui = this.forms[uiName] ? JSON.parse(this.forms[uiName]) : {};
        preview.append(new SchemaForm(schema, ui, {}, { idPrefix: "preview" }).element);
      } catch (err) { preview.append(alertBox(`${w("json_bad")}: ${err.message}`)); }
    };
    const open = () => { text.value = this.forms[pick.value] || ""; show(); };
    pick.addEventListener("change", open);
    text.addEventListener("input", () => { this.forms[pick.value] = text.value; show(); this.markChanged(); });
    pane.append(pick, h("div", { style: "display:grid;grid-template-columns:1fr 1fr;gap:1rem" }, text, preview));
    if (names.length) open();
  }

  // ------------------------------------------------ templates
  drawTemplates() {
    const pane = this.panes.templates;
    const names = Object.keys(this.files).filter((p) => p.startsWith("templates/")).sort();
    const pick = h("select", { id: "studio-template-file", "aria-label": w("template_file") }, ...names.map((n) => h("option", { value: n }, n)));
    const text = h("textarea", { id: "studio-template-text", rows: "16", style: "width:100%;font-family:monospace", "aria-label": w("template_file") });
    const preview = h("pre", { id: "studio-template-preview", class: "card", style: "white-space:pre-wrap" });
    const facts = h("div", { id: "studio-template-facts" });
    // the role profile the preview fills role.… from: the built-in sample, or an archive role's profile in force
    const rolePick = h("select", { id: "studio-template-role", "aria-label": w("role_profile") }, h("option", { value: "" }, w("sample_profile")));
    get("/roles").then((answer) => {
      const seen = new Set();
      for (const r of answer.items) {
        if (seen.has(r.role_key)) continue;
        seen.add(r.role_key);
        const title = (r.title && (r.title[lang() === "en" ? "en" : "zh"] || r.title.zh || r.title.en)) || r.role_key;
        rolePick.append(h("option", { value: r.role_key }, `${title} (${r.role_key})`));
      }
    }).catch((err) => rolePick.after(alertBox(errorMessage(err))));
    const factList = (title, items, kind) => (items.length ? [h("h4", {}, title), h("ul", { class: `facts-${kind}` },
      ...items.map((f) => h("li", { "data-fact": f.fact }, `${f.label[lang() === "en" ? "en" : "zh"]} (${f.fact})`,
        f.as_of ? ` · ${f.as_of}` : "", f.stale ? " ⚠" : "")))] : []);
    let seq = 0;
    let waiting = null;
    const show = async () => {
      const mine = ++seq;
      const tplLang = (pick.value.split("/")[1] || "zh");
      try {
        const answer = await post("/studio/preview-template", { source: text.value, lang: tplLang === "en" ? "en" : "zh", role: rolePick.value || null });
        if (mine !== seq) return;
        preview.replaceChildren(answer.text);
        const used = answer.profile;
        facts.replaceChildren(h("p", { id: "studio-template-profile", "data-source": used.source }, `${w("profile_used")}: `,
          used.source === "sample" ? `${w("sample_profile")}${used.role_key ? ` ${w("sample_for")}` : ""}` : used.label),
        ...factList(w("facts_used"), answer.facts_used, "used"), ...factList(w("facts_missing"), answer.facts_missing, "missing"));
      } catch (err) {
        if (mine !== seq) return;
        preview.replaceChildren(alertBox(errorMessage(err)));
        facts.replaceChildren();
      }
    };
    const open = () => { text.value = this.files[pick.value] || ""; show(); };
    pick.addEventListener("change", open);
    rolePick.addEventListener("change", show);
    text.addEventListener("input", () => {
      this.files[pick.value] = text.value;
      this.markChanged();
      clearTimeout(waiting);
      waiting = setTimeout(show, 400);
    });
    pane.append(h("p", { class: "hint" }, w("template_note")), h("div", { class: "actions" }, pick, rolePick),
      h("div", { style: "display:grid;grid-template-columns:1fr 1fr;gap:1rem" }, text, h("div", {}, h("h3", {}, w("preview")), preview, facts)));
    if (names.length) open();
  }

  // ------------------------------------------------ roll out
  drawRollout() {
    const pane = this.panes.rollout;
    const diffOut = h("div", { id: "studio-diff" });
    const diffButton = h("button", { type: "button", class: "secondary", id: "studio-diff-button" }, w("diff"));
    diffButton.addEventListener("click", () => this.showDiff(diffOut));
    const note = h("textarea", { id: "studio-note", rows: "3", required: true, maxlength: "2000" });
    const deployOut = h("div", { id: "studio-deploy-result", "aria-live": "polite" });
    const deploy = h("form", { id: "studio-deploy", class: "card" },
      h("h2", {}, w("deploy")), this.field(w("note"), note), h("button", { type: "submit", class: "primary" }, w("deploy")), deployOut);
    deploy.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!note.value.trim()) { deployOut.replaceChildren(alertBox(w("note_needed"))); return; }
      try {
        if (this.changed) await this.save();
        const result = await post(`/studio/drafts/${encodeURIComponent(this.draft.id)}/deploy`, { note: note.value.trim() });
        document.dispatchEvent(new CustomEvent("studio:deployed", { detail: result }));
        deployOut.replaceChildren(h("p", { class: "notice info" }, `${w("deployed")}: `,
          ...result.versions.map((v) => h("span", { class: "deployed-version", "data-created": String(v.created) },
            `${v.process_key} v${v.version}${v.created ? ` (${w("new_version")})` : ""}  `))),
          ...((result.warnings || []).length ? [h("p", {}, w("deploy_warnings")), h("ul", { id: "studio-deploy-warnings", class: "notice warning" },
            ...result.warnings.map((d) => h("li", { "data-element": d.element_id || "" }, `${d.element_id || d.file}: ${d.message}`)))] : []));
      } catch (err) {
        const diags = err instanceof ApiError && err.problem && err.problem.diagnostics;
        deployOut.replaceChildren(alertBox(errorMessage(err)), ...(diags ? [h("ul", {}, ...diags.map((d) => h("li", {}, `${d.element_id || d.file}: ${d.message}`)))] : []));
      }
    });
    pane.append(h("section", { class: "card" }, diffButton, diffOut), deploy, migrationForm(this));
  }

  async showDiff(out) {
    try {
      await this.syncXml();
      if (this.changed) await this.save();
      const diff = await get(`/studio/drafts/${encodeURIComponent(this.draft.id)}/diff`);
      const canvas = this.modeler.get("canvas");
      const registry = this.modeler.get("elementRegistry");
      for (const [id, cls] of this.diffMarkers || []) if (registry.get(id)) canvas.removeMarker(id, cls);
      this.diffMarkers = [];
      const rows = [];
      for (const [proc, d] of Object.entries(diff.processes)) {
        for (const [kind, cls] of [["added", "studio-added"], ["removed", "studio-removed"], ["changed", "studio-changed"]]) {
          for (const item of d[kind] || []) {
            const id = typeof item === "string" ? item : item.id;
            if (registry.get(id)) { canvas.addMarker(id, cls); this.diffMarkers.push([id, cls]); }
            const changes = item.changes ? Object.entries(item.changes).map(([f, c]) => `${f}: ${shown(c.from)} → ${shown(c.to)}`).join("; ") : "";
            rows.push(h("li", { "data-kind": kind, "data-element": id }, `${proc} · ${w(kind)} · ${id}${changes ? ` — ${changes}` : ""}`));
          }
        }
      }
      for (const kind of ["added", "removed", "changed"]) {
        for (const f of diff.forms[kind] || []) rows.push(h("li", { "data-kind": kind }, `${w("tab_forms")} · ${w(kind)} · ${f.name || f}`));
        for (const tpl of diff.templates[kind] || []) rows.push(h("li", { "data-kind": kind }, `${w("tab_templates")} · ${w(kind)} · ${tpl.lang || ""}/${tpl.id || tpl}`));
      }
      for (const [dec, d] of Object.entries(diff.decisions)) {
        for (const kind of ["added", "removed", "changed"]) {
          for (const r of d[kind] || []) {
            // a changed rule says what changed: its cells by column, its annotation, its place in the table
            const cells = ["inputs", "outputs"].flatMap((side) => Object.entries(r[side] || {}).map(([col, c]) => `${col}: ${shown(c.from)} → ${shown(c.to)}`));
            if (r.annotation) cells.push(`${w("annotation")}: ${shown(r.annotation.from)} → ${shown(r.annotation.to)}`);
            if (r.order) cells.push(`${w("order")}: ${r.order.from + 1} → ${r.order.to + 1}`);
            rows.push(h("li", { "data-kind": kind, "data-rule": r.rule_id || r }, `${w("tab_dmn")} ${dec} · ${w(kind)} · ${r.rule_id || r}${cells.length ? ` — ${cells.join("; ")}` : ""}`));
          }
        }
      }
      out.replaceChildren(rows.length ? h("ul", { id: "studio-diff-list" }, ...rows) : h("p", {}, w("diff_none")));
    } catch (err) { out.replaceChildren(alertBox(errorMessage(err))); }
  }
}

export async function studioPage(body, ctx) {
  body.append(heading(w("title")));
  body.append(h("p", { class: "notice info", id: "studio-nothing-runs" }, w("intro")));
  const draftId = ctx.query.get("draft");
  if (!draftId) { await draftList(body); return; }
  const answer = await request("GET", `/studio/drafts/${encodeURIComponent(draftId)}`);
  body.append(h("h2", {}, answer.data.title));
  const editor = new Editor(body, answer.data, answer.etag);
  // the modeler needs its container in the document to measure it: draw once the page is in place
  document.addEventListener("recall:rendered", () => editor.draw().catch((err) => body.append(alertBox(errorMessage(err)))), { once: true });
}
