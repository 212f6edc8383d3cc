// Tiny DOM helpers. Text always goes in as text (never as HTML), so names and messages
// written by candidates cannot inject markup.
import { lang, locale, t } from "./i18n.js";

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") el.className = value;
    else if (name === "dataset") Object.assign(el.dataset, value);
    else if (name.startsWith("on") && typeof value === "function") el.addEventListener(name.slice(2), value);
    else if (value === true) el.setAttribute(name, "");
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

let counter = 0;
export function uid(prefix = "id") {
  counter += 1;
  return `${prefix}-${counter}`;
}

export function formatDateTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(d);
}

export function formatDate(iso) {
  if (!iso) return "";
  const value = /^\d{4}-\d{2}-\d{2}$/.test(iso) ? `${iso}T12:00:00` : iso;
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(iso);
  return new Intl.DateTimeFormat(locale(), { dateStyle: "medium" }).format(d);
}

export function time(iso, dateOnly = false) {
  return h("time", { datetime: iso }, dateOnly ? formatDate(iso) : formatDateTime(iso));
}

export function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(seconds || 0));
  const days = Math.floor(s / 86400);
  const hours = Math.floor((s % 86400) / 3600);
  const minutes = Math.floor((s % 3600) / 60);
  const parts = [];
  if (days) parts.push(t("days", { n: days }));
  if (hours && days < 10) parts.push(t("hours", { n: hours }));
  if (!days && !hours && minutes) parts.push(t("minutes", { n: minutes }));
  return parts.length ? parts.join(lang() === "en" ? " " : " ") : t("just_now");
}

// The local date (YYYY-MM-DD) of an ISO instant, for <input type=date> defaults.
export function localDate(iso) {
  const d = iso ? new Date(iso) : new Date();
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

// "2026-01-05" + "09:00" -> "2026-01-05T09:00:00+08:00" in the browser's time zone.
export function localDateTime(date, clock = "09:00") {
  const d = new Date(`${date}T${clock}:00`);
  if (Number.isNaN(d.getTime())) return date;
  const minutes = -d.getTimezoneOffset();
  const sign = minutes >= 0 ? "+" : "-";
  const pad = (n) => String(Math.floor(Math.abs(n))).padStart(2, "0");
  return `${date}T${clock}:00${sign}${pad(minutes / 60)}:${pad(minutes % 60)}`;
}
