// Merge a duplicate record into this candidate (POST /candidates/{id}/merge, hr and admin): find the
// other record (likely duplicates first), see both side by side and what moves, confirm, land here.
import { ApiError, get, post } from "../api.js";
import { clear, h, time, uid } from "../dom.js";
import { CONSENT_SCOPES, label, REASONS, t } from "../i18n.js";
import { alertBox, announce, errorMessage, go, heading, href, state, toast } from "../ui.js";
import { candidateName, findCandidates } from "../views.js";

const CONTACT = ["name", "phone", "email", "wecom_external_id", "role_applied"];

export async function mergePage(body, ctx, id) {
  const me = await get(`/candidates/${encodeURIComponent(id)}`);
  body.append(heading(t("merge_title", { name: candidateName(me, id) })),
    h("p", {}, t("merge_intro")), h("p", {}, h("a", { href: href(`candidates/${encodeURIComponent(id)}`) }, t("merge_back"))));
  if (!(state.me.role === "hr" || state.me.role === "admin")) { body.append(alertBox(t("forbidden"))); return; }
  const status = h("div", { class: "form-status", "aria-live": "polite" });
  const compare = h("div", { id: "merge-compare" });
  const results = h("div", { id: "merge-results" });
  const qId = uid("merge-q");
  const input = h("input", { id: qId, type: "search", name: "q", "aria-describedby": `${qId}-help` });
  const finder = h("form", { class: "search", role: "search", "aria-label": t("merge_find") },
    h("div", { class: "field" }, h("label", { for: qId }, t("merge_find")), h("p", { class: "hint", id: `${qId}-help` }, t("merge_find_hint")), input),
    h("button", { type: "submit", class: "secondary" }, t("search")));
  body.append(h("section", { class: "card", "aria-labelledby": "merge-pick" }, h("h2", { id: "merge-pick" }, t("merge_pick")), finder, results),
    compare, status);

  const choose = async (otherId) => {
    clear(status);
    clear(compare);
    try {
      const other = await get(`/candidates/${encodeURIComponent(otherId)}`);
      compare.append(comparison(me, other, id, status));
      compare.querySelector("h2").focus();
    } catch (err) {
      status.append(alertBox(errorMessage(err)));
    }
  };
  const show = (found, text) => {
    clear(results);
    const others = found.filter((c) => c.id !== id);
    if (!others.length) { results.append(h("p", { class: "empty" }, text ? t("merge_none_found") : t("merge_no_suggestions"))); return; }
    results.append(h("p", { class: "muted" }, text ? t("merge_results") : t("merge_suggestions")),
      h("ul", { class: "merge-results" }, others.map((c) => {
        const pickButton = h("button", { type: "button", class: "secondary", "data-candidate": c.id }, t("merge_choose"));
        pickButton.setAttribute("aria-label", `${t("merge_choose")}: ${candidateName(c, c.id)}`);
        pickButton.addEventListener("click", () => choose(c.id));
        const last = c.last_decline;
        return h("li", {}, h("strong", {}, candidateName(c, c.id)),
          [c.phone, c.email, c.role_applied].filter(Boolean).map((x) => ` · ${x}`).join(""),
          last ? [` · ${label(REASONS, last.reason)} `, time(last.decline_day || last.decline_date, true)] : null, " ", pickButton);
      })));
    announce(results.textContent);
  };
  finder.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (text) show(await findCandidates(text), text);
  });
  // likely duplicates first: the same name, phone or email (what the 409 duplicate warning matches)
  const probes = [me.name, me.phone, me.email].filter(Boolean);
  const seen = new Map();
  for (const found of await Promise.all(probes.map((p) => findCandidates(p)))) for (const c of found) seen.set(c.id, c);
  show([...seen.values()], "");
  const preset = ctx.query.get("from");
  if (preset && preset !== id) await choose(preset);
}

