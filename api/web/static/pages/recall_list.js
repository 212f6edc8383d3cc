// Who to call first (issue 20, docs/ranking.md): the recall list of a newly opened role, and the likelihood
// badge with its reasons that the candidate list and the inbox show.
import { get, post, request } from "../api.js";
import { h, uid } from "../dom.js";
import { lang, t } from "../i18n.js";
import { alertBox, go, heading, href, state, toast } from "../ui.js";
import { candidateName } from "../views.js";

export function tr(key) { return t(`rank_${key}`); }      // this page's texts: rank_* in i18n.js

function percent(score) { return `${Math.round(score * 100)}%`; }

function signed(value) { return `${value > 0 ? "+" : ""}${value.toFixed(1)}`; }

// The score and its top reasons, e.g. "62%  正在看机会 +1.0 · 最近的回复:有兴趣 +1.5".
export function likelihoodCell(item) {
  if (item.likelihood === null || item.likelihood === undefined) return h("span", { class: "muted" }, tr("not_scored"));
  const reasons = item.likelihood_reasons || [];
  const source = (item.likelihood_source || "").startsWith("model") ? tr("source_model") : tr("source_scorecard");
  return h("span", { class: "likelihood", "data-likelihood": String(item.likelihood) },
    item.pinned ? [h("span", { class: "badge ok" }, tr("pinned")), " "] : null,
    h("strong", { class: "badge", title: source }, percent(item.likelihood)),
    reasons.length ? h("ul", { class: "reasons", style: "margin:.2rem 0 0;padding-left:1.1rem;font-size:.85rem" }, reasons.map((r) =>
      h("li", { "data-feature": r.feature }, lang() === "en" ? r.en : r.zh, " ",
        h("span", { class: r.contribution > 0 ? "up" : "down", style: r.contribution > 0 ? "color:#1a7f37" : "color:#b42318" }, signed(r.contribution))))) : null);
}

// The inbox: each follow-up's candidate gets their likelihood (HR and admins; a manager's inbox shows none).
export async function addInboxScores(rows) {
  if (!state.me || !["hr", "admin"].includes(state.me.role)) return;
  const ids = [...new Set(rows.map((r) => r.dataset.candidateId).filter(Boolean))].slice(0, 200);
  if (!ids.length) return;
  const params = new URLSearchParams();
  ids.forEach((id) => params.append("candidate_id", id));
  let found;
  try { found = await get(`/ranking/scores?${params}`); } catch { return; }
  const byId = Object.fromEntries(found.items.map((x) => [x.candidate_id, x]));
  for (const row of rows) {
    const score = byId[row.dataset.candidateId];
    const cell = row.querySelector("[data-candidate-cell]");
    if (score && cell) cell.append(" ", likelihoodCell(score));
  }
}

export async function pinCandidate(id, pinned) {
  return (await request("PUT", `/candidates/${encodeURIComponent(id)}/pin`, { body: { pinned } })).data;
}

