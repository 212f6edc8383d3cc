// My account: who I am in the directory, and my password. POST /session/password changes it with the
// current one (a wrong one counts like a failed sign-in); someone who came in by a one-time link and has
// no password yet sets a first one (then ?welcome: a word on why, and a way on to where they were going).
// The server ends my other sessions and keeps this one. Errors sit under the field they are about.
import { ApiError, get, request } from "../api.js";
import { h, uid } from "../dom.js";
import { t } from "../i18n.js";
import { errorMessage, go, heading, href, state, toast } from "../ui.js";

const MIN = 10;

function passwordField(id, label, autocomplete, hint) {
  const input = h("input", { id, type: "password", autocomplete, required: true, spellcheck: "false" });
  const error = h("p", { class: "field-error", id: `${id}-err`, hidden: true });
  const parts = [h("label", { for: id }, label)];
  if (hint) {
    parts.push(h("p", { class: "hint", id: `${id}-help` }, hint));
    input.setAttribute("aria-describedby", `${id}-help`);
  }
  const box = h("div", { class: "field" }, ...parts, input, error);
  const show = (text) => {
    error.textContent = text || "";
    error.hidden = !text;
    box.classList.toggle("invalid", Boolean(text));
    if (text) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-errormessage", error.id);
    } else {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-errormessage");
    }
  };
  return { box, input, show };
}

// the server's refusal, in the person's language when we know what it means
function refusal(err) {
  if (err.status === 429) {
    const minutes = (err.problem.detail || "").match(/(\d+) minute/)?.[1] || 15;
    return ["current", t("signin_locked", { minutes })];
  }
  const named = err.errors.find((e) => e.field === "current_password" || e.field === "new_password");
  if (!named) return [null, errorMessage(err)];
  if (named.field === "current_password") {
    return ["current", /required/i.test(named.message) ? t("password_current_missing") : t("password_current_wrong")];
  }
  if (/current one/i.test(named.message)) return ["new", t("password_same")];
  return ["new", t("password_rules", { min: MIN })];
}

export async function accountPage(body, ctx) {
  const me = await get("/users/me");
  const first = !me.has_password;
  const welcome = ctx.query.has("welcome");
  const next = ctx.query.get("next");
  const onward = next && !next.startsWith("/") && !next.startsWith("signin") && !next.startsWith("account") ? next : "";
  const id = uid("account");

  body.append(heading(t("account_title")));
  body.append(h("section", { class: "card narrow", "aria-labelledby": `${id}-who` },
    h("h2", { id: `${id}-who` }, t("account_who")),
    h("dl", { class: "meta" },
      h("dt", {}, t("username_label")), h("dd", {}, me.name),
      me.display_name ? [h("dt", {}, t("account_display_name")), h("dd", {}, me.display_name)] : null,
      h("dt", {}, t("account_role")), h("dd", {}, t(`role_${me.role}`)))));

  const current = first ? null : passwordField(`${id}-current`, t("password_current"), "current-password");
  const fresh = passwordField(`${id}-new`, t("password_new"), "new-password", t("password_rules", { min: MIN }));
  const again = passwordField(`${id}-again`, t("password_again"), "new-password");
  const fields = { current, new: fresh, again };
  const status = h("p", { class: "field-error", id: `${id}-status`, role: "alert", hidden: true });
  const submit = h("button", { type: "submit", class: "primary" }, first ? t("password_set") : t("password_change"));
  const formTitle = first ? t("password_first_title") : t("password_change_title");
  const form = h("form", { class: "card narrow", novalidate: true, "aria-labelledby": `${id}-pw` },
    h("h2", { id: `${id}-pw` }, formTitle),
    first && welcome ? h("p", { class: "notice info", role: "status" }, t("password_first_intro")) : null,
    h("p", { class: "hint" }, t("password_others_end")),
    current && current.box, fresh.box, again.box, status, submit);
  body.append(form);
  if (welcome || onward) body.append(h("p", {}, h("a", { href: href(onward) }, t("account_continue"))));
  if (me.role !== "integrator") body.append(await notificationsSection(id));

  const fail = (key, text) => {
    const target = fields[key];
    if (!target) {
      status.textContent = text;
      status.hidden = false;
      return;
    }
    target.show(text);
    target.input.focus();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const f of Object.values(fields)) if (f) f.show("");
    status.hidden = true;
    if (current && !current.input.value) return fail("current", t("password_current_missing"));
    if (fresh.input.value.length < MIN) return fail("new", t("password_rules", { min: MIN }));
    if (again.input.value !== fresh.input.value) return fail("again", t("password_mismatch"));
    const payload = { new_password: fresh.input.value };
    if (current) payload.current_password = current.input.value;
    submit.disabled = true;
    try {
      const done = (await request("POST", "/session/password", { body: payload })).data;
      for (const f of Object.values(fields)) if (f) f.input.value = "";
      if (state.me) state.me.has_password = true;
      toast(done.sessions_ended ? t("password_changed_others", { n: done.sessions_ended }) : t("password_changed"));
      if (welcome) go(onward, { replace: true });
      else go(`account${onward ? `?next=${encodeURIComponent(onward)}` : ""}`, { replace: true });
    } catch (err) {
      if (current) current.input.value = "";
      if (!(err instanceof ApiError)) return fail(null, errorMessage(err));
      const [key, text] = refusal(err);
      fail(key, text);
    } finally {
      submit.disabled = false;
    }
    return undefined;
  });
}