// Both records side by side: what each holds, what the merged record will hold, what moves.
function comparison(me, other, id, status) {
  const union = (a, b) => [...new Set([...(a || []), ...(b || [])])];
  const consentText = (x) => {
    if (!x || !x.recorded_at) return t("merge_no_consent");
    return x.granted ? `${t("consent_granted")} · ${label(CONSENT_SCOPES, x.scope)} · ${x.expires_on || ""}` : t("consent_not_granted");
  };
  const rows = [
    ...CONTACT.filter((f) => me[f] || other[f])
      .map((f) => [t(f === "wecom_external_id" ? "wecom" : f === "name" ? "col_name" : f), me[f], other[f], me[f] || other[f]]),
    ...["tags", "needs"].filter((f) => (me[f] || []).length || (other[f] || []).length)
      .map((f) => [t(f), (me[f] || []).join("、"), (other[f] || []).join("、"), union(me[f], other[f]).join("、")]),
    [t("declines"), String((me.declines || []).length), String((other.declines || []).length), String((me.declines || []).length + (other.declines || []).length)],
    [t("cases"), String((me.cases || []).length), String((other.cases || []).length), String((me.cases || []).length + (other.cases || []).length)],
    [t("merge_signals"), String((me.signals || []).length), String((other.signals || []).length), String((me.signals || []).length + (other.signals || []).length)],
    [t("consent"), consentText(me.consent), consentText(other.consent), consentText(mergedConsent(me.consent, other.consent))],
  ];
  const heads = [t("merge_field"), t("merge_this"), t("merge_other"), t("merge_after")];
  const table = h("table", { class: "merge-compare" },
    h("caption", { class: "visually-hidden" }, t("merge_compare")),
    h("thead", {}, h("tr", {}, heads.map((x) => h("th", { scope: "col" }, x)))),
    h("tbody", {}, rows.map(([field, a, b, after]) => h("tr", {},
      h("th", { scope: "row", "data-label": heads[0] }, field),
      h("td", { "data-label": heads[1] }, a || "—"), h("td", { "data-label": heads[2] }, b || "—"),
      h("td", { "data-label": heads[3] }, after || "—")))));
  const key = `web-merge-${window.crypto && crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`}`;
  const confirm = h("button", { type: "button", class: "primary", id: "merge-confirm" }, t("merge_confirm"));
  confirm.addEventListener("click", async () => {
    clear(status);
    confirm.disabled = true;
    try {
      await post(`/candidates/${encodeURIComponent(id)}/merge`, { from: other.id }, { headers: { "Idempotency-Key": key } });
      state.candidates.delete(id);
      state.candidates.delete(other.id);
      toast(t("merge_done", { name: candidateName(me, id) }));
      go(`candidates/${encodeURIComponent(id)}`);
    } catch (err) {
      const field = err instanceof ApiError && err.errors.find((e) => e.field === "from");
      status.append(alertBox(field ? field.message : errorMessage(err)));
      confirm.disabled = false;
    }
  });
  return h("section", { class: "card", "aria-labelledby": "merge-compare-title" },
    h("h2", { id: "merge-compare-title", tabindex: "-1" }, t("merge_compare")),
    h("p", {}, t("merge_explain", { other: candidateName(other, other.id), name: candidateName(me, id) })),
    table, h("p", { class: "hint" }, t("merge_consent_rule")), h("p", { class: "hint" }, t("merge_moves")),
    h("div", { class: "actions" }, confirm));
}

// What the server will hold (docs/privacy.md, "Merging duplicates"): the stricter consent. A record
// with no decision adds nothing; a refusal or withdrawal wins; two grants: narrower scope, earlier day.
function mergedConsent(a, b) {
  if (!b || !b.recorded_at) return a;
  if (!a || !a.recorded_at) return b;
  if (!a.granted || !b.granted) return { recorded_at: true, granted: false };
  const scopes = Object.keys(CONSENT_SCOPES);
  const scope = scopes.indexOf(a.scope) <= scopes.indexOf(b.scope) ? a.scope : b.scope;
  const day = [a.expires_on, b.expires_on].filter(Boolean).sort()[0];
  return { recorded_at: true, granted: true, scope, expires_on: day };
}