export async function recallListPage(body, ctx) {
  body.append(heading(tr("recall_list_title")), h("p", { class: "muted" }, tr("recall_list_intro"), " ",
    h("a", { href: href("scorecard") }, tr("scorecard_title"))));
  const role = (ctx.query.get("role") || "").trim();
  const inputId = uid("role");
  const input = h("input", { id: inputId, name: "role", type: "search", value: role, "aria-describedby": `${inputId}-help` });
  const form = h("form", { class: "search", role: "search" },
    h("div", { class: "field" }, h("label", { for: inputId }, tr("role_key_label")),
      h("p", { class: "hint", id: `${inputId}-help` }, tr("role_key_hint")), input),
    h("button", { type: "submit", class: "primary" }, tr("show")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    go(`recall-list?role=${encodeURIComponent(input.value.trim())}`);
  });
  const again = h("button", { type: "button", class: "secondary", id: "score-now" }, tr("score_now"));
  again.addEventListener("click", async () => {      // the worker does it every round; this is at once
    again.disabled = true;
    try { await post("/ranking/refresh"); go(`recall-list${role ? `?role=${encodeURIComponent(role)}` : ""}`, { replace: true }); }
    catch (err) { again.disabled = false; body.prepend(alertBox(String(err && err.message || err))); }
  });
  body.append(form, h("p", {}, again));
  if (!role) return;
  const found = await get(`/recall-list?${new URLSearchParams({ role_key: role, limit: "50" })}`);
  if (!found.items.length) { body.append(h("p", { class: "empty" }, tr("empty"))); return; }
  body.append(h("table", { class: "recall-list" },
    h("caption", { class: "visually-hidden" }, `${tr("recall_list_title")}: ${role}`),
    h("thead", {}, h("tr", {}, ["col_rank", "col_name", "col_role", "col_likelihood", "col_order"].map((k) => h("th", { scope: "col" }, tr(k))))),
    h("tbody", {}, found.items.map((item, i) => {
      const button = h("button", { type: "button", class: "secondary", "data-pin": item.candidate_id }, item.pinned ? tr("unpin") : tr("pin"));
      button.addEventListener("click", async () => {
        button.disabled = true;
        try {
          await pinCandidate(item.candidate_id, !item.pinned);
          go(`recall-list?role=${encodeURIComponent(role)}`, { replace: true });
        } catch (err) {
          button.disabled = false;
          body.prepend(alertBox(String(err && err.message || err)));
        }
      });
      return h("tr", { "data-candidate-id": item.candidate_id },
        h("td", { "data-label": tr("col_rank") }, String(i + 1)),
        h("th", { scope: "row", "data-label": tr("col_name") },
          h("a", { href: href(`candidates/${encodeURIComponent(item.candidate_id)}`) }, candidateName(item, item.candidate_id))),
        h("td", { "data-label": tr("col_role") }, item.role_applied || "—"),
        h("td", { "data-label": tr("col_likelihood") }, likelihoodCell(item)),
        h("td", { "data-label": tr("col_order") }, button));
    }))));
}

// The scorecard (process owner, admin; HR reads it): one weight per feature, in log-odds points.
export async function scorecardPage(body) {
  body.append(heading(tr("scorecard_title")), h("p", { class: "muted" }, tr("scorecard_intro")));
  const card = await get("/ranking/scorecard");
  const mayChange = state.me && ["process_owner", "admin"].includes(state.me.role);
  body.append(h("p", { id: "scorecard-in-use" }, tr("scorecard_in_use"), " ",
    h("strong", {}, card.in_use.startsWith("model") ? `${tr("source_model")} ${card.in_use.slice(6)}` : `${tr("source_scorecard")} v${card.version}`)));
  const inputs = {};
  const number = (name, value, labelText) => {
    const id = uid("w");
    const input = h("input", { id, name, type: "number", step: "any", min: "-10", max: "10", value: String(value ?? 0), disabled: !mayChange });
    inputs[name] = input;
    return h("tr", { "data-feature": name }, h("th", { scope: "row" }, h("label", { for: id }, labelText), name === "__intercept" ? null : h("div", { class: "muted" }, h("code", {}, name))), h("td", {}, input));
  };
  const noteId = uid("note");
  const note = h("input", { id: noteId, name: "note", type: "text", maxlength: "2000", value: "", disabled: !mayChange });
  const form = h("form", { id: "scorecard-form" },
    h("table", { class: "scorecard" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, tr("col_feature")), h("th", { scope: "col" }, tr("col_weight")))),
      h("tbody", {}, number("__intercept", card.intercept, tr("intercept")),
        card.features.map((f) => number(f.feature, card.weights[f.feature], lang() === "en" ? f.en : f.zh)))),
    h("div", { class: "field" }, h("label", { for: noteId }, tr("scorecard_note")), note),
    mayChange ? h("button", { type: "submit", class: "primary" }, tr("scorecard_save")) : null);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const weights = {};
    for (const [name, input] of Object.entries(inputs)) {
      if (name !== "__intercept" && input.value !== "" && Number(input.value) !== 0) weights[name] = Number(input.value);
    }
    try {
      const saved = (await request("PUT", "/ranking/scorecard", { body: { intercept: Number(inputs.__intercept.value || 0), weights, note: note.value || null } })).data;
      await post("/ranking/refresh");
      toast(tr("scorecard_saved").replace("{v}", saved.version));
      go("scorecard", { replace: true });
    } catch (err) {
      body.prepend(alertBox(String(err && err.message || err)));
    }
  });
  body.append(form);
}
