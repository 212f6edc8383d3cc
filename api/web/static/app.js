// The HR workspace: a small router. Each page is a module of pages/ drawing itself from the JSON API;
// the chrome and the pieces pages share are in ui.js and views.js. Only the inbox (the first page
// after signing in) is imported up front: every other page module is imported when its route is
// first drawn, so a cold load fetches and runs fewer files (the shell preloads what app.js imports).
import { ApiError, dropEarly, get, restoreSession, setSession, setToken, signedIn, whenUnauthorized } from "./api.js";
import { clear, h } from "./dom.js";
import { lang, setLang, setVocabulary, t } from "./i18n.js";
import { confirmLeave, isDirty, restoreValues, setDirty, snapshotValues } from "./keep.js";
import { inboxPage } from "./pages/inbox.js";
import { alertBox, appPath, BASE, errorMessage, go, heading, href, renderChrome, setRenderer, state } from "./ui.js";

performance.mark("app");                  // the modules are here and run (bench/phone_load.py --trace)
let renderSeq = 0;
let firstRender = true;

// ---------------------------------------------------------------- routing
const lazy = (load, name) => async (...args) => (await load())[name](...args);
const ROUTES = [
  [/^$/, inboxPage],
  [/^signin$/, lazy(() => import("./pages/signin.js"), "signinPage")],
  [/^tasks\/([^/]+)$/, lazy(() => import("./pages/task.js"), "taskPage")],
  [/^candidates$/, lazy(() => import("./pages/candidates.js"), "candidatesPage")],
  [/^candidates\/([^/]+)$/, lazy(() => import("./pages/candidate.js"), "candidatePage")],
  [/^candidates\/([^/]+)\/merge$/, lazy(() => import("./pages/merge.js"), "mergePage")],
  [/^declines\/new$/, lazy(() => import("./pages/decline.js"), "newDeclinePage")],
  [/^cases\/([^/]+)$/, lazy(() => import("./pages/case.js"), "casePage")],
  [/^processes$/, lazy(() => import("./pages/processes.js"), "processesPage")],
  [/^processes\/([^/]+)$/, lazy(() => import("./pages/processes.js"), "processPage")],
  [/^account$/, lazy(() => import("./pages/account.js"), "accountPage")],
  [/^webhooks$/, lazy(() => import("./pages/webhooks.js"), "webhooksPage")],
  [/^channels$/, lazy(() => import("./pages/channels.js"), "channelsPage")],
  [/^tokens$/, lazy(() => import("./pages/tokens.js"), "tokensPage")],
  [/^mail$/, lazy(() => import("./pages/mail.js"), "mailPage")],
  [/^import$/, lazy(() => import("./pages/import.js"), "importPage")],
  [/^roles$/, lazy(() => import("./pages/roles.js"), "rolesPage")],
  [/^roles\/([^/]+)$/, lazy(() => import("./pages/roles.js"), "rolePage")],
  [/^recall-list$/, lazy(() => import("./pages/recall_list.js"), "recallListPage")],
  [/^scorecard$/, lazy(() => import("./pages/recall_list.js"), "scorecardPage")],
  [/^studio$/, lazy(() => import("./pages/studio.js"), "studioPage")],
];

