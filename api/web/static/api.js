// The JSON API client, problem+json errors as ApiError. People are signed in by the session
// cookie (POST /session with a password or a one-time link) and send its CSRF token on every
// write; administrators and integrators may use an API token instead, kept in this tab's
// sessionStorage and sent as Authorization: Bearer.

const TOKEN_KEY = "recall.token";
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
let csrfToken = null;      // the session's CSRF token, in memory only: a new tab asks GET /session
export const API = document.documentElement.dataset.api || "/api/v1";

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.errors = (problem && Array.isArray(problem.errors)) ? problem.errors : [];
    this.type = (problem && problem.type) || "";
  }
}

export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
}

// The first reads of a page load were sent by boot.js before this module arrived: the answer to
// GET `path` sent with `token` (null: the session cookie) is taken over once. All are dropped once
// the first page is drawn or the sign-in changes, so a stale answer (a 401) is never used.
const early = window.recallEarly instanceof Map ? window.recallEarly : new Map();

function takeEarly(path, token) {
  const sent = early.get(path);
  if (!sent || sent.token !== (token || null)) return null;
  early.delete(path);
  return sent.response;
}

export function dropEarly() { early.clear(); }

export function setToken(token) {
  dropEarly();
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the user signs in again on reload */ }
}

export function setSession(csrf) { dropEarly(); csrfToken = csrf || null; }
export function signedIn() { return Boolean(getToken() || csrfToken); }

// A new tab or a reload: is this browser signed in by a session cookie? (401: no.)
export async function restoreSession() {
  try {
    csrfToken = (await request("GET", "/session", { token: null, quiet401: true })).data.csrf_token;
  } catch {
    csrfToken = null;
  }
  return csrfToken;
}

// Forget the token and the session here at once; a cookie session also ends on the server.
export function signOut() {
  const csrf = getToken() ? null : csrfToken;
  setToken(null);
  csrfToken = null;
  if (!csrf) return Promise.resolve();
  return fetch(`${API}/session`, { method: "DELETE", credentials: "same-origin", headers: { "X-CSRF-Token": csrf } })
    .catch(() => undefined);
}

let onUnauthorized = () => {};
export function whenUnauthorized(callback) { onUnauthorized = callback; }

export async function request(method, path, { body, headers = {}, token = getToken(), quiet401 = false } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "same-origin", cache: "no-store" };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  else if (csrfToken && UNSAFE.has(method)) init.headers["X-CSRF-Token"] = csrfToken;
  if (body instanceof FormData) init.body = body;     // a file upload: the browser sets the multipart type
  else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const sentEarly = method === "GET" && !Object.keys(headers).length ? takeEarly(path, token) : null;
  let response;
  try {
    response = await (sentEarly || fetch(path.startsWith("http") ? path : API + path, init));
  } catch (err) {
    throw new ApiError(0, { title: "network", detail: String(err && err.message || err) });
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { detail: text.slice(0, 200) }; }
  }
  if (!response.ok) {
    if (response.status === 401 && !quiet401) onUnauthorized();
    throw new ApiError(response.status, data);
  }
  return { data, status: response.status, etag: response.headers.get("ETag") };
}

export const get = async (path, opts) => (await request("GET", path, opts)).data;
export const post = async (path, body, opts = {}) => (await request("POST", path, { ...opts, body })).data;

