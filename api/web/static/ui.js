// The workspace's chrome and shared page pieces: shared state, links and in-app navigation, toast,
// announcements, headings, alerts and error texts. Pages import these; app.js owns the render loop and
// registers it here (setRenderer), so a page can ask for a re-render without importing the router.
import { ApiError, signOut } from "./api.js";
import { clear, h, time } from "./dom.js";
import { lang, setLang, t } from "./i18n.js";
import { confirmLeave, discardDrafts } from "./keep.js";

export const BASE = document.documentElement.dataset.base || "/app/";
export const state = { me: null, candidates: new Map() };

let renderer = () => {};
/** The render loop lives in app.js (it imports every page); pages reach it through here. */
export function setRenderer(fn) { renderer = fn; }
export function render(options) { return renderer(options); }

export function appPath() {
  const path = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length) : "";
  return path.replace(/\/+$/, "");
}

export function href(path) { return BASE + path; }

export function go(path, { replace = false } = {}) {
  const url = href(path);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  render();
}

export function toast(message) {
  const el = document.getElementById("toast");
  el.textContent = message;
  el.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { el.hidden = true; }, 6000);
}

export function announce(message) {
  const el = document.getElementById("announcer");
  el.textContent = "";
  setTimeout(() => { el.textContent = message; }, 50);
}

export function renderChrome() {
  document.documentElement.lang = lang() === "en" ? "en" : "zh-CN";
  document.getElementById("skip-link").textContent = t("skip_to_main");
  document.getElementById("brand").textContent = t("app_name");
  const nav = clear(document.getElementById("nav"));
  nav.setAttribute("aria-label", t("main_nav"));
  const role = state.me && state.me.role;
  const links = [];
  if (role && role !== "integrator") links.push(["", t("nav_inbox")]);
  if (role === "hr" || role === "admin") links.push(["declines/new", t("nav_new_decline")]);
  if (role === "hr" || role === "admin") links.push(["candidates", t("nav_candidates")]);
  if (role) links.push(["processes", t("nav_processes")]);
  if (role === "admin") links.push(["webhooks", t("nav_webhooks")]);
  if (role === "admin") links.push(["channels", t("nav_channels")]);
  if (role === "admin") links.push(["tokens", t("nav_tokens")]);
  if (role === "hr" || role === "admin") links.push(["mail", t("nav_mail")]);
  if (role === "hr" || role === "admin") links.push(["import", t("nav_import")]);
  if (role === "hr" || role === "admin") links.push(["recall-list", t("nav_recall_list")]);
  if (role === "hr" || role === "process_owner" || role === "admin") links.push(["roles", t("nav_roles")]);
  if (role === "process_owner" || role === "admin") links.push(["scorecard", t("nav_scorecard")]);
  if (role === "process_owner" || role === "admin") links.push(["studio", t("nav_studio")]);
  const here = appPath();
  const list = h("ul", {});
  for (const [path, text] of links) {
    const active = path === "" ? (here === "" || here.startsWith("tasks/")) : here === path || here.startsWith(`${path}/`);
    list.append(h("li", {}, h("a", { href: href(path), "aria-current": active ? "page" : null }, text)));
  }
  nav.append(list);

  const session = clear(document.getElementById("session"));
  const langButton = h("button", { type: "button", class: "link-button", lang: lang() === "en" ? "zh-CN" : "en", id: "lang-switch" }, t("switch_lang"));
  langButton.setAttribute("aria-label", t("switch_lang_label"));
  langButton.addEventListener("click", () => { setLang(lang() === "en" ? "zh" : "en"); render({ keepFocus: "lang-switch", keepValues: true }); });
  session.append(langButton);
  if (state.me) {
    // the person by the directory's display name; the user name they sign in with stays in the tooltip
    session.append(h("span", { class: "who", title: state.me.name }, h("span", { class: "visually-hidden" }, `${t("signed_in_as")}: `),
      state.me.display_name || state.me.name, " · ", t(`role_${state.me.role}`)));
    session.append(h("a", { href: href("account"), "aria-current": appPath() === "account" ? "page" : null }, t("nav_account")));
    const out = h("button", { type: "button", class: "link-button" }, t("sign_out"));
    out.addEventListener("click", () => {
      if (!confirmLeave(t("leave_unsaved"))) return;
      discardDrafts(state.me.name);
      signOut();
      state.me = null;
      state.candidates.clear();
      toast(t("signed_out"));
      go("signin");
    });
    session.append(out);
  }
  updateClock(state.me && state.me.simulated_clock ? state.me.now : null);
}

export function updateClock(now) {
  const banner = document.getElementById("clock-banner");
  if (!now || !(state.me && state.me.simulated_clock)) { banner.hidden = true; return; }
  state.me.now = now;
  clear(banner).append(`${t("simulated_clock")}: `, time(now));
  banner.hidden = false;
}

export function heading(text, level = 1) {
  return h(`h${level}`, level === 1 ? { tabindex: "-1", class: "page-title" } : {}, text);
}

export function alertBox(message, kind = "error") {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, message);
}

export function errorMessage(err) {
  if (!(err instanceof ApiError)) return t("error_generic", { detail: String(err && err.message || err) });
  if (err.status === 403) return `${t("forbidden")} (${err.message})`;
  if (err.status === 404) return t("not_found");
  return t("error_generic", { detail: err.message });
}