document.addEventListener("click", (event) => {
  const a = event.target.closest && event.target.closest("a[href]");
  if (!a || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  if (a.target || a.hasAttribute("download") || a.origin !== location.origin || !a.pathname.startsWith(BASE)) return;
  if (a.pathname.startsWith(`${BASE}static/`) || (a.getAttribute("href") || "").startsWith("#")) return;
  event.preventDefault();
  if (!confirmLeave(t("leave_unsaved"))) return;
  history.pushState(null, "", a.pathname + a.search);
  render();
});
let renderedUrl = null;
let sessionChecked = false;     // asked once per page load: a new tab shares the session cookie
window.addEventListener("popstate", () => {
  if (location.pathname + location.search === renderedUrl) return;   // not for #fragment moves
  if (!confirmLeave(t("leave_unsaved"))) { history.pushState(null, "", renderedUrl); return; }
  render();
});
document.getElementById("skip-link").addEventListener("click", (event) => {
  event.preventDefault();
  document.getElementById("main").focus();
});
whenUnauthorized(() => {
  setToken(null);
  setSession(null);
  state.me = null;
  if (appPath() !== "signin") go(`signin?next=${encodeURIComponent(appPath() + location.search)}`, { replace: true });
});

// ---------------------------------------------------------------- render loop
// keepValues (the language switch): the page is drawn again with what was typed put back
async function render({ keepFocus, keepValues } = {}) {
  const seq = ++renderSeq;
  const kept = keepValues ? { values: snapshotValues(document.getElementById("main")), dirty: isDirty() } : null;
  const path = appPath();
  const query = new URLSearchParams(location.search);
  setLang(lang());
  if (!signedIn() && !sessionChecked) {
    sessionChecked = true;
    await restoreSession();
  }
  if (!signedIn() && path !== "signin") {
    history.replaceState(null, "", href(`signin?next=${encodeURIComponent(path + location.search)}`));
    return render();
  }
  // reasons, stages and their labels as deployed (none yet: an empty vocabulary), asked with /workspace/me
  const vocabulary = signedIn() && !state.vocabulary
    ? get("/vocabulary", { quiet401: true }).catch(() => ({ decline_reasons: [], stages: [] })) : null;
  if (signedIn() && !state.me) {
    try {
      state.me = await get("/workspace/me");
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 401)) {
        renderChrome();
        clear(document.getElementById("main")).append(heading(t("app_name")), alertBox(errorMessage(err)));
      }
      return undefined;
    }
  }
  if (vocabulary && state.me) {
    state.vocabulary = await vocabulary;
    setVocabulary(state.vocabulary);
  }
  if (seq !== renderSeq) return undefined;
  // The first draw keeps the shell's own "loading" line and draws the chrome with the page: the
  // browser lays the page out once, not once for the chrome and again for the page (a phone's CPU).
  const chromeWithPage = firstRender;
  if (!chromeWithPage) renderChrome();
  const main = document.getElementById("main");
  if (!chromeWithPage) clear(main).append(h("p", { class: "loading" }, t("loading")));
  main.setAttribute("aria-busy", "true");
  delete main.dataset.ready;
  renderedUrl = location.pathname + location.search;
  let page = null;
  let params = [];
  for (const [pattern, fn] of ROUTES) {
    const m = path.match(pattern);
    if (m) { page = fn; params = m.slice(1).map(decodeURIComponent); break; }
  }
  const ctx = { query, alive: () => seq === renderSeq };
  const body = h("div", { class: "page" });
  try {
    if (!page) body.append(heading(t("not_found")), h("p", {}, h("a", { href: href("") }, t("back_to_inbox"))));
    else await page(body, ctx, ...params);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return undefined;
    body.append(alertBox(errorMessage(err)));
  }
  if (seq !== renderSeq) return undefined;
  if (chromeWithPage) renderChrome();
  clear(main).append(body);
  if (kept) restoreValues(body, kept.values);
  setDirty(kept && kept.dirty);
  main.removeAttribute("aria-busy");
  main.dataset.ready = path || "inbox";     // tests and scripts wait for this
  const h1 = body.querySelector("h1");
  document.title = `${h1 ? h1.textContent : t("app_name")} · ${t("app_name")}`;
  if (keepFocus) document.getElementById(keepFocus)?.focus();
  else if (!firstRender && h1) h1.focus();
  firstRender = false;
  dropEarly();                              // what boot.js asked for is used or no longer wanted
  document.dispatchEvent(new CustomEvent("recall:rendered", { detail: { path } }));
  return undefined;
}

setRenderer(render);
// ---------------------------------------------------------------- start
render();
