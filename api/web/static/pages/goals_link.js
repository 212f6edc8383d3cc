// The new hire's goals page link (issue 18): once `agree_goals` is completed, HR issues a signed link
// to the goals page of this onboarding case (POST /candidates/{id}/links, kind "goals") and copies it
// to send through their own channel. The link is shown once: only its hash is stored.
import { ApiError, post } from "../api.js";
import { formatDateTime, h } from "../dom.js";
import { lang, t } from "../i18n.js";
import { announce, errorMessage, state, toast } from "../ui.js";

export function goalsAgreed(history) {
  return history.some((e) => e.kind === "task_completed" && e.element_id === "agree_goals");
}

// The card on the case page; null when it does not apply (not HR, ended case, goals not agreed yet).
export function goalsLinkCard(inst, candidateId, history) {
  if (!candidateId || !["hr", "admin"].includes(state.me.role)) return null;
  if (["completed", "cancelled"].includes(inst.status) || !goalsAgreed(history)) return null;
  const result = h("div", { id: "goals-link-result", hidden: true });
  const button = h("button", { type: "button", class: "secondary", id: "send-goals-link" }, t("goals_link_send"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const link = await post(`/candidates/${encodeURIComponent(candidateId)}/links`,
        { kind: "goals", instance_id: inst.id, lang: lang() === "en" ? "en" : "zh" });
      showLink(result, link);
    } catch (err) {
      const detail = err instanceof ApiError && err.errors.length ? err.errors.map((e) => `${e.field}: ${e.message}`).join("; ") : errorMessage(err);
      result.replaceChildren(h("p", { class: "field-error", role: "alert" }, detail));
      result.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  return h("section", { class: "card", id: "goals-link", "aria-labelledby": "goals-link-title" },
    h("h2", { id: "goals-link-title" }, t("goals_link_title")),
    h("p", { class: "muted" }, t("goals_link_help")), button, result);
}

function showLink(result, link) {
  const url = link.url || new URL(link.url_path, window.location.origin).href;
  const input = h("input", { type: "text", readonly: true, value: url, id: "goals-link-url", "aria-label": t("goals_link_title") });
  const copy = h("button", { type: "button", class: "primary", id: "copy-goals-link" }, t("copy"));
  copy.addEventListener("click", async () => {
    let ok = false;
    try {
      await navigator.clipboard.writeText(url);
      ok = true;
    } catch {
      input.select();
      try { ok = document.execCommand("copy"); } catch { ok = false; }
    }
    copy.dataset.copied = ok ? "true" : "false";
    announce(ok ? t("goals_link_copied") : t("copy_failed"));
    toast(ok ? t("goals_link_copied") : t("copy_failed"));
  });
  const expires = link.expires_at ? t("goals_link_expires", { when: formatDateTime(link.expires_at) }) : "";
  result.replaceChildren(input, copy, h("p", { class: "muted" }, expires));
  result.hidden = false;
  input.focus();
  input.select();
}
