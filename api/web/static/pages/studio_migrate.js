// The migration of running cases, the studio's roll-out step (docs/studio.md "Moving running cases"): a plan
// from version N to N+1, a dry run listing each running case as movable or not and why, then the move of
// the chosen ones. The editor (pages/studio.js) gives the draft and its field layout.
import { post } from "../api.js";
import { h } from "../dom.js";
import { lang } from "../i18n.js";
import { alertBox, errorMessage } from "../ui.js";

const W = {
  migrate: ["迁移运行中的案例", "Migrate running cases"], process_key: ["流程", "Process"],
  from_v: ["从版本", "From version"], to_v: ["到版本", "To version"],
  timers: ["定时器", "Timers"], keep: ["保持原到期时间", "keep their due time"],
  recompute: ["按新表达式重新计算", "recompute from the new expression"],
  dry_run: ["试运行", "Dry run"], move: ["迁移所选案例", "Move the chosen cases"],
  case: ["案例", "Case"], waits: ["等待于", "Waits at"], movable: ["可迁移", "Movable"],
  why: ["原因", "Reason"], refused: ["不可迁移", "Cannot move"], outcome: ["结果", "Outcome"], yes: ["是", "yes"], no: ["否", "no"],
};
const w = (key) => W[key][lang() === "en" ? 1 : 0];

export function migrationForm(editor) {
  const keys = Object.keys(editor.draft.based_on).sort();
  const key = h("select", { name: "process_key" }, ...keys.map((k) => h("option", { value: k, selected: k === "offer_recall" ? true : null }, k)));
  const from = h("input", { type: "number", min: "1", name: "from_version", value: String(editor.draft.based_on.offer_recall || 1) });
  const to = h("input", { type: "number", min: "1", name: "to_version", value: String((editor.draft.based_on.offer_recall || 1) + 1) });
  const timers = h("select", { name: "timers" }, h("option", { value: "keep" }, w("keep")), h("option", { value: "recompute" }, w("recompute")));
  const out = h("div", { id: "studio-migration" });
  const form = h("form", { class: "card", id: "studio-migrate" }, h("h2", {}, w("migrate")),
    editor.field(w("process_key"), key), editor.field(w("from_v"), from), editor.field(w("to_v"), to), editor.field(w("timers"), timers),
    h("button", { type: "submit", class: "secondary", id: "studio-dry-run" }, w("dry_run")), out);
  const plan = (extra) => ({ from_version: Number(from.value), to_version: Number(to.value), timers: timers.value, ...extra });
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
      const dry = await post(`/process-definitions/${encodeURIComponent(key.value)}/migrations`, plan({ dry_run: true }));
      const boxes = [];
      const move = h("button", { type: "button", class: "primary", id: "studio-move" }, w("move"));
      move.addEventListener("click", async () => {
        const ids = boxes.filter((b) => b.checked).map((b) => b.value);
        if (!ids.length) return;
        try {
          const done = await post(`/process-definitions/${encodeURIComponent(key.value)}/migrations`, plan({ dry_run: false, instance_ids: ids }));
          out.replaceChildren(h("p", { id: "studio-moved" }, `${done.moved} / ${ids.length}`), table(done, null));
        } catch (err) { out.append(alertBox(errorMessage(err))); }
      });
      out.replaceChildren(h("p", {}, `${w("movable")}: ${dry.movable} · ${w("refused")}: ${dry.refused}`), table(dry, boxes), move);
    } catch (err) { out.replaceChildren(alertBox(errorMessage(err))); }
  });
  return form;
}
