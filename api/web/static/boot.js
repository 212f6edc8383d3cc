// The first reads of a page load, sent before the modules have arrived. The shell inlines this
// script (api/web/__init__.py: the CSP allows it by its SHA-256), so it runs while the page is
// parsed; the app itself needs a few more round trips to arrive and start. By then who is signed
// in, the vocabulary and the inbox are on their way or back: api.js takes these answers over
// (takeEarly) instead of asking again, each at most once. Nothing is sent from the sign-in page.
// Inlined: this file may hold no end-tag opener (a less-than sign then a slash) and no HTML comment
// opener, or the shell refuses to start (api/web/__init__.py boot_script).
(() => {
  performance.mark("boot");
  const root = document.documentElement.dataset;
  const API = root.api || "/api/v1";
  const BASE = root.base || "/app/";
  const page = location.pathname.startsWith(BASE) ? location.pathname.slice(BASE.length).replace(/\/+$/, "") : "";
  const early = new Map();          // path -> { token, response: Promise<Response> }
  window.recallEarly = early;
  if (page === "signin") return;
  let bearer = null;
  try { bearer = sessionStorage.getItem("recall.token") || null; } catch { /* storage disabled */ }
  const send = (path) => {
    const headers = { Accept: "application/json" };
    if (bearer) headers.Authorization = `Bearer ${bearer}`;
    const response = fetch(API + path, { headers, credentials: "same-origin", cache: "no-store" });
    response.catch(() => undefined);           // a network error is reported when the answer is taken
    early.set(path, { token: bearer, response });
  };
  if (!bearer) send("/session");               // a cookie session: its CSRF token
  send("/workspace/me");
  send("/vocabulary");
  // the inbox in the server's order: the page asks for exactly this URL when no column sort is chosen
  if (page === "" && !/[?&](sort|order)=/.test(location.search)) send("/workspace/inbox");
})();
