// The JSON API client: Bearer token from sessionStorage, problem+json errors as ApiError.

const TOKEN_KEY = "recall.token";
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

export function setToken(token) {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage disabled: the user signs in again on reload */ }
}

let onUnauthorized = () => {};
export function whenUnauthorized(callback) { onUnauthorized = callback; }

export async function request(method, path, { body, headers = {}, token = getToken(), quiet401 = false } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers }, credentials: "omit", cache: "no-store" };
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path.startsWith("http") ? path : API + path, init);
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

// Which optional parts of the API are deployed (e.g. the candidate archive), from the
// public OpenAPI document; read once per page load.
let features = null;
export async function apiFeatures() {
  if (features) return features;
  try {
    const doc = (await request("GET", "/openapi.json", { token: null })).data || {};
    const paths = Object.keys(doc.paths || {});
    features = { candidates: paths.some((p) => p.endsWith("/candidates")) };
  } catch {
    features = { candidates: false };
  }
  return features;
}
