// API tokens (admin): a user's tokens (GET /users/{name}/tokens: name, scope, created by whom and
// when, expiry, expired), a new one (POST: the secret is in that answer only — shown once here, with
// a copy button and a warning), and revoking one (DELETE, after a confirmation). The API keeps no
// "last used" time, so the page shows none. Rotation: make the new token, deploy it, revoke the old.
// Above the tokens, the person's WeCom user id (GET/PATCH /users/{name}): set, changed or cleared.
import { ApiError, get, request } from "../api.js";
import { formatDate, h, localDateTime, time, uid } from "../dom.js";
import { t } from "../i18n.js";
import { announce, errorMessage, go, heading, render, toast } from "../ui.js";

let justMade = null;     // the token made a moment ago: its secret is shown once, after the page is drawn again

function userPicker(id, users, selected) {
  const select = h("select", { id: `${id}-user` },
    ...users.map((u) => h("option", { value: u.name, selected: u.name === selected ? true : null },
      u.display_name ? `${u.display_name} (${u.name}, ${u.role})` : `${u.name} (${u.role})`)));
  select.addEventListener("change", () => go(`tokens?user=${encodeURIComponent(select.value)}`));
  return h("div", { class: "card field" }, h("label", { for: select.id }, t("tokens_user")), select);
}

function secretCard(made) {
  const id = uid("secret");
  const code = h("code", { id: "token-secret" }, made.token);
  const copy = h("button", { type: "button", class: "primary", id: "copy-token", "aria-describedby": "token-secret" },
    t("copy"));
  copy.addEventListener("click", async () => {
    let copied = false;
    try {
      await navigator.clipboard.writeText(made.token);
      copied = true;
    } catch {
      window.getSelection().selectAllChildren(code);   // selected: the admin copies it by hand
    }
    copy.dataset.copied = String(copied);
    announce(copied ? t("token_copied") : t("copy_failed"));
    toast(copied ? t("token_copied") : t("copy_failed"));
  });
  return h("section", { class: "card notice info", role: "alert", "aria-labelledby": id },
    h("h2", { id }, t("token_secret_title", { name: made.name, user: made.user })),
    h("p", {}, h("strong", {}, t("token_secret_once"))),
    h("p", {}, code), copy);
}

async function revoke(user, token) {
  if (!window.confirm(t("token_revoke_confirm", { name: token.name, user }))) return;
  try {
    await request("DELETE", `/users/${encodeURIComponent(user)}/tokens/${encodeURIComponent(token.id)}`);
    toast(t("token_revoked", { name: token.name }));
    render();
  } catch (err) {
    toast(errorMessage(err));
  }
}

function tokenTable(id, user, tokens) {
  if (!tokens.length) return h("p", {}, t("tokens_none"));
  return h("table", {},
    h("caption", { class: "visually-hidden" }, t("tokens_of", { user })),
    h("thead", {}, h("tr", {}, ...["token_name", "token_scope", "token_created", "token_expires", "token_state", "token_actions"]
      .map((key) => h("th", { scope: "col" }, t(key))))),
    h("tbody", {}, ...tokens.map((token) => h("tr", { "data-token": token.id },
      h("th", { scope: "row" }, token.name),
      h("td", {}, t(`token_scope_${token.scope}`)),
      h("td", {}, time(token.created_at), token.created_by ? h("div", { class: "hint" }, t("token_by", { who: token.created_by })) : null),
      h("td", {}, token.expires_at ? formatDate(token.expires_at) : t("token_never")),
      h("td", {}, token.expired ? t("token_expired") : t("token_valid")),
      h("td", {}, h("button", { type: "button", class: "token-revoke", id: `${id}-revoke-${token.id}`,
        "aria-label": t("token_revoke_named", { name: token.name }), onclick: () => revoke(user, token) },
        t("token_revoke")))))));
}

