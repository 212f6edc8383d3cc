// The migration of running cases, the studio's roll-out step (docs/studio.md "Moving running cases"): a plan
// from version N to N+1, a dry run listing each running case as movable or not and why, then the move of
// the chosen ones. The editor (pages/studio.js) gives the draft and its field layout. The mapping editor lists
// the elements of the old version that the new one lacks (read from both versions' diagrams) and maps each to
// an element of the new version, same type first, or leaves it unmapped (cases waiting there are refused).
import { ApiError, get, post } from "../api.js";
import { h } from "../dom.js";
import { lang, pick } from "../i18n.js";
import { alertBox, errorMessage } from "../ui.js";

const W = {
  migrate: ["迁移运行中的案例", "Migrate running cases"], process_key: ["流程", "Process"],
  from_v: ["从版本", "From version"], to_v: ["到版本", "To version"],
  timers: ["定时器", "Timers"], keep: ["保持原到期时间", "keep their due time"],
  recompute: ["按新表达式重新计算", "recompute from the new expression"],
  dry_run: ["试运行", "Dry run"], move: ["迁移所选案例", "Move the chosen cases"],
  case: ["案例", "Case"], waits: ["等待于", "Waits at"], movable: ["可迁移", "Movable"],
  why: ["原因", "Reason"], refused: ["不可迁移", "Cannot move"], outcome: ["结果", "Outcome"], yes: ["是", "yes"], no: ["否", "no"],
  mapping: ["环节对应", "Element mapping"],
  mapping_lead: ["旧版本中有、新版本中没有的环节:在这些环节等待的案例只有映射到新版本的某个环节后才能迁移。",
    "Elements of the old version the new one lacks: a case waiting at one moves only when it is mapped to an element of the new version."],
  mapping_none: ["新版本保留了旧版本的所有环节:按相同 id 对应。", "The new version keeps every element of the old one: matched by equal id."],
  not_mapped: ["不映射", "not mapped"], same_type: ["同类环节", "Same type"], other_type: ["其他环节", "Other elements"],
  map_to: ["映射到", "maps to"], versions_same: ["请选择两个不同的版本。", "Choose two different versions."],
  not_deployed: ["第 {v} 版尚未部署：先在上面部署草稿，再迁移案例。", "Version {v} is not deployed yet: deploy the draft above first, then move the cases."],
};
const w = (key) => W[key][lang() === "en" ? 1 : 0];

// What a step is, in words (the BPMN element's local name; an unknown one is shown as it is).
const TYPES = {
  task: ["任务", "task"], userTask: ["人工任务", "user task"], manualTask: ["手工任务", "manual task"],
  scriptTask: ["脚本", "script"], serviceTask: ["服务任务", "service task"], sendTask: ["发送任务", "send task"],
  receiveTask: ["接收任务", "receive task"], businessRuleTask: ["决策表任务", "decision task"],
  callActivity: ["调用流程", "called process"], subProcess: ["子流程", "sub-process"], transaction: ["事务", "transaction"],
  startEvent: ["开始事件", "start event"], endEvent: ["结束事件", "end event"],
  intermediateCatchEvent: ["等待事件（定时/消息）", "waiting event (timer/message)"],
  intermediateThrowEvent: ["抛出事件", "throw event"], boundaryEvent: ["边界事件", "boundary event"],
  exclusiveGateway: ["排他网关", "exclusive gateway"], inclusiveGateway: ["包容网关", "inclusive gateway"],
  parallelGateway: ["并行网关", "parallel gateway"], eventBasedGateway: ["事件网关", "event gateway"],
  complexGateway: ["复杂网关", "complex gateway"],
};
const typeName = (type) => (TYPES[type] ? TYPES[type][lang() === "en" ? 1 : 0] : type);

// Flow nodes (where a case can wait or has been) of a version's BPMN files: id -> {type, name}.
const FLOW_NODE = /^(task|userTask|manualTask|scriptTask|serviceTask|sendTask|receiveTask|businessRuleTask|callActivity|subProcess|transaction|startEvent|endEvent|intermediateCatchEvent|intermediateThrowEvent|boundaryEvent|exclusiveGateway|inclusiveGateway|parallelGateway|eventBasedGateway|complexGateway)$/;

