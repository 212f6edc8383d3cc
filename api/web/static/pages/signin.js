// Sign in: a user name and password (the session cookie), a one-time sign-in link
// (/app/signin#token=...; someone with no password yet goes on to set one, pages/account.js), WeCom
// (when the company set it up: WeCom's login page, back through /api/v1/session/wecom/callback, which
// sets the session cookie or returns here with #wecom=refused), or, for administrators and
// integrators, an API token kept in this tab's sessionStorage. One error line under the form, tied to
// the field it is about.
import { ApiError, request, setSession, setToken } from "../api.js";
import { h, uid } from "../dom.js";
import { t } from "../i18n.js";
import { errorMessage, go, heading, href, state } from "../ui.js";

function field(id, label, attrs, hint) {
  const input = h("input", { id, ...attrs });
  const parts = [h("label", { for: id }, label)];
  if (hint) {
    parts.push(h("p", { class: "hint", id: `${id}-help` }, hint));
    input.setAttribute("aria-describedby", `${id}-help`);
  }
  return [h("div", { class: "field" }, ...parts, input), input];
}

function refusal(err, usedToken) {
  if (!(err instanceof ApiError)) return errorMessage(err);
  if (err.status === 429) return t("signin_locked", { minutes: (err.problem.detail || "").match(/(\d+) minute/)?.[1] || 15 });
  if (err.status === 401) return usedToken ? t("token_invalid") : t("signin_wrong");
  return errorMessage(err);
}

export async function signinPage(body, ctx) {
  const id = uid("signin");
  const [nameField, nameInput] = field(`${id}-name`, t("username_label"),
    { name: "username", type: "text", autocomplete: "username", spellcheck: "false", autocapitalize: "none" });
  const [passwordField, passwordInput] = field(`${id}-password`, t("password_label"),
    { name: "password", type: "password", autocomplete: "current-password" });
  const [tokenField, tokenInput] = field(`${id}-token`, t("token_label"),
    { name: "token", type: "password", autocomplete: "off", spellcheck: "false" }, t("signin_or_token"));
  const errorEl = h("p", { class: "field-error", id: `${id}-err`, role: "alert", hidden: true });
  const form = h("form", { class: "card narrow", novalidate: true },
    h("p", { class: "hint" }, t("signin_intro")), nameField, passwordField, tokenField, errorEl,
    h("button", { type: "submit", class: "primary" }, t("signin_button")));
  body.append(heading(t("signin_title")), form);

  const fail = (text, input) => {
    errorEl.textContent = text;
    errorEl.hidden = false;
    for (const other of [nameInput, passwordInput, tokenInput]) other.removeAttribute("aria-invalid");
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-errormessage", errorEl.id);
    input.focus();
  };
  // needsPassword: signed in by a one-time link and no password yet: the account page asks for one first
  const enter = async (needsPassword = false) => {
    state.me = (await request("GET", "/workspace/me")).data;
    state.candidates.clear();
    const next = ctx.query.get("next");
    const target = next && !next.startsWith("/") && !next.startsWith("signin") ? next : "";
    const onward = state.me.role === "integrator" && !target ? "processes" : target;
    if (needsPassword) go(`account?welcome=1${onward ? `&next=${encodeURIComponent(onward)}` : ""}`, { replace: true });
    else go(onward, { replace: true });
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = tokenInput.value.trim();
    const name = nameInput.value.trim();
    if (!token && (!name || !passwordInput.value)) return fail(t("signin_missing"), name ? passwordInput : nameInput);
    try {
      if (token) {
        await request("GET", "/workspace/me", { token, quiet401: true });
        setSession(null);
        setToken(token);
      } else {
        const session = (await request("POST", "/session", { token: null, quiet401: true,
          body: { name, password: passwordInput.value } })).data;
        setToken(null);
        setSession(session.csrf_token);
      }
      await enter();
    } catch (err) {
      passwordInput.value = "";
      fail(refusal(err, Boolean(token)), token ? tokenInput : passwordInput);
    }
    return undefined;
  });

  // a one-time sign-in link: the token is in the #fragment (never sent to a server log); used at once
  const linkToken = new URLSearchParams(location.hash.slice(1)).get("token");
  if (linkToken) {
    history.replaceState(null, "", location.pathname + location.search);
    errorEl.textContent = t("signin_link");
    errorEl.hidden = false;
    try {
      const session = (await request("POST", "/session", { token: null, quiet401: true,
        body: { link_token: linkToken } })).data;
      setToken(null);
      setSession(session.csrf_token);
      await enter(session.has_password === false);
      return;
    } catch (err) {
      fail(err instanceof ApiError && err.status === 401 ? t("link_invalid") : errorMessage(err), nameInput);
    }
  }
  await offerWecom(form, id, errorEl);
  if (state.me) body.append(h("p", {}, h("a", { href: href("") }, t("back_to_inbox"))));
  setTimeout(() => nameInput.focus(), 0);
}

// "Sign in with WeCom" when it is on (asking also sets the short-lived state cookie the return checks),
// and why a return from WeCom came back here
async function offerWecom(form, id, errorEl) {
  if (new URLSearchParams(location.hash.slice(1)).get("wecom") === "refused") {
    history.replaceState(null, "", location.pathname + location.search);
    errorEl.textContent = t("signin_wecom_refused");
    errorEl.hidden = false;
  }
  try {
    const wecom = (await request("GET", "/session/wecom", { token: null, quiet401: true })).data;
    if (wecom.enabled && wecom.url) {
      form.append(h("p", { class: "alt-signin" },
        h("a", { id: `${id}-wecom`, class: "button", href: wecom.url }, t("signin_wecom"))));
    }
  } catch {
    // WeCom not reachable through us now: the other ways stay
  }
}
