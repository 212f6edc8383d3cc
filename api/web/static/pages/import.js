// ATS import (hr, admin; docs/import.md): upload an export, map its columns (suggested from the headers,
// saved per source), the dry run's report per row and column, confirm, a progress bar while the server
// writes the rows (POST /imports/preview, POST /imports, POST /imports/{id}/confirm, GET /imports/{id}).
import { ApiError, get, post } from "../api.js";
import { h } from "../dom.js";
import { lang, REASONS } from "../i18n.js";
import { setDirty } from "../keep.js";
import { alertBox, errorMessage, heading, href, toast } from "../ui.js";

const WORDS = {
  title: ["导入候选人", "Import candidates"],
  intro: ["从 ATS(Moka、北森、Greenhouse、Lever…)导出的 CSV 或 XLSX:先检查每一行,确认后才写入。",
    "A CSV or XLSX exported from an ATS (Moka, Beisen, Greenhouse, Lever…): every row is checked first, written only when you confirm."],
  source: ["来源", "Source"], source_hint: ["例如 moka:同一来源的列对应关系会保存,下次直接使用。",
    "e.g. moka: the column mapping is saved for this source and used next time."],
  file: ["文件", "File"], read: ["读取文件", "Read file"],
  mapping: ["列对应", "Column mapping"], field: ["我们的字段", "Our field"], column: ["文件中的列", "Column in the file"],
  none: ["(不导入)", "(not imported)"], saved: ["已使用此来源上次保存的对应关系。", "The mapping saved for this source is used."],
  choices: ["选项", "Choices"], unmapped: ["无法对应的原因", "Reasons that match none of ours"],
  unmapped_error: ["报错,不导入该行", "An error: the row is not imported"], unmapped_other: ["记为“其他”", "Record as other"],
  duplicates: ["与已有候选人重复", "Duplicates of existing candidates"],
  dup_report: ["报告,不导入", "Report, do not import"], dup_merge: ["合并到已有档案", "Merge into the existing record"],
  reasons: ["原因对应", "Reasons"], reason_text: ["文件中的原因", "Reason in the file"],
  our_reason: ["我们的原因", "Our reason"],
  reason_auto: ["(自动识别)", "(recognised automatically)"],
  check: ["检查(不写入)", "Dry run (writes nothing)"],
  report: ["检查结果", "Dry-run report"],
  summary: ["共 {total} 行:{valid} 行可以导入,{bad} 行有错误。", "{total} rows: {valid} can be imported, {bad} have errors."],
  row: ["行", "Row"], problem: ["问题", "Problem"], nothing_wrong: ["没有错误。", "No errors."],
  confirm: ["确认导入 {valid} 行", "Import {valid} rows"], discard: ["放弃", "Discard"],
  writing: ["正在写入…", "Writing…"], progress: ["{done} / {total} 行", "{done} / {total} rows"],
  done: ["导入完成:新建 {created},更新 {updated},未变 {unchanged},失败 {failed}。",
    "Import done: {created} created, {updated} updated, {unchanged} unchanged, {failed} failed."],
  see: ["查看候选人", "See the candidates"], discarded: ["已放弃,未写入任何数据。", "Discarded: nothing was written."],
  resume: ["继续写入", "Resume"], stopped: ["写入中断,可以继续:已写入的行不会重复。",
    "Writing stopped; resume it: rows already written are not written twice."],
  choose_file: ["请选择文件。", "Choose a file."],
  fields: {
    external_id: ["候选人 ID(ATS)", "Candidate ID (ATS)"], name: ["姓名", "Name"], phone: ["手机", "Phone"],
    email: ["邮箱", "Email"], role: ["应聘岗位", "Role"], reason: ["拒绝原因", "Decline reason"],
    reason_detail: ["原因说明", "Reason details"], decline_date: ["拒绝日期", "Decline date"],
    consent: ["同意进入人才库", "Talent-pool consent"], consent_scope: ["同意范围", "Consent scope"],
    consent_expires: ["同意有效期", "Consent expires"], notes: ["备注", "Notes"],
  },
};
// A row's error or note, worded from its code and params (engine/archive/imports.py ROW_CODES names each
// code's params; tests/archive/test_import_codes.py holds this table to it). A code not here, or a row
// without params (a run checked before they existed), shows the server's English message.
const ROW_TEXTS = {
  formula: ["公式没有保存的计算结果(请用 Excel 打开文件并保存)", "a formula without a saved value (open the file in Excel and save it)"],
  too_long: ["{length} 个字符,最多 {max} 个", "{length} characters; at most {max}"],
  required: ["为空:此列必填", "empty; this column is required"],
  phone: ["“{value}”不是大陆手机号(11 位),也不是带国家代码的号码", "'{value}' is not a mainland mobile (11 digits) nor a number with its country code"],
  email: ["“{value}”不是有效的邮箱地址", "'{value}' is not an email address"],
  reason: ["“{value}”对应不到我们的任何原因({reasons}):请在“原因对应”中选择,或把无法对应的原因记为“其他”",
    "'{value}' maps to none of our reasons ({reasons}): map it, or choose other for unmapped reasons"],
  reason_other: ["“{value}”不是我们的原因之一:记为“其他”", "'{value}' is not one of our reasons: recorded as other"],
  date: ["“{value}”不是有效日期(可用 {formats} 或 Excel 日期)", "'{value}' is not a date ({formats} or an Excel date)"],
  future: ["{date} 是将来的日期", "{date} is in the future"],
  consent: ["“{value}”不是“是”或“否”(是/否、同意/不同意、yes/no、1/0)", "'{value}' is not yes or no (是/否, 同意/不同意, yes/no, 1/0)"],
  consent_scope: ["“{value}”不是同意范围({scopes})", "'{value}' is not a consent scope ({scopes})"],
  expired: ["同意已于 {date} 到期", "the consent ran out on {date}"],
  repeated: ["与第 {row} 行的 ID 相同", "the same id as row {row}"],
  same_person: ["与第 {row} 行的{kind}相同,但 ID 不同", "the same {kind} as row {row}, under another id"],
  update: ["以前导入过:将更新该档案", "imported before: the record is updated"],
  merge: ["与候选人 {candidate} 的{on}相同:将合并到该档案", "the same {on} as candidate {candidate}: merged into it"],
  duplicate: ["与候选人 {candidates} 的{on}相同:已报告(要合并,请在选项中选“合并到已有档案”)",
    "the same {on} as candidate(s) {candidates}: reported (choose merge to merge it)"],
  duplicate_many: ["与 {count} 位候选人({candidates})的{on}相同:请先合并这些档案",
    "the same {on} as candidate(s) {candidates}: more than one: merge them first"],
};
const MATCHED_ON = { phone: ["手机号", "phone"], email: ["邮箱", "email"], name_and_role: ["姓名和岗位", "name_and_role"] };
const SCOPE_NAMES = { same_role: ["同岗位", "same_role"], similar_roles: ["相似岗位", "similar_roles"],
  any_role: ["任何岗位", "any_role"] };

