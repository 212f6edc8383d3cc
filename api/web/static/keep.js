// Nothing typed is lost: a page knows when a form on it holds changes the server has not taken
// ("dirty"), so leaving — a link, Back, closing the tab, signing out — asks first; switching the
// language redraws the page with what was typed put back; and a task's form is kept as a draft in
// localStorage (per user and task) that survives a reload and is discarded once the task is completed.

let dirty = false;

// Typing in a form of the page makes it dirty; a search box does not (nothing to lose there).
const FORMS = "#main form:not([role=search])";
for (const type of ["input", "change"]) {
  document.addEventListener(type, (event) => {
    if (event.isTrusted && event.target.closest && event.target.closest(FORMS)) dirty = true;
  });
}
window.addEventListener("beforeunload", (event) => {
  if (!dirty) return;
  event.preventDefault();
  event.returnValue = "";       // older browsers need a value to ask
});

export function isDirty() { return dirty; }
export function setDirty(value) { dirty = Boolean(value); }

/** True when there is nothing to lose or the person agrees to leave (`question`: the page's own words). */
export function confirmLeave(question) {
  if (!dirty || window.confirm(question)) {
    dirty = false;
    return true;
  }
  return false;
}

// ---------------------------------------------------------------- language switch
/** What the page's form controls hold, in document order (not passwords). */
export function snapshotValues(root) {
  const seen = new Map();
  const out = [];
  for (const el of root.querySelectorAll("input[name], select[name], textarea[name]")) {
    if (["password", "file", "hidden", "submit", "button"].includes(el.type)) continue;
    const index = seen.get(el.name) || 0;
    seen.set(el.name, index + 1);
    out.push({ name: el.name, index, checkable: el.type === "checkbox" || el.type === "radio", value: el.value, checked: el.checked });
  }
  return out;
}

/** Put a snapshot back into a redrawn page; a changed choice tells its listeners (a sub-form may appear). */
export function restoreValues(root, snapshot) {
  for (const item of snapshot) {
    const el = root.querySelectorAll(`[name="${CSS.escape(item.name)}"]`)[item.index];
    if (!el) continue;
    if (item.checkable) {
      if (el.checked === item.checked) continue;
      el.checked = item.checked;
    } else {
      if (el.value === item.value) continue;
      el.value = item.value;
    }
    el.dispatchEvent(new Event(el.tagName === "SELECT" || item.checkable ? "change" : "input", { bubbles: true }));
  }
}

// ---------------------------------------------------------------- task drafts
const PREFIX = "recall.draft.";
const draftKey = (user, taskId) => `${PREFIX}${user}.${taskId}`;

export function loadDraft(user, taskId) {
  try {
    const raw = localStorage.getItem(draftKey(user, taskId));
    return raw ? JSON.parse(raw) : null;
  } catch { return null; }
}

export function saveDraft(user, taskId, value) {
  try { localStorage.setItem(draftKey(user, taskId), JSON.stringify(value)); } catch { /* storage full or disabled */ }
}

export function discardDraft(user, taskId) {
  try { localStorage.removeItem(draftKey(user, taskId)); } catch { /* storage disabled */ }
}

/** On sign-out: this browser keeps no one's unfinished notes about candidates. */
export function discardDrafts(user) {
  try {
    for (const key of Object.keys(localStorage)) if (key.startsWith(`${PREFIX}${user}.`)) localStorage.removeItem(key);
  } catch { /* storage disabled */ }
}
