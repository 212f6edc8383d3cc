// A candidate's page: contact data, declines and cases, needs, messages, what HR records, and the timeline.
import { ApiError, get } from "../api.js";
import { append, h, time } from "../dom.js";
import { CONSENT_SCOPES, HISTORY_KINDS, label, MESSAGES, pick, REASONS, t } from "../i18n.js";
import { go, heading, href, state, toast } from "../ui.js";
import { candidateName, list, messageList, personName, processNames, statusBadge } from "../views.js";
import { profileSections } from "./profile.js";
import { recordSection, signalKindLabel } from "./record.js";
import { candidateLinksCard } from "./growth_link.js";

export async function candidatePage(body, ctx, id) {
  let c;
  try {
    c = await get(`/candidates/${encodeURIComponent(id)}`);
  } catch (err) {     // an old link to a record merged into another: go on to that one
    if (!(err instanceof ApiError && err.status === 404 && err.problem.merged_into)) throw err;
    toast(t("merged_redirect"));
    return go(`candidates/${encodeURIComponent(err.problem.merged_into)}`, { replace: true });
  }
  state.candidates.set(id, Promise.resolve(c));
  body.append(heading(t("candidate_title", { name: candidateName(c, id) })));
  if (state.me.role === "hr" || state.me.role === "admin") {
    body.append(h("p", {}, h("a", { class: "button-like secondary", href: href(`declines/new?candidate=${encodeURIComponent(id)}`) }, t("record_decline_for")),
      " ", h("a", { class: "button-like secondary", href: href(`candidates/${encodeURIComponent(id)}/merge`) }, t("merge_link"))));
  }
  const grid = h("div", { class: "candidate-grid" });
  body.append(grid);

  const facts = h("dl", { class: "meta" });
  const add = (term, value) => { if (value !== undefined && value !== null && value !== "") append(facts, [h("dt", {}, term), h("dd", {}, value)]); };
  add(t("role_applied"), c.role_applied);
  add(t("phone"), c.phone);
  add(t("email"), c.email);
  add(t("wecom"), c.wecom_external_id);
  add(t("tags"), (c.tags || []).length ? h("span", {}, (c.tags || []).map((x) => h("span", { class: "tag" }, x))) : null);
  const consent = c.consent || {};
  const consentDl = h("dl", { class: "meta" },
    h("dt", {}, t("consent")), h("dd", {}, consent.granted ? h("strong", { class: "badge ok" }, t("consent_granted")) : h("strong", { class: "badge" }, t("consent_not_granted"))),
    consent.scope ? [h("dt", {}, t("consent_scope")), h("dd", {}, label(CONSENT_SCOPES, consent.scope))] : null,
    consent.source ? [h("dt", {}, t("consent_source")), h("dd", {}, consent.source)] : null,
    // the day the consent holds through (docs/privacy.md, "Dates"), never the instant in this browser's zone
    consent.expires_at ? [h("dt", {}, t("consent_expires")), h("dd", {}, time(consent.expires_on || consent.expires_at, true))] : null);
  grid.append(h("section", { class: "card", "aria-labelledby": "archive-title" }, h("h2", { id: "archive-title" }, t("context_title")), facts, consentDl));

  const declines = c.declines || [];
  const cases = c.cases || [];
  const names = await processNames();
  grid.append(h("section", { class: "card", "aria-labelledby": "declines-title" }, h("h2", { id: "declines-title" }, t("declines")),
    declines.length ? h("ol", { class: "declines" }, declines.map((d) => h("li", {},
      h("p", {}, h("strong", {}, label(REASONS, d.reason)), d.decline_date ? [" · ", time(d.decline_day || d.decline_date, true)] : null,
        d.role ? ` · ${t("role")}: ${d.role}` : "", d.hiring_manager ? ` · ${t("hiring_manager")}: ${personName(d.hiring_manager, d.hiring_manager_name)}` : ""),
      d.detail ? h("p", { class: "detail" }, d.detail) : null))) : h("p", { class: "muted" }, t("none_recorded")),
    h("h3", { id: "cases-title" }, t("cases")),
    cases.length ? h("ul", { "aria-labelledby": "cases-title" }, cases.map((x) => h("li", {},
      h("a", { href: href(`cases/${x.instance_id}`) }, pick(names[x.process_key] || x.process_key)), " ", statusBadge(x.status),
      x.created_at ? [" · ", time(x.created_at, true)] : "",
      x.end_event ? ` · ${t("end_event")}: ${pick(names[x.end_event] || x.end_event)}` : ""))) : h("p", { class: "muted" }, t("no_cases"))));

  // the profile's needs and questions, and those recorded with each decline
  const union = (key) => [...new Set([...(c[key] || []), ...declines.flatMap((d) => d[key] || [])])];
  grid.append(h("section", { class: "card", "aria-labelledby": "needs-title" }, h("h2", { id: "needs-title" }, t("needs")), list(union("needs")),
    h("h2", {}, t("open_questions")), list(union("open_questions"))));
  grid.append(h("section", { class: "card", "aria-labelledby": "trail-title" }, h("h2", { id: "trail-title" }, t("interview_trail")), interviewTrail(c.interview_trail),
    c.notes ? [h("h2", {}, t("notes")), h("p", { class: "detail" }, c.notes)] : null));
  const record = recordSection(c, { preset: ctx.query.get("record") });
  if (record) grid.append(record);
  grid.append(...profileSections(c));
  const links = candidateLinksCard(id);         // growth and goals page links, status, revoke (pages/growth_link.js)
  if (links) grid.append(links);
  grid.append(h("section", { class: "card wide", "aria-labelledby": "messages-title" }, h("h2", { id: "messages-title" }, t("messages")), messageList(c.messages || [])));

  const timeline = c.timeline || [];
  grid.append(h("section", { class: "card wide", "aria-labelledby": "timeline-title" }, h("h2", { id: "timeline-title" }, t("timeline")),
    timeline.length ? h("ol", { class: "timeline" }, timeline.map((e) => h("li", {},
      time(e.at), " ", h("strong", {}, timelineText(e, names)),
      e.actor ? h("span", { class: "muted", title: e.actor }, ` · ${personName(e.actor, e.actor_name)}`) : null,
      e.instance_id && state.me.role !== "manager" ? [" ", h("a", { href: href(`cases/${e.instance_id}`), "aria-label": `${t("view_diagram")}: ${timelineText(e, names)}` }, "↗")] : null)))
      : h("p", { class: "muted" }, t("none_recorded"))));
}

