// The inbox: the user's and their groups' tasks, with queues.
import { get } from "../api.js";
import { formatDuration, h, time } from "../dom.js";
import { pick, t } from "../i18n.js";
import { alertBox, heading, href, state, updateClock } from "../ui.js";
import { candidateLink, queueLabel } from "../views.js";
import { addInboxScores } from "./recall_list.js";

const SORTS = ["due", "waited", "candidate", "step"];
const COLUMNS = { col_step: "step", col_candidate: "candidate", col_waited: "waited", col_due: "due" };

export async function inboxPage(body, ctx) {
  body.append(heading(t("inbox_title")));
  if (state.me.role === "integrator") {
    body.append(alertBox(t("no_workspace_role"), "info"), h("p", {}, h("a", { href: href("processes") }, t("nav_processes"))));
    return;
  }
  // the order the server keeps (overdue first, then due soonest) unless a column header asked for another
  const sort = SORTS.includes(ctx.query.get("sort")) ? ctx.query.get("sort") : "due";
  const asked = ["asc", "desc"].includes(ctx.query.get("order")) ? ctx.query.get("order") : null;
  const order = asked || (sort === "waited" ? "desc" : "asc");
  const params = new URLSearchParams();
  if (sort !== "due") params.set("sort", sort);
  if (asked) params.set("order", asked);
  const inbox = await get(`/workspace/inbox${params.toString() ? `?${params}` : ""}`);
  updateClock(inbox.now);
  const selected = ctx.query.get("queue") || "all";
  const people = Object.fromEntries(inbox.items.filter((x) => x.assignee && x.assignee_name).map((x) => [x.assignee, x.assignee_name]));
  const link = (queue, more = params) => {
    const q = new URLSearchParams(more);
    if (queue !== "all") q.set("queue", queue);
    return href(q.toString() ? `?${q}` : "");
  };
  const header = (key) => {
    const column = COLUMNS[key];
    if (!column) return h("th", { scope: "col" }, t(key));
    const current = column === sort;
    const next = current ? (order === "asc" ? "desc" : "asc") : (column === "waited" ? "desc" : "asc");
    return h("th", { scope: "col", "aria-sort": current ? (order === "asc" ? "ascending" : "descending") : null },
      h("a", { href: link(selected, { sort: column, order: next }), class: "sort", "data-sort": column }, t(key),
        current ? h("span", { "aria-hidden": "true" }, order === "asc" ? " ↑" : " ↓") : null));
  };
  const queues = [{ queue: "all", count: inbox.total }, ...inbox.queues, { queue: "overdue", count: inbox.overdue }];
  const queueNav = h("nav", { class: "queues", "aria-label": t("queues") }, h("ul", {}, queues.map((q) => h("li", {},
    h("a", { href: link(q.queue), "aria-current": q.queue === selected ? "page" : null, class: q.queue === "overdue" && q.count ? "has-overdue" : null },
      queueLabel(q.queue, people), " ", h("span", { class: "count" }, String(q.count)))))));
  body.append(queueNav, h("p", { class: "muted", id: "inbox-summary" }, t("inbox_count", { n: inbox.total, overdue: inbox.overdue })));
  if (inbox.truncated) body.append(alertBox(t("inbox_truncated"), "info"));
  const items = inbox.items.filter((task) => selected === "all" || (selected === "overdue" ? task.overdue : task.queue === selected));
  if (!items.length) {
    body.append(h("p", { class: "empty" }, inbox.total ? t("inbox_filtered_empty") : t("inbox_empty")));
    return;
  }
  const rows = items.map((task) => {
    const who = task.candidate_name ? { name: task.candidate_name } : null;
    const candidateCell = h("td", { "data-label": t("col_candidate"), "data-candidate-cell": "" }, candidateLink(task.candidate_id, who));
    const due = task.effective_due_at;
    const row = h("tr", { class: task.overdue ? "overdue" : null, "data-task-id": task.id, "data-element-id": task.element_id,
      "data-candidate-id": task.candidate_id || null },
      h("th", { scope: "row", "data-label": t("col_step") }, h("a", { href: href(`tasks/${task.id}`) }, pick(task.title || task.element_id))),
      candidateCell,
      h("td", { "data-label": t("col_waited") }, formatDuration(task.waited_seconds)),
      h("td", { "data-label": t("col_due") }, due ? [time(due), task.follow_up_due_at && !task.due_at ? h("span", { class: "muted" }, ` (${t("due_follow_up")})`) : null] : t("no_due"),
        task.overdue ? [" ", h("strong", { class: "badge overdue" }, t("overdue"))] : null),
      h("td", { "data-label": t("col_queue") }, queueLabel(task.queue, people)));
    return row;
  });
  body.append(h("table", { class: "inbox" },
    h("caption", { class: "visually-hidden" }, `${t("inbox_title")}: ${queueLabel(selected, people)}`),
    h("thead", {}, h("tr", {}, ["col_step", "col_candidate", "col_waited", "col_due", "col_queue"].map(header))),
    h("tbody", {}, rows)));
  await addInboxScores(rows);      // the recall likelihood beside each candidate (docs/ranking.md)
}