export function flowNodes(files) {
  const nodes = new Map();
  for (const file of files) {
    const doc = new DOMParser().parseFromString(file.xml, "application/xml");
    for (const el of doc.getElementsByTagName("*")) {
      const id = el.getAttribute("id");
      if (id && FLOW_NODE.test(el.localName) && !nodes.has(id)) nodes.set(id, { type: el.localName, name: pick(el.getAttribute("name") || "") });
    }
  }
  return nodes;
}

const nodeLabel = (id, node) => (node.name ? `${node.name} (${id})` : id);

// One row per element the new version lacks: a select of the new version's elements, same type first.
function mappingRows(oldNodes, newNodes) {
  const missing = [...oldNodes].filter(([id]) => !newNodes.has(id));
  const added = new Set([...newNodes.keys()].filter((id) => !oldNodes.has(id)));
  return missing.map(([id, node]) => {
    // same type first (the new elements before the kept ones), then the rest
    const rank = ([other, n]) => (n.type === node.type ? 0 : 2) + (added.has(other) ? 0 : 1);
    const ordered = [...newNodes].sort((a, b) => rank(a) - rank(b) || a[0].localeCompare(b[0]));
    const option = ([other, n]) => h("option", { value: other }, nodeLabel(other, n));
    const select = h("select", { name: `map-${id}`, "data-old": id, "aria-label": `${nodeLabel(id, node)} ${w("map_to")}` },
      h("option", { value: "" }, w("not_mapped")),
      h("optgroup", { label: w("same_type") }, ...ordered.filter(([, n]) => n.type === node.type).map(option)),
      h("optgroup", { label: w("other_type") }, ...ordered.filter(([, n]) => n.type !== node.type).map(option)));
    return h("tr", { "data-old": id }, h("th", { scope: "row" }, nodeLabel(id, node), h("span", { class: "muted", "data-type": node.type }, ` · ${typeName(node.type)}`)),
      h("td", {}, select));
  });
}