function rowText(item) {
  const en = lang() === "en";
  const params = item.params;
  const key = item.code === "duplicate" && params && params.count > 1 ? "duplicate_many" : item.code;
  const pair = ROW_TEXTS[key];
  if (!pair || !params || typeof params !== "object") return item.message;
  const pick = (table, v) => (table[v] ? table[v][en ? 1 : 0] : String(v));
  const show = (name, value) => {
    if (name === "reasons") return value.map((k) => (en ? k : reasonName(k))).join(en ? ", " : "、");
    if (name === "scopes") return value.map((k) => pick(SCOPE_NAMES, k)).join(en ? ", " : "、");
    if (name === "kind") return pick(MATCHED_ON, value);
    if (name === "on") return value.map((k) => pick(MATCHED_ON, k)).join(en ? " and " : "和");
    if (Array.isArray(value)) return value.join(en ? ", " : "、");
    if (typeof value === "number") return value.toLocaleString("en-US");
    return String(value);
  };
  let complete = true;
  const text = pair[en ? 1 : 0].replace(/\{(\w+)\}/g, (_, name) => {
    if (params[name] === undefined || params[name] === null) { complete = false; return ""; }
    return show(name, params[name]);
  });
  return complete ? text : item.message;
}

const REQUIRED = ["external_id", "name", "reason", "decline_date"];
const REASON_KEYS = ["salary", "counter_offer", "team", "career_path", "role_clarity", "commute", "family", "location", "other"];

function w(key, vars = {}) {
  const pair = WORDS[key];
  const text = pair[lang() === "en" ? 1 : 0];
  return text.replace(/\{(\w+)\}/g, (_, k) => String(vars[k] ?? ""));
}
const fieldName = (f) => (WORDS.fields[f] || MATCHED_ON[f] || [f, f])[lang() === "en" ? 1 : 0];   // name_and_role: a duplicate's
const reasonName = (k) => (REASONS[k] ? REASONS[k][lang() === "en" ? 1 : 0] : k);

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ""));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