function wecomForm(id, entry) {
  const user = entry.name;
  const input = h("input", { id: `${id}-wecom`, type: "text", maxlength: "64", spellcheck: "false", autocomplete: "off",
    value: entry.wecom_user_id || "", "aria-describedby": `${id}-wecom-help` });
  const error = h("p", { class: "field-error", id: `${id}-wecom-err`, hidden: true });
  const show = (text) => {
    error.textContent = text || "";
    error.hidden = !text;
    if (text) input.setAttribute("aria-invalid", "true");
    else input.removeAttribute("aria-invalid");
  };
  const submit = h("button", { type: "submit", class: "primary" }, t("user_wecom_save"));
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": `${id}-wecom-title` },
    h("h2", { id: `${id}-wecom-title` }, t("user_wecom_title", { user })),
    h("div", { class: "field" }, h("label", { for: input.id }, t("user_wecom_id")),
      h("p", { class: "hint", id: `${id}-wecom-help` }, t("user_wecom_hint")), input, error), submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    show("");
    const value = input.value.trim();
    if (value && !/^[A-Za-z0-9._@-]{1,64}$/.test(value)) { show(t("user_wecom_invalid")); input.focus(); return; }
    submit.disabled = true;
    try {
      const saved = (await request("PATCH", `/users/${encodeURIComponent(user)}`,
        { body: { wecom_user_id: value || null } })).data;
      input.value = saved.wecom_user_id || "";
      toast(t(saved.wecom_user_id ? "user_wecom_saved" : "user_wecom_cleared", { user }));
    } catch (err) {
      const named = err instanceof ApiError ? err.errors.find((e) => e.field === "wecom_user_id") : null;
      show(named ? named.message : errorMessage(err));
      input.focus();
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function createForm(id, user) {
  const name = h("input", { id: `${id}-name`, type: "text", required: true, maxlength: "64", spellcheck: "false",
    autocomplete: "off", "aria-describedby": `${id}-name-help` });
  const scope = h("select", { id: `${id}-scope` },
    h("option", { value: "write" }, t("token_scope_write")), h("option", { value: "read" }, t("token_scope_read")));
  const expires = h("input", { id: `${id}-expires`, type: "date", "aria-describedby": `${id}-expires-help` });
  const errors = {};
  const field = (input, key, help) => {
    errors[key] = h("p", { class: "field-error", id: `${input.id}-err`, hidden: true });
    return h("div", { class: "field" }, h("label", { for: input.id }, t(key)),
      help ? h("p", { class: "hint", id: `${input.id}-help` }, t(help)) : null, input, errors[key]);
  };
  const submit = h("button", { type: "submit", class: "primary" }, t("token_create"));
  const form = h("form", { class: "card", novalidate: true, "aria-labelledby": `${id}-new` },
    h("h2", { id: `${id}-new` }, t("token_new", { user })),
    field(name, "token_name", "token_name_hint"), field(scope, "token_scope"),
    field(expires, "token_expires", "token_expires_hint"), submit);
  const inputs = { token_name: name, token_scope: scope, token_expires: expires };
  const show = (key, text) => {
    errors[key].textContent = text || "";
    errors[key].hidden = !text;
    if (text) inputs[key].setAttribute("aria-invalid", "true");
    else inputs[key].removeAttribute("aria-invalid");
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    Object.keys(errors).forEach((key) => show(key, ""));
    if (!name.value.trim()) { show("token_name", t("required_mark")); name.focus(); return; }
    submit.disabled = true;
    try {
      const body = { name: name.value.trim(), scope: scope.value };
      if (expires.value) body.expires_at = localDateTime(expires.value, "23:59");
      justMade = (await request("POST", `/users/${encodeURIComponent(user)}/tokens`, { body })).data;
      render();
    } catch (err) {
      const fields = { name: "token_name", scope: "token_scope", expires_at: "token_expires" };
      const named = err instanceof ApiError ? err.errors.filter((e) => fields[e.field]) : [];
      if (named.length) named.forEach((e) => show(fields[e.field], e.message));
      else show("token_name", err instanceof ApiError && err.status === 409 ? t("token_name_taken") : errorMessage(err));
      inputs[named.length ? fields[named[0].field] : "token_name"].focus();
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

export async function tokensPage(body, ctx) {
  const id = uid("tokens");
  body.append(heading(t("tokens_title")));
  body.append(h("p", { class: "hint" }, t("tokens_intro")));
  const users = (await get("/users")).items;
  const user = users.some((u) => u.name === ctx.query.get("user")) ? ctx.query.get("user")
    : (users.find((u) => u.role === "integrator") || users[0] || {}).name;
  body.append(userPicker(id, users, user));
  if (!user) return;
  body.append(wecomForm(id, await get(`/users/${encodeURIComponent(user)}`)));
  if (justMade && justMade.user === user) body.append(secretCard(justMade));
  justMade = null;
  const tokens = (await get(`/users/${encodeURIComponent(user)}/tokens`)).items;
  body.append(h("section", { class: "card", "aria-labelledby": `${id}-list` },
    h("h2", { id: `${id}-list` }, t("tokens_of", { user })), tokenTable(id, user, tokens)));
  body.append(createForm(id, user));
}
