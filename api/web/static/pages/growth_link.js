// Candidate page links for HR (issue 18): on a task page, "附上成长页链接 / Attach growth page link" issues a
// signed link to the role's growth page (POST /candidates/{id}/links, kind "growth", this case) and puts the
// full URL into the message being written; on the candidate page, the candidate's links with their status
// (active / expired / revoked), views and a revoke button. The URL is shown once: only its hash is stored.
import { ApiError, get, post } from "../api.js";
import { clear, formatDateTime, h } from "../dom.js";
import { lang, t } from "../i18n.js";
import { announce, errorMessage, state, toast } from "../ui.js";

const mayIssue = () => state.me && ["hr", "admin"].includes(state.me.role);

function problemText(err) {
  if (err instanceof ApiError && err.errors && err.errors.length) return err.errors.map((e) => `${e.field}: ${e.message}`).join("; ");
  if (err instanceof ApiError && err.status === 409) return t("growth_link_refused");
  return errorMessage(err);
}

// The button beside the message of a task the person holds; null when it does not apply.
export function attachGrowthLink(task, form) {
  const data = task.data || {};
  const entry = form && form.fields.get("message_sent");
  if (!data.candidate_id || !entry || !mayIssue() || task.status !== "ready" || task.assignee !== state.me.name) return null;
  const note = h("p", { class: "hint", id: "growth-link-note", "aria-live": "polite" });
  const button = h("button", { type: "button", class: "secondary", id: "attach-growth-link", "aria-describedby": "growth-link-note" },
    t("growth_link_attach"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const link = await post(`/candidates/${encodeURIComponent(data.candidate_id)}/links`,
        { kind: "growth", instance_id: task.instance_id, lang: data.lang === "en" || (!data.lang && lang() === "en") ? "en" : "zh" });
      const control = typeof entry.focusEl === "function" ? entry.focusEl() : entry.focusEl;
      if (control) {
        const text = control.value || "";
        control.value = text + (text && !text.endsWith("\n") ? "\n" : "") + link.url;
        control.dispatchEvent(new Event("input", { bubbles: true }));       // kept in the draft, the form is dirty
        control.focus();
      }
      note.textContent = t("growth_link_attached", { when: formatDateTime(link.expires_at) });
      announce(t("growth_link_attached_short"));
      toast(t("growth_link_attached_short"));
    } catch (err) {
      note.textContent = problemText(err);
      note.setAttribute("role", "alert");
    } finally {
      button.disabled = false;
    }
  });
  return h("section", { class: "context-block", id: "growth-link", "aria-labelledby": "growth-link-title" },
    h("h3", { id: "growth-link-title" }, t("growth_link_title")), h("p", { class: "hint" }, t("growth_link_help")), button, note);
}

// The candidate page's card: their links, newest first, with status, views and a revoke button.
export function candidateLinksCard(candidateId) {
  if (!mayIssue()) return null;
  const body = h("div", { id: "candidate-links-body" }, h("p", { class: "muted" }, "…"));
  const card = h("section", { class: "card wide", id: "candidate-links", "aria-labelledby": "candidate-links-title" },
    h("h2", { id: "candidate-links-title" }, t("links_title")), body);
  const refresh = async () => {
    let items;
    try {
      items = (await get(`/candidates/${encodeURIComponent(candidateId)}/links`)).items;
    } catch (err) {
      clear(body).append(h("p", { class: "field-error" }, errorMessage(err)));
      return;
    }
    if (!items.length) {
      clear(body).append(h("p", { class: "muted" }, t("links_none")));
      return;
    }
    const rows = items.map((link) => {
      const revoke = link.status === "active"
        ? h("button", { type: "button", class: "secondary small", "data-revoke": link.id }, t("links_revoke")) : null;
      if (revoke) {
        revoke.addEventListener("click", async () => {
          revoke.disabled = true;
          try {
            await post(`/links/${encodeURIComponent(link.id)}/revoke`);
            toast(t("links_revoked"));
            announce(t("links_revoked"));
            refresh();
          } catch (err) {
            revoke.disabled = false;
            toast(problemText(err));
          }
        });
      }
      const views = link.view_count
        ? t("links_views", { n: link.view_count, seconds: link.view_seconds, when: formatDateTime(link.last_viewed_at) })
        : t("links_not_viewed");
      return h("tr", { "data-link": link.id, "data-status": link.status },
        h("td", {}, t(`links_kind_${link.kind}`)),
        h("td", {}, h("span", { class: `badge status-${link.status === "active" ? "ready" : link.status === "revoked" ? "cancelled" : "waiting"}` }, t(`links_status_${link.status}`)),
          link.revoked_reason === "consent_withdrawn" ? h("div", { class: "muted" }, t("links_consent_withdrawn")) : null),
        h("td", {}, views, link.replied_at ? h("div", {}, t("links_replied")) : null),
        h("td", {}, formatDateTime(link.created_at), h("div", { class: "muted" }, link.created_by)),
        h("td", {}, formatDateTime(link.expires_at)),
        h("td", {}, revoke));
    });
    clear(body).append(h("table", { class: "links-table" },
      h("thead", {}, h("tr", {}, ...["links_col_kind", "links_col_status", "links_col_views", "links_col_issued",
        "links_col_expires", "links_col_action"].map((k) => h("th", { scope: "col" }, t(k))))),
      h("tbody", {}, ...rows)));
  };
  refresh();
  return card;
}