export async function importPage(body) {
  body.append(heading(w("title")), h("p", { class: "hint" }, w("intro")));
  const source = h("input", { id: "import-source", type: "text", value: "ats", maxlength: "48", required: true,
    "aria-describedby": "import-source-hint" });
  const file = h("input", { id: "import-file", type: "file", accept: ".csv,.xlsx,text/csv" });
  const readButton = h("button", { type: "submit", class: "primary", id: "import-read" }, w("read"));
  const fileError = h("p", { class: "field-error", id: "import-file-err", hidden: true });
  const step2 = h("div", { id: "import-step-mapping" });
  const step3 = h("div", { id: "import-step-report" });
  const form = h("form", { class: "card", novalidate: true },
    h("div", { class: "field" }, h("label", { for: source.id }, w("source")),
      h("p", { class: "hint", id: "import-source-hint" }, w("source_hint")), source),
    h("div", { class: "field" }, h("label", { for: file.id }, w("file")), file, fileError),
    readButton);
  body.append(form, step2, step3);
  let upload = null;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    fileError.hidden = true;
    step2.replaceChildren();
    step3.replaceChildren();
    if (!file.files.length) { fileError.textContent = w("choose_file"); fileError.hidden = false; return; }
    readButton.disabled = true;
    try {
      const picked = file.files[0];
      upload = { filename: picked.name, content_base64: await readBase64(picked), source: source.value.trim() };
      const preview = await post("/imports/preview", upload);
      step2.append(mappingCard(preview, upload, step3));
    } catch (err) {
      fileError.textContent = errorMessage(err);
      fileError.hidden = false;
    } finally {
      readButton.disabled = false;
    }
  });
}

function mappingCard(preview, upload, step3) {
  const selects = {};
  const rows = preview.fields.map((f) => {
    const select = h("select", { id: `map-${f}`, name: f },
      h("option", { value: "" }, w("none")),
      ...preview.headers.filter(Boolean).map((col) => h("option", { value: col, selected: preview.suggested[f] === col }, col)));
    selects[f] = select;
    return h("tr", {}, h("th", { scope: "row" }, h("label", { for: select.id }, fieldName(f),
      REQUIRED.includes(f) ? " *" : "")), h("td", {}, select));
  });
  const options = preview.options || {};
  const unmapped = h("select", { id: "import-unmapped" },
    h("option", { value: "error", selected: options.unmapped_reason !== "other" }, w("unmapped_error")),
    h("option", { value: "other", selected: options.unmapped_reason === "other" }, w("unmapped_other")));
  const duplicates = h("select", { id: "import-duplicates" },
    h("option", { value: "report", selected: options.duplicates !== "merge" }, w("dup_report")),
    h("option", { value: "merge", selected: options.duplicates === "merge" }, w("dup_merge")));
  const keys = Object.keys(REASONS).length ? Object.keys(REASONS) : REASON_KEYS;
  const saved = options.reason_map || {};
  const reasonSelects = preview.reasons.map((text, n) => h("select", { id: `reason-${n}`, "data-text": text },
    h("option", { value: "" }, w("reason_auto")),
    ...keys.map((k) => h("option", { value: k, selected: saved[text] === k }, reasonName(k)))));
  const checkButton = h("button", { type: "submit", class: "primary", id: "import-check" }, w("check"));
  const error = h("div", { id: "import-check-err" });
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": "import-mapping-h" },
    h("h2", { id: "import-mapping-h" }, w("mapping")),
    preview.saved ? h("p", { class: "hint" }, w("saved")) : null,
    h("table", { class: "data", id: "import-mapping" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, w("field")), h("th", { scope: "col" }, w("column")))),
      h("tbody", {}, ...rows)),
    h("h3", {}, w("choices")),
    h("div", { class: "field" }, h("label", { for: unmapped.id }, w("unmapped")), unmapped),
    h("div", { class: "field" }, h("label", { for: duplicates.id }, w("duplicates")), duplicates),
    preview.reasons.length ? h("h3", {}, w("reasons")) : null,
    preview.reasons.length ? h("table", { class: "data", id: "import-reasons" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, w("reason_text")), h("th", { scope: "col" }, w("our_reason")))),
      h("tbody", {}, ...reasonSelects.map((s) => h("tr", {}, h("th", { scope: "row" },
        h("label", { for: s.id }, s.dataset.text)), h("td", {}, s))))) : null,
    error, checkButton);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.replaceChildren();
    step3.replaceChildren();
    const mapping = {};
    for (const [f, s] of Object.entries(selects)) if (s.value) mapping[f] = s.value;
    const reasonMap = {};
    for (const s of reasonSelects) if (s.value) reasonMap[s.dataset.text] = s.value;
    checkButton.disabled = true;
    try {
      const run = await post("/imports", { ...upload, mapping,
        options: { unmapped_reason: unmapped.value, duplicates: duplicates.value, reason_map: reasonMap } });
      step3.append(reportCard(run));
      step3.querySelector("h2").focus();
    } catch (err) {
      error.append(alertBox(err instanceof ApiError && err.errors.length
        ? err.errors.map((e) => `${e.field}: ${e.message}`).join("; ") : errorMessage(err)));
    } finally {
      checkButton.disabled = false;
    }
  });
  return form;
}

