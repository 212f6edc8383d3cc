// Sending from a task through a channel (issue 17), beside the copy button: "通过企业微信发送 / Send via
// WeCom" and "通过邮件发送 / Send via email" for the channels an admin configured. A dialog shows the final
// text (and the subject) to confirm; the send is queued (POST /tasks/{id}/sends with an Idempotency-Key, so
// a second click sends nothing twice) and its status follows on the page (GET .../sends, polled while open).
// WeCom then asks the person to confirm in their own client. The copy-and-paste path stays.
import { ApiError, get, post, request } from "../api.js";
import { clear, formatDate, h, time, uid } from "../dom.js";
import { lang, t } from "../i18n.js";
import { announce, errorMessage, state, toast } from "../ui.js";

const OPEN = new Set(["pending", "sending", "awaiting_confirmation"]);
const POLL_MS = 3000;
const label = (c) => (lang() === "en" ? c.label_en : c.label_zh);
const viaText = (c) => (t(`send_via_${c.name}`) !== `send_via_${c.name}` ? t(`send_via_${c.name}`) : t("send_via", { channel: label(c) }));

function newKey() {
  return (crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

// the form's message field, channel and outcome take what went out (completing records it); an enum is
// drawn with its index as the option's value (form.js)
function fillForm(form, channel, text) {
  const set = (name, value) => {
    const entry = form && form.fields.get(name);
    if (!entry) return;
    const property = (form.schema && form.schema.properties && form.schema.properties[name]) || {};
    const shown = property.enum ? String(property.enum.indexOf(value)) : value;
    if (shown === "-1") return;
    const radio = property.enum ? entry.wrapper.querySelector(`input[type=radio][value="${shown}"]`) : null;
    const el = radio || (typeof entry.focusEl === "function" ? entry.focusEl() : entry.focusEl);
    if (!el) return;
    if (radio) radio.checked = true;
    else el.value = shown;
    el.dispatchEvent(new Event("input", { bubbles: true }));
    el.dispatchEvent(new Event("change", { bubbles: true }));
  };
  set("message_sent", text);
  set("channel", channel);
  set("outcome", "sent");
}

function sendRow(task, send, refresh) {
  const status = h("span", { class: `send-status status-${send.status}`, "data-status": send.status }, t(`send_status_${send.status}`));
  const why = send.reason && send.status !== "sent" ? t(`send_reason_${send.reason}`) !== `send_reason_${send.reason}` ? t(`send_reason_${send.reason}`) : send.reason : null;
  const row = h("li", { class: "send", "data-send": send.id },
    h("strong", {}, t(`send_via_${send.channel}`) !== `send_via_${send.channel}` ? t(`send_via_${send.channel}`) : send.channel), " · ", status,
    why ? h("span", { class: "hint" }, ` (${why})`) : null,
    send.detail && send.status !== "sent" ? h("div", { class: "hint send-detail" }, send.detail) : null,
    h("div", { class: "hint" }, time(send.created_at), send.subject ? ` · ${send.subject}` : ""),
    send.text ? h("p", { class: "send-text" }, send.text) : null);
  if (send.status === "failed" && task.assignee === state.me.name) {
    const again = h("button", { type: "button", class: "secondary", "data-retry": send.id }, t("send_retry"));
    again.addEventListener("click", async () => {
      try { await post(`/tasks/${encodeURIComponent(task.id)}/sends/${send.id}/retry`); toast(t("send_retried")); refresh(); }
      catch (err) { toast(errorMessage(err)); }
    });
    const byHand = h("button", { type: "button", class: "link-button", "data-mark-sent": send.id }, t("send_mark_sent"));
    byHand.addEventListener("click", async () => {
      try { await post(`/tasks/${encodeURIComponent(task.id)}/sends/${send.id}/mark-sent`); toast(t("send_marked")); refresh(); }
      catch (err) { toast(errorMessage(err)); }
    });
    row.append(h("div", { class: "actions" }, again, byHand));
  }
  return row;
}

function confirmDialog(task, channel, text, onSent) {
  const id = uid("send");
  const isEmail = channel.name === "email";
  const body = h("textarea", { id: `${id}-text`, rows: "6", required: true, "aria-describedby": `${id}-note` });
  body.value = text;
  const subject = isEmail ? h("input", { id: `${id}-subject`, type: "text", maxlength: "255", required: true }) : null;
  if (subject) subject.value = t("send_default_subject");
  const status = h("div", { class: "form-status", role: "alert" });
  const confirm = h("button", { type: "submit", class: "primary", id: "send-confirm" }, t("send_confirm"));
  const cancel = h("button", { type: "button", class: "secondary", id: "send-cancel" }, t("send_cancel"));
  const key = newKey();         // one per dialog: a double click or a retried request sends once
  const dialog = h("dialog", { class: "send-dialog", "aria-labelledby": `${id}-title`, id: "send-dialog" },
    h("form", { method: "dialog", novalidate: true },
      h("h2", { id: `${id}-title` }, t("send_dialog_title", { channel: label(channel) })),
      h("p", { class: "hint", id: `${id}-note` }, t(`send_note_${channel.name}`) !== `send_note_${channel.name}` ? t(`send_note_${channel.name}`) : t("send_note")),
      subject ? h("div", { class: "field" }, h("label", { for: subject.id }, t("send_subject")), subject) : null,
      h("div", { class: "field" }, h("label", { for: body.id }, t("send_text")), body),
      status,
      h("div", { class: "actions" }, confirm, cancel)));
  cancel.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => dialog.remove());
  dialog.querySelector("form").addEventListener("submit", async (event) => {
    event.preventDefault();
    clear(status);
    if (!body.value.trim()) { status.append(h("p", { class: "notice error" }, t("send_text_missing"))); body.focus(); return; }
    confirm.disabled = true;
    try {
      const payload = { channel: channel.name, text: body.value };
      if (subject) payload.subject = subject.value;
      const sent = (await request("POST", `/tasks/${encodeURIComponent(task.id)}/sends`, { body: payload, headers: { "Idempotency-Key": key } })).data;
      dialog.close();
      onSent(sent, body.value);
    } catch (err) {
      const named = err instanceof ApiError && err.errors && err.errors.length ? err.errors.map((e) => e.message).join("; ") : null;
      status.append(h("p", { class: "notice error", "data-problem": err instanceof ApiError ? String(err.type || "").split(":").pop() : "" }, named || errorMessage(err)));
    } finally {
      confirm.disabled = false;
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  body.focus();
}

// The section on the task page: the send buttons (the holder) and the task's sends with their status.
export async function sendSection(task, form, suggested) {
  const section = h("section", { class: "context-block sends", id: "task-sends", "aria-labelledby": "sends-title" },
    h("h3", { id: "sends-title" }, t("sends_title")));
  const buttons = h("div", { class: "actions send-buttons" });
  const quota = h("div", { class: "hint send-quota" });
  const list = h("ul", { class: "send-list", "aria-live": "polite" });
  section.append(buttons, quota, list);
  let timer = null;
  const refresh = async () => {
    clearTimeout(timer);
    if (!section.isConnected && timer !== null) return;
    let answer;
    try { answer = await get(`/tasks/${encodeURIComponent(task.id)}/sends`); } catch { return; }
    clear(list).append(...answer.items.map((s) => sendRow(task, s, refresh)));
    list.hidden = !answer.items.length;
    clear(quota).append(...answer.channels.filter((c) => c.monthly_limit).map((c) => h("p", { "data-quota": c.name },
      t("send_quota", { channel: label(c), used: c.used_this_month ?? 0, limit: c.monthly_limit, date: formatDate(c.resets_on) }))));
    clear(buttons);
    if (task.status === "ready" && task.assignee === state.me.name) {
      for (const channel of answer.channels) {
        const button = h("button", { type: "button", class: "secondary", id: `send-via-${channel.name}` }, viaText(channel));
        button.addEventListener("click", () => {
          const entry = form && form.fields.get("message_sent");
          const el = entry && (typeof entry.focusEl === "function" ? entry.focusEl() : entry.focusEl);
          confirmDialog(task, channel, (el && el.value) || suggested || "", (sent, text) => {
            fillForm(form, channel.name, text);
            const done = t(sent.status === "sent" ? "send_done" : "send_queued", { channel: label(channel) });
            toast(done);
            announce(done);
            refresh();
          });
        });
        buttons.append(button);
      }
    }
    if (!answer.channels.length && !answer.items.length) section.hidden = true;
    else section.hidden = false;
    if (answer.items.some((s) => OPEN.has(s.status))) timer = setTimeout(refresh, POLL_MS);
    else timer = 0;
  };
  await refresh();
  return section;
}