// How I hear of work for me (GET/PUT /users/me/notifications): a channel the directory cannot reach me on is
// shown but disabled; the server names a refused field, shown under the form.
async function notificationsSection(id) {
  const prefs = await get("/users/me/notifications");
  const field = (label, control) => h("div", { class: "field" }, h("label", { for: control.id }, label), control);
  const select = (key, options, value) => h("select", { id: `${id}-n-${key}` }, ...options.map(([v, label, off]) =>
    h("option", { value: v, selected: v === value, disabled: Boolean(off) }, label)));
  const channel = select("channel", ["wecom", "email", "none"].map((c) => [c,
    t(`notify_channel_${c}`) + (c !== "none" && !prefs.reachable[c] ? ` ${t("notify_unreachable")}` : ""),
    c !== "none" && !prefs.reachable[c] && prefs.channel !== c]), prefs.channel);
  const mode = select("mode", [["immediate", t("notify_mode_immediate")], ["digest", t("notify_mode_digest")]], prefs.mode);
  const hour = h("input", { id: `${id}-n-hour`, type: "number", min: 0, max: 23, value: prefs.digest_hour });
  const language = select("language", [["zh", "中文"], ["en", "English"]], prefs.language);
  const groups = h("input", { id: `${id}-n-groups`, type: "checkbox", checked: prefs.group_tasks });
  const status = h("p", { class: "field-error", role: "alert", hidden: true });
  const save = h("button", { type: "submit", class: "primary" }, t("notify_save"));
  const hourBox = field(t("notify_digest_hour"), hour);
  const showHour = () => { hourBox.hidden = mode.value !== "digest"; };
  mode.addEventListener("change", showHour);
  showHour();
  const form = h("form", { class: "card narrow", novalidate: true, "aria-labelledby": `${id}-notify` },
    h("h2", { id: `${id}-notify` }, t("notify_title")), h("p", { class: "hint" }, t("notify_intro")),
    field(t("notify_channel"), channel), field(t("notify_mode"), mode), hourBox, field(t("notify_language"), language),
    h("div", { class: "field" }, h("label", { for: groups.id }, groups, " ", t("notify_group_tasks"))), status, save);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.hidden = true;
    save.disabled = true;
    try {
      await request("PUT", "/users/me/notifications", { body: {
        channel: channel.value, mode: mode.value, digest_hour: Number(hour.value), language: language.value,
        group_tasks: groups.checked } });
      toast(t("notify_saved"));
    } catch (err) {
      status.textContent = err instanceof ApiError && err.errors.length
        ? err.errors.map((e) => e.message).join("; ") : errorMessage(err);
      status.hidden = false;
    } finally {
      save.disabled = false;
    }
  });
  return form;
}