function interviewTrail(rounds) {
  if (!Array.isArray(rounds) || !rounds.length) return h("p", { class: "muted" }, t("none_recorded"));
  return h("ol", { class: "trail" }, rounds.map((r) => h("li", {},
    h("strong", {}, typeof r.round === "number" ? t("round_n", { n: r.round }) : String(r.round ?? "")),
    r.interviewer ? ` · ${r.interviewer}` : "", r.evaluation ? h("p", { class: "detail" }, r.evaluation) : null)));
}


// One line of a candidate's timeline, in the user's language.
function timelineText(e, names) {
  const el = e.element_id ? pick(names[e.element_id] || e.element_id) : "";
  const summary = e.summary || "";
  const kind = e.kind || "";
  let m;
  switch (kind) {
    case "candidate_created": return t("tl_created");
    case "declined": m = summary.match(/\((\w+)\)/); return t("tl_declined", { reason: m ? label(REASONS, m[1]) : "" });
    case "consent_granted":
      m = summary.match(/\((\w+)\) until (\S+)/);
      return m ? t("tl_consent_until", { scope: label(CONSENT_SCOPES, m[1]), date: m[2] }) : t("consent_granted");
    case "consent_withdrawn": return t("tl_consent_withdrawn");
    case "consent_refused": return t("tl_consent_refused");
    case "signal": return t("tl_signal", { kind: signalKindLabel(summary.replace(/^signal: /, "")) });
    case "task_completed": return t("tl_task", { name: el });
    case "timer_fired": return t("tl_timer", { name: el });
    case "message_delivered": m = summary.match(/^(\w+) delivered/); return t("tl_message", { name: m ? label(MESSAGES, m[1]) : summary });
    case "instance_completed": m = summary.match(/at (\w+)/); return t("tl_case_ended", { name: m ? pick(names[m[1]] || m[1]) : "" });
    case "instance_cancelled": return t("tl_case_cancelled");
    case "contact_viewed": return t("tl_contact_viewed");
    default: return HISTORY_KINDS[kind] ? `${label(HISTORY_KINDS, kind)}${el ? ` · ${el}` : ""}` : (summary || kind);
  }
}