function reportCard(run) {
  const bad = run.total_rows - run.valid_rows;
  const errors = run.rows.flatMap((r) => r.errors.map((e) => [r.row, e.column || fieldName(e.field), rowText(e)]));
  const notes = run.rows.flatMap((r) => r.notes.filter((n) => n.code !== "update").map((n) => [r.row, fieldName(n.field), rowText(n)]));
  const table = (items, id) => h("table", { class: "data", id },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, w("row")), h("th", { scope: "col" }, w("column")),
      h("th", { scope: "col" }, w("problem")))),
    h("tbody", {}, ...items.map(([row, col, msg]) => h("tr", { "data-row": row }, h("td", {}, String(row)),
      h("td", {}, col), h("td", {}, msg)))));
  const confirm = h("button", { type: "button", class: "primary", id: "import-confirm", disabled: run.valid_rows === 0 },
    w("confirm", { valid: run.valid_rows }));
  const discard = h("button", { type: "button", id: "import-discard" }, w("discard"));
  const bar = h("progress", { id: "import-progress", max: String(Math.max(run.valid_rows, 1)), value: "0", hidden: true });
  const status = h("p", { id: "import-status", role: "status" });
  const card = h("section", { class: "card", "aria-labelledby": "import-report-h", id: "import-report", "data-run": run.id },
    h("h2", { id: "import-report-h", tabindex: "-1" }, w("report")),
    h("p", { id: "import-summary" }, w("summary", { total: run.total_rows, valid: run.valid_rows, bad })),
    errors.length ? table(errors, "import-errors") : h("p", {}, w("nothing_wrong")),
    notes.length ? table(notes, "import-notes") : null,
    h("div", { class: "actions" }, confirm, " ", discard), bar, status);
  confirm.addEventListener("click", async () => {
    confirm.disabled = true;
    discard.disabled = true;
    try {
      await post(`/imports/${run.id}/confirm`, {});
      await follow(run, bar, status, confirm);
    } catch (err) {
      status.textContent = errorMessage(err);
      confirm.disabled = false;
    }
  });
  discard.addEventListener("click", async () => {
    try {
      await post(`/imports/${run.id}/discard`, {});
      confirm.disabled = true;
      discard.disabled = true;
      status.textContent = w("discarded");
      setDirty(false);
    } catch (err) {
      toast(errorMessage(err));
    }
  });
  return card;
}

async function follow(run, bar, status, confirm) {
  bar.hidden = false;
  status.textContent = w("writing");
  for (;;) {
    const now = await get(`/imports/${run.id}?limit=200`);
    bar.value = now.rows_done;
    status.textContent = `${w("writing")} ${w("progress", { done: now.rows_done, total: now.valid_rows })}`;
    if (now.status === "done") {
      setDirty(false);                // written: leaving now loses nothing
      const c = now.counts || {};
      status.replaceChildren(w("done", { created: c.created || 0, updated: c.updated || 0,
        unchanged: c.unchanged || 0, failed: c.failed || 0 }), " ",
        h("a", { href: href("candidates"), id: "import-see" }, w("see")));
      return;
    }
    if (!now.writing) {             // the writer stopped (the server restarted): offer to go on
      status.textContent = w("stopped");
      confirm.textContent = w("resume");
      confirm.disabled = false;
      confirm.onclick = async (event) => {
        event.stopImmediatePropagation();
        confirm.disabled = true;
        await post(`/imports/${run.id}/resume`, {});
        await follow(run, bar, status, confirm);
      };
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}
