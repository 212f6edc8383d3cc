// Channel settings (admin): one card per installed channel (WeCom, email), its form drawn from the fields
// the channel declares (GET /channels), saved with PUT /channels/{name} (422 beside the field), a secret
// shown only as "set ••••ab12" and left as it is unless a new one is typed, a connection test
// (POST /channels/{name}/test, nothing saved) and an enabled switch. Secrets never come back from the API.
import { ApiError, get, post, request } from "../api.js";
import { formatDateTime, h, uid } from "../dom.js";
import { lang, t } from "../i18n.js";
import { errorMessage, heading, toast } from "../ui.js";

const byLang = (zh, en) => (lang() === "en" ? en || zh : zh || en);

function control(field, id, value) {
  const attrs = { id, name: field.key, "aria-describedby": `${id}-help ${id}-err` };
  if (field.kind === "bool") return h("input", { ...attrs, type: "checkbox", checked: value === true ? true : null });
  if (field.kind === "choice") {
    return h("select", attrs, ...field.choices.map((c) => h("option", { value: String(c), selected: String(c) === String(value ?? "") ? true : null }, String(c))));
  }
  const type = field.secret ? "password" : { int: "number", email: "email", url: "url" }[field.kind] || "text";
  const input = h("input", { ...attrs, type, spellcheck: "false", autocomplete: field.secret ? "new-password" : "off" });
  if (!field.secret && value !== null && value !== undefined) input.value = String(value);
  if (field.secret) input.placeholder = value && value.set ? t("channel_secret_keep") : "";
  return input;
}

function fieldRow(field, id, value) {
  const input = control(field, id, value);
  const secretState = field.secret
    ? h("span", { class: "secret-state", "data-secret": field.key },
      value && value.set ? t("channel_secret_set", { hint: value.hint ? `••••${value.hint}` : "••••" }) : t("channel_secret_unset"))
    : null;
  const help = byLang(field.help_zh, field.help_en);
  return h("div", { class: "field", "data-field": field.key },
    h("label", { for: id }, byLang(field.label_zh, field.label_en), field.required ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null,
      secretState ? [" ", secretState] : null),
    h("p", { class: "hint", id: `${id}-help`, hidden: help ? null : true }, help || ""),
    input,
    h("p", { class: "field-error", id: `${id}-err`, hidden: true }));
}

// what the form says: a secret only when something was typed (else the stored one stays)
function valuesOf(channel, inputs) {
  const values = {};
  for (const field of channel.fields) {
    const input = inputs.get(field.key);
    if (field.kind === "bool") values[field.key] = input.checked;
    else if (field.secret) { if (input.value) values[field.key] = input.value; }
    else if (field.kind === "int") values[field.key] = input.value === "" ? null : input.value;
    else values[field.key] = input.value;
  }
  return values;
}

function channelCard(channel) {
  const id = uid(`ch-${channel.name}`);
  const inputs = new Map();
  const rows = channel.fields.map((field) => {
    const row = fieldRow(field, `${id}-${field.key}`, channel.values[field.key]);
    inputs.set(field.key, row.querySelector("input, select"));
    return row;
  });
  const enabled = h("input", { type: "checkbox", id: `${id}-enabled`, checked: channel.enabled || !channel.configured ? true : null });
  const status = h("div", { class: "form-status", role: "status", "aria-live": "polite" });
  const save = h("button", { type: "submit", class: "primary" }, t("channel_save"));
  const test = channel.can_test ? h("button", { type: "button", class: "secondary", "data-test": channel.name }, t("channel_test")) : null;
  const state = channel.configured
    ? t(channel.enabled ? "channel_state_on" : "channel_state_off", { who: channel.updated_by, when: formatDateTime(channel.updated_at) })
    : t("channel_state_new");
  const limit = channel.monthly_limit_per_candidate
    ? h("p", { class: "hint" }, t("channel_monthly_limit", { n: channel.monthly_limit_per_candidate })) : null;
  const form = h("form", { class: "card channel-card", novalidate: true, "data-channel": channel.name, "aria-labelledby": `${id}-title` },
    h("h2", { id: `${id}-title` }, byLang(channel.label_zh, channel.label_en)),
    h("p", { class: "hint channel-state" }, state), limit,
    ...rows,
    h("div", { class: "field" }, enabled, " ", h("label", { for: enabled.id }, t("channel_enabled"))),
    status,
    h("div", { class: "actions" }, save, test));
  const showErrors = (errors) => {
    for (const row of form.querySelectorAll(".field-error")) { row.hidden = true; row.textContent = ""; }
    for (const input of inputs.values()) input.removeAttribute("aria-invalid");
    let first = null;
    for (const e of errors) {
      const key = String(e.field || "").replace(/^values\./, "");
      const input = inputs.get(key);
      if (!input) continue;
      const err = form.querySelector(`#${CSS.escape(input.id)}-err`);
      err.textContent = e.message;
      err.hidden = false;
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
    if (first) first.focus();
    return first;
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.textContent = "";
    save.disabled = true;
    try {
      await request("PUT", `/channels/${encodeURIComponent(channel.name)}`, { body: { values: valuesOf(channel, inputs), enabled: enabled.checked } });
      const fresh = channelCard(await get(`/channels/${encodeURIComponent(channel.name)}`));
      form.replaceWith(fresh);
      fresh.querySelector("h2").setAttribute("tabindex", "-1");
      fresh.querySelector("h2").focus();
      toast(t("channel_saved"));          // once the saved card is drawn (a test waits for it)
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 422 && showErrors(err.errors))) {
        status.append(h("p", { class: "notice error" }, errorMessage(err)));
      }
    } finally {
      save.disabled = false;
    }
  });
  if (test) {
    test.addEventListener("click", async () => {
      status.textContent = "";
      test.disabled = true;
      test.textContent = t("channel_testing");
      try {
        const answer = await post(`/channels/${encodeURIComponent(channel.name)}/test`, { values: valuesOf(channel, inputs) });
        status.append(h("p", { class: `notice ${answer.ok ? "info" : "error"}`, "data-test-result": answer.ok ? "ok" : "failed" },
          answer.ok ? t("channel_test_ok", { message: answer.message }) : t("channel_test_failed", { message: answer.message })));
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 422 && showErrors(err.errors))) {
          status.append(h("p", { class: "notice error" }, errorMessage(err)));
        }
      } finally {
        test.disabled = false;
        test.textContent = t("channel_test");
      }
    });
  }
  return form;
}

export async function channelsPage(body) {
  body.append(heading(t("channels_title")));
  body.append(h("p", { class: "hint" }, t("channels_intro")));
  const channels = (await get("/channels")).items;
  if (!channels.length) body.append(h("p", {}, t("channels_none")));
  for (const channel of channels) body.append(channelCard(channel));
}
