// Webhooks (admin): who gets which events (GET/POST/PATCH /webhooks), the secret shown once when a
// webhook is made, disable and enable again, and each webhook's delivery log with redelivery by hand
// (GET /webhooks/{id}/deliveries, POST .../redeliver). The worker sends; this page only manages.
import { ApiError, get, request } from "../api.js";
import { formatDateTime, h, uid } from "../dom.js";
import { t } from "../i18n.js";
import { errorMessage, go, heading, render, toast } from "../ui.js";

let justMade = null;     // the webhook made a moment ago: its secret is shown once, after the page is drawn again
const KINDS = ["case.started", "case.ended", "case.failed", "task.created", "task.assigned", "task.claimed",
  "task.completed", "message.delivered", "message.expired", "timer.fired", "candidate.reaccepted",
  "consent.changed", "candidate.erased"];

function createForm(id, onMade) {
  const url = h("input", { id: `${id}-url`, type: "url", required: true, spellcheck: "false",
    placeholder: "https://", "aria-describedby": `${id}-url-help` });
  const urlError = h("p", { class: "field-error", id: `${id}-url-err`, hidden: true });
  const boxes = KINDS.map((kind) => h("input", { type: "checkbox", value: kind, id: `${id}-k-${kind}` }));
  const kindsError = h("p", { class: "field-error", id: `${id}-kinds-err`, hidden: true });
  const description = h("input", { id: `${id}-desc`, type: "text", maxlength: "255" });
  const submit = h("button", { type: "submit", class: "primary" }, t("webhook_create"));
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": `${id}-new` },
    h("h2", { id: `${id}-new` }, t("webhook_new")),
    h("div", { class: "field" }, h("label", { for: url.id }, t("webhook_url")),
      h("p", { class: "hint", id: `${id}-url-help` }, t("webhook_url_hint")), url, urlError),
    h("fieldset", { class: "field" }, h("legend", {}, t("webhook_kinds")),
      ...boxes.map((box) => h("div", {}, box, " ", h("label", { for: box.id }, box.value))), kindsError),
    h("div", { class: "field" }, h("label", { for: description.id }, t("webhook_description")), description),
    submit);
  const show = (el, input, text) => {
    el.textContent = text || "";
    el.hidden = !text;
    if (input && text) input.setAttribute("aria-invalid", "true");
    else if (input) input.removeAttribute("aria-invalid");
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    show(urlError, url, "");
    show(kindsError, null, "");
    const kinds = boxes.filter((b) => b.checked).map((b) => b.value);
    if (!url.value.trim()) return show(urlError, url, t("required_mark"));
    if (!kinds.length) return show(kindsError, null, t("webhook_kinds_missing"));
    submit.disabled = true;
    try {
      const made = (await request("POST", "/webhooks", { body: {
        url: url.value.trim(), kinds, description: description.value.trim() || null } })).data;
      onMade(made);
    } catch (err) {
      const named = err instanceof ApiError && err.errors.find((e) => /url|kinds/.test(e.field));
      if (named && /kinds/.test(named.field)) show(kindsError, null, named.message);
      else if (named) { show(urlError, url, named.message); url.focus(); }
      else show(urlError, url, errorMessage(err));
    } finally {
      submit.disabled = false;
    }
    return undefined;
  });
  return form;
}

function secretCard(made) {
  const id = uid("secret");
  return h("section", { class: "card notice info", role: "status", "aria-labelledby": id },
    h("h2", { id }, t("webhook_secret_title")),
    h("p", {}, t("webhook_secret_once")),
    h("p", {}, h("code", { id: "webhook-secret" }, made.secret)));
}

async function toggle(hook) {
  try {
    await request("PATCH", `/webhooks/${hook.id}`, { body: { active: hook.status !== "active" } });
    toast(hook.status === "active" ? t("webhook_disabled_done") : t("webhook_enabled_done"));
    render();
  } catch (err) {
    toast(errorMessage(err));
  }
}

function hookRow(hook) {
  return h("tr", { "data-webhook": hook.id },
    h("td", {}, h("a", { href: `?id=${encodeURIComponent(hook.id)}` }, hook.url),
      hook.description ? h("div", { class: "hint" }, hook.description) : null),
    h("td", {}, hook.kinds.join(", ")),
    h("td", {}, hook.status === "active" ? t("webhook_active") : t("webhook_disabled"),
      hook.disabled_reason ? h("div", { class: "hint" }, hook.disabled_reason) : null),
    h("td", {}, hook.last_success_at ? formatDateTime(hook.last_success_at) : "—"),
    h("td", {}, String(hook.failures_in_row)),
    h("td", {}, h("button", { type: "button", class: "webhook-toggle", onclick: () => toggle(hook) },
      hook.status === "active" ? t("webhook_disable") : t("webhook_enable"))));
}

async function deliveryLog(body, hook) {
  const log = await get(`/webhooks/${hook.id}/deliveries?limit=50`);
  const id = uid("log");
  const redeliver = async (delivery) => {
    try {
      await request("POST", `/webhooks/${hook.id}/deliveries/${delivery.id}/redeliver`);
      toast(t("webhook_redelivered"));
      render();
    } catch (err) {
      toast(errorMessage(err));
    }
  };
  body.append(h("section", { class: "card", "aria-labelledby": id },
    h("h2", { id }, t("webhook_log", { url: hook.url })),
    log.items.length ? h("table", {},
      h("thead", {}, h("tr", {}, ...["webhook_event", "webhook_status", "webhook_attempts", "webhook_answer", ""]
        .map((key) => h("th", { scope: "col" }, key ? t(key) : h("span", { class: "visually-hidden" }, t("webhook_actions")))))),
      h("tbody", {}, ...log.items.map((d) => h("tr", {},
        h("td", {}, `${d.event_kind} #${d.event_id}`, h("div", { class: "hint" }, formatDateTime(d.created_at))),
        h("td", {}, t(`webhook_delivery_${d.status}`)),
        h("td", {}, String(d.attempts)),
        h("td", {}, d.response_status ? `HTTP ${d.response_status}` : (d.error || "—")),
        h("td", {}, h("button", { type: "button", onclick: () => redeliver(d) }, t("webhook_redeliver"))))))) :
      h("p", {}, t("webhook_log_empty"))));
}

export async function webhooksPage(body, ctx) {
  const id = uid("hooks");
  body.append(heading(t("webhooks_title")));
  body.append(h("p", { class: "hint" }, t("webhooks_intro")));
  const hooks = (await get("/webhooks")).items;
  const selected = hooks.find((hook) => hook.id === ctx.query.get("id"));
  if (justMade && selected && justMade.id === selected.id) body.append(secretCard(justMade));
  justMade = null;
  const made = createForm(id, (hook) => {
    justMade = hook;
    go(`webhooks?id=${encodeURIComponent(hook.id)}`);
  });
  if (hooks.length) {
    body.append(h("section", { class: "card", "aria-labelledby": `${id}-list` },
      h("h2", { id: `${id}-list` }, t("webhooks_list")),
      h("table", {},
        h("thead", {}, h("tr", {}, ...["webhook_url", "webhook_kinds", "webhook_state", "webhook_last_success",
          "webhook_failures", "webhook_actions"].map((key) => h("th", { scope: "col" }, t(key))))),
        h("tbody", {}, ...hooks.map(hookRow)))));
  }
  if (selected) await deliveryLog(body, selected);
  body.append(made);
}
