// Search the archive.
import { get } from "../api.js";
import { h, time, uid } from "../dom.js";
import { label, REASONS, t } from "../i18n.js";
import { go, heading, href } from "../ui.js";
import { candidateName } from "../views.js";
import { likelihoodCell, tr as rankingText } from "./recall_list.js";

export async function candidatesPage(body, ctx) {
  body.append(heading(t("candidates_title")),
    h("p", {}, h("a", { href: href("recall-list") }, rankingText("recall_list_title"))));   // who to call first for a role
  const q = ctx.query.get("q") || "";
  const reason = ctx.query.get("reason") || "";
  const due = ctx.query.get("due") === "7";
  const byLikelihood = ctx.query.get("sort") === "-likelihood";      // docs/ranking.md
  const qId = uid("q");
  const rId = uid("reason");
  const dId = uid("due");
  const qInput = h("input", { id: qId, name: "q", type: "search", value: q, "aria-describedby": `${qId}-help` });
  const rSelect = h("select", { id: rId, name: "reason" }, h("option", { value: "" }, t("any_reason")),
    Object.keys(REASONS).map((k) => h("option", { value: k, selected: k === reason }, label(REASONS, k))));
  const dueBox = h("input", { id: dId, type: "checkbox", name: "due" });
  dueBox.checked = due;
  const sortBox = h("input", { id: uid("sort"), type: "checkbox", name: "sort" });
  sortBox.checked = byLikelihood;
  const form = h("form", { class: "search", role: "search" },
    h("div", { class: "field" }, h("label", { for: qId }, t("search_label")), h("p", { class: "hint", id: `${qId}-help` }, t("search_hint")), qInput),
    h("div", { class: "field" }, h("label", { for: rId }, t("reason_filter")), rSelect),
    h("div", { class: "field checkbox" }, h("div", { class: "choice" }, dueBox, h("label", { for: dId }, t("due_this_week")))),
    h("div", { class: "field checkbox" }, h("div", { class: "choice" }, sortBox, h("label", { for: sortBox.id }, rankingText("likelihood_sort")))),
    h("button", { type: "submit", class: "primary" }, t("search")));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    if (qInput.value.trim()) params.set("q", qInput.value.trim());
    if (rSelect.value) params.set("reason", rSelect.value);
    if (dueBox.checked) params.set("due", "7");
    if (sortBox.checked) params.set("sort", "-likelihood");
    go(`candidates${params.toString() ? `?${params}` : ""}`);
  });
  body.append(form);
  const params = new URLSearchParams({ limit: "100" });
  if (q) params.set("q", q);
  if (reason) params.set("reason", reason);
  if (due) params.set("due_within_days", "7");
  if (byLikelihood) params.set("sort", "-likelihood");
  const page = await get(`/candidates?${params}`);
  const items = page.items || [];
  const total = page.total ?? `${page.total_at_least}+`;
  body.append(h("p", { class: "muted" }, t("candidates_found", { n: total })));
  if (!items.length) { body.append(h("p", { class: "empty" }, t("no_candidates"))); return; }
  body.append(h("table", { class: "candidates" },
    h("caption", { class: "visually-hidden" }, t("candidates_title")),
    h("thead", {}, h("tr", {}, [t("col_name"), t("col_role"), t("col_reason"), rankingText("col_likelihood"), t("col_next_follow_up"), t("col_tags")].map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, items.map((c) => {
      const last = c.last_decline;
      return h("tr", { "data-candidate-id": c.id },
        h("th", { scope: "row", "data-label": t("col_name") }, h("a", { href: href(`candidates/${encodeURIComponent(c.id)}`) }, candidateName(c, c.id))),
        h("td", { "data-label": t("col_role") }, c.role_applied || (last && last.role) || "—"),
        h("td", { "data-label": t("col_reason") }, last ? [label(REASONS, last.reason), " · ", time(last.decline_day || last.decline_date, true)] : "—"),
        h("td", { "data-label": rankingText("col_likelihood") }, likelihoodCell(c)),
        h("td", { "data-label": t("col_next_follow_up") }, nextFollowUp(c)),
        h("td", { "data-label": t("col_tags") }, (c.tags || []).length ? (c.tags || []).map((x) => h("span", { class: "tag" }, x)) : "—"));
    }))));
}

// An open follow-up (HR has not sent it yet) says so, and whether it is overdue; else the next timer.
function nextFollowUp(c) {
  if (!c.next_follow_up_at) return "—";
  return [time(c.next_follow_up_at),
    c.next_follow_up_overdue ? [" ", h("strong", { class: "badge overdue" }, t("overdue"))]
      : c.next_follow_up_open ? [" ", h("span", { class: "badge" }, t("follow_up_open"))] : null];
}
