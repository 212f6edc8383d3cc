// Sign in with an API token (kept in this tab's sessionStorage).
import { ApiError, request, setToken } from "../api.js";
import { h, uid } from "../dom.js";
import { t } from "../i18n.js";
import { errorMessage, go, heading, href, state } from "../ui.js";

export async function signinPage(body, ctx) {
  const id = uid("token");
  const errorEl = h("p", { class: "field-error", id: `${id}-err`, hidden: true });
  const input = h("input", { id, name: "token", type: "password", autocomplete: "off", spellcheck: "false", "aria-describedby": `${id}-help`, required: true });
  const form = h("form", { class: "card narrow", novalidate: true },
    h("div", { class: "field" }, h("label", { for: id }, t("token_label")),
      h("p", { class: "hint", id: `${id}-help` }, t("signin_intro")), input, errorEl),
    h("button", { type: "submit", class: "primary" }, t("signin_button")));
  body.append(heading(t("signin_title")), form);
  const fail = (text) => {
    errorEl.textContent = text;
    errorEl.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", `${id}-help ${id}-err`);
    input.focus();
  };
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const token = input.value.trim();
    if (!token) return fail(t("token_required"));
    try {
      const me = (await request("GET", "/workspace/me", { token, quiet401: true })).data;
      setToken(token);
      state.me = me;
      state.features = null;
      state.candidates.clear();
      const next = ctx.query.get("next");
      const target = next && !next.startsWith("/") && !next.startsWith("signin") ? next : "";
      go(me.role === "integrator" && !target ? "processes" : target, { replace: true });
    } catch (err) {
      fail(err instanceof ApiError && err.status === 401 ? t("token_invalid") : errorMessage(err));
    }
    return undefined;
  });
  if (state.me) body.append(h("p", {}, h("a", { href: href("") }, t("back_to_inbox"))));
  setTimeout(() => input.focus(), 0);
}