export function migrationForm(editor) {
  const keys = Object.keys(editor.draft.based_on).sort();
  const key = h("select", { name: "process_key" }, ...keys.map((k) => h("option", { value: k, selected: k === "offer_recall" ? true : null }, k)));
  const from = h("input", { type: "number", min: "1", name: "from_version", value: String(editor.draft.based_on.offer_recall || 1) });
  const to = h("input", { type: "number", min: "1", name: "to_version", value: String((editor.draft.based_on.offer_recall || 1) + 1) });
  const timers = h("select", { name: "timers" }, h("option", { value: "keep" }, w("keep")), h("option", { value: "recompute" }, w("recompute")));
  const out = h("div", { id: "studio-migration" });
  const mapping = h("div", { id: "studio-mapping", "aria-live": "polite" });
  const form = h("form", { class: "card", id: "studio-migrate" }, h("h2", {}, w("migrate")),
    editor.field(w("process_key"), key), editor.field(w("from_v"), from), editor.field(w("to_v"), to), editor.field(w("timers"), timers),
    mapping, h("button", { type: "submit", class: "secondary", id: "studio-dry-run" }, w("dry_run")), out);
  let asked = 0;
  const showMapping = async () => {
    const seq = ++asked;
    const [a, b] = [Number(from.value), Number(to.value)];
    if (!(a >= 1 && b >= 1)) { mapping.replaceChildren(); return; }
    if (a === b) { mapping.replaceChildren(h("p", { class: "muted" }, w("versions_same"))); return; }
    const diagram = (v) => get(`/workspace/diagrams/${encodeURIComponent(key.value)}?version=${v}`);
    try {
      const [older, newer] = await Promise.all([diagram(a), diagram(b)]);
      if (seq !== asked) return;
      const rows = mappingRows(flowNodes(older.files), flowNodes(newer.files));
      mapping.replaceChildren(h("h3", {}, w("mapping")), ...(rows.length
        ? [h("p", { class: "muted" }, w("mapping_lead")), h("table", { class: "table", id: "studio-mapping-table" }, h("tbody", {}, ...rows))]
        : [h("p", { class: "muted", id: "studio-mapping-none" }, w("mapping_none"))]));
    } catch (err) {
      if (seq !== asked) return;
      if (err instanceof ApiError && err.status === 404) {       // a version not deployed (yet): say so, not "not found"
        const known = await get(`/process-definitions/${encodeURIComponent(key.value)}`).catch(() => null);
        const have = new Set(((known && known.versions) || []).map((v) => v.version));
        const missing = [a, b].find((v) => !have.has(v)) || b;
        if (seq === asked) mapping.replaceChildren(h("p", { class: "notice info", id: "studio-mapping-not-deployed" }, w("not_deployed").replace("{v}", String(missing))));
        return;
      }
      mapping.replaceChildren(alertBox(errorMessage(err)));
    }
  };
  // a deploy from this page makes the new version: offer it as the target and read its elements
  document.addEventListener("studio:deployed", (event) => {
    if (!document.body.contains(form)) return;
    const made = (event.detail.versions || []).find((v) => v.process_key === key.value && v.created);
    if (made) to.value = String(made.version);
    showMapping();
  });
  let typing = null;
  for (const control of [key, from, to]) {
    control.addEventListener("change", () => { clearTimeout(typing); showMapping(); });
    control.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(showMapping, 300); });
  }
  queueMicrotask(showMapping);
  const chosenMapping = () => Object.fromEntries([...mapping.querySelectorAll("select[data-old]")]
    .filter((s) => s.value).map((s) => [s.dataset.old, s.value]));
  const plan = (extra) => ({ from_version: Number(from.value), to_version: Number(to.value), timers: timers.value,
    mapping: chosenMapping(), ...extra });
  const table = (result, chooser) => h("table", { class: "table", id: "studio-migration-table" },
    h("thead", {}, h("tr", {}, h("th", {}, ""), h("th", {}, w("case")), h("th", {}, w("waits")), h("th", {}, w("movable")),
      h("th", {}, w("why")), h("th", {}, w("outcome")))),
    h("tbody", {}, ...result.cases.map((c) => {
      const box = h("input", { type: "checkbox", value: c.instance_id, checked: c.movable ? true : null, disabled: c.movable ? null : true,
        "aria-label": c.business_key || c.instance_id });
      if (chooser) chooser.push(box);
      return h("tr", { "data-instance": c.instance_id, "data-movable": String(c.movable) }, h("td", {}, chooser ? box : ""),
        h("td", {}, c.business_key || c.instance_id), h("td", {}, c.waiting_at.join(", ")), h("td", {}, c.movable ? w("yes") : w("no")),
        h("td", { class: "reasons" }, c.reasons.join("; ")), h("td", { class: "outcome" }, c.outcome || ""));
    })));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const planned = plan({});         // the move uses the plan the dry run showed, whatever is changed since
      const path = `/process-definitions/${encodeURIComponent(key.value)}/migrations`;
      const dry = await post(path, { ...planned, dry_run: true });
      const boxes = [];
      const move = h("button", { type: "button", class: "primary", id: "studio-move" }, w("move"));
      move.addEventListener("click", async () => {
        const ids = boxes.filter((b) => b.checked).map((b) => b.value);
        if (!ids.length) return;
        try {
          const done = await post(path, { ...planned, dry_run: false, instance_ids: ids });
          out.replaceChildren(h("p", { id: "studio-moved" }, `${done.moved} / ${ids.length}`), table(done, null));
        } catch (err) { out.append(alertBox(errorMessage(err))); }
      });
      const mapped = Object.entries(dry.mapping).map(([a, b]) => `${a} → ${b}`).join(", ");
      out.replaceChildren(h("p", {}, `${w("movable")}: ${dry.movable} · ${w("refused")}: ${dry.refused}`),
        mapped ? h("p", { class: "muted", id: "studio-mapping-used" }, `${w("mapping")}: ${mapped}`) : "", table(dry, boxes), move);
    } catch (err) { out.replaceChildren(alertBox(errorMessage(err))); }
  });
  return form;
}
