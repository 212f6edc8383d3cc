// Email no candidate could be matched to (HR and admins; GET /channels/email/unmatched): who wrote, when,
// what they said. HR finds the person (GET /candidates?q=, by name, phone or email) and assigns the mail
// (POST .../assign): it is then recorded as that candidate's reply and moves their case like any reply.
import { get, request } from "../api.js";
import { formatDateTime, h, uid } from "../dom.js";
import { t } from "../i18n.js";
import { errorMessage, heading, render, toast } from "../ui.js";

function finder(mail) {
  const id = uid("mail");
  const query = h("input", { id: `${id}-q`, type: "search", autocomplete: "off", spellcheck: "false",
    value: mail.from_name || mail.from_address || "" });
  const results = h("ul", { class: "plain", id: `${id}-found`, "aria-live": "polite" });
  const assign = async (candidate) => {
    try {
      await request("POST", `/channels/email/unmatched/${mail.id}/assign`, { body: { candidate_id: candidate.id } });
      toast(t("mail_assigned", { name: candidate.name || candidate.id }));
      render();
    } catch (err) {
      toast(errorMessage(err));
    }
  };
  const find = async (event) => {
    event.preventDefault();
    const q = query.value.trim();
    results.replaceChildren();
    if (!q) return;
    try {
      const found = (await get(`/candidates?${new URLSearchParams({ q, limit: "10" })}`)).items;
      if (!found.length) results.append(h("li", {}, t("mail_nobody", { q })));
      for (const candidate of found) {
        results.append(h("li", {},
          h("span", {}, candidate.name || candidate.id, candidate.email ? ` · ${candidate.email}` : ""), " ",
          h("button", { type: "button", class: "mail-assign", onclick: () => assign(candidate) },
            t("mail_assign_to", { name: candidate.name || candidate.id }))));
      }
    } catch (err) {
      results.append(h("li", { class: "field-error" }, errorMessage(err)));
    }
  };
  return h("form", { class: "mail-find", role: "search", onsubmit: find },
    h("label", { for: query.id }, t("mail_find")), " ", query, " ",
    h("button", { type: "submit" }, t("mail_search")), results);
}

function mailCard(mail) {
  const id = uid("mail");
  return h("article", { class: "card", "data-mail": mail.id, "aria-labelledby": id },
    h("h2", { id }, mail.subject || t("mail_no_subject")),
    h("p", { class: "hint" }, t("mail_from"), ": ", [mail.from_name, mail.from_address && `<${mail.from_address}>`]
      .filter(Boolean).join(" ") || "—", " · ", t("mail_sent_at"), ": ",
    mail.sent_at ? formatDateTime(mail.sent_at) : formatDateTime(mail.received_at)),
    h("blockquote", { class: "mail-text" }, mail.text || "—"),
    finder(mail));
}

export async function mailPage(body) {
  body.append(heading(t("mail_title")));
  body.append(h("p", { class: "hint" }, t("mail_intro")));
  const mails = (await get("/channels/email/unmatched")).items;
  if (!mails.length) body.append(h("p", { class: "card", id: "mail-empty" }, t("mail_empty")));
  for (const mail of mails) body.append(mailCard(mail));
}
