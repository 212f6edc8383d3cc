// A form from a JSON Schema (2020-12) and an rjsf-style UI schema, with no dependencies.
//
// Supports what the process owners' forms use: strings (text, textarea, date, enum as a
// select or radios), numbers and integers, booleans (checkbox or yes/no radios), arrays of
// strings and arrays of objects (add/remove items), nested objects; ui:order, ui:help,
// ui:placeholder, ui:readonly, ui:enumNames, ui:options.rows. Validation is the server's:
// `showErrors(problem.errors)` puts each message next to its field (dotted paths such as
// "goals.0.title") and lists them all in a summary at the top.

import { append, clear, h, uid } from "./dom.js";
import { friendlyError, pick, t } from "./i18n.js";

function ordered(properties, ui) {
  const names = Object.keys(properties || {});
  const order = (ui && ui["ui:order"]) || [];
  const first = order.filter((n) => n !== "*" && names.includes(n));
  const rest = names.filter((n) => !first.includes(n));
  const star = order.indexOf("*");
  if (star < 0) return [...first, ...rest];
  return [...first.slice(0, star), ...rest, ...first.slice(star)];
}

function typeOf(schema) {
  const type = schema && schema.type;
  if (Array.isArray(type)) return type.find((x) => x !== "null") || "string";
  if (type) return type;
  if (schema && schema.enum) return "string";
  if (schema && schema.properties) return "object";
  return "string";
}

function describe(schema, ui) {
  const texts = [schema.description, ui && ui["ui:help"], ui && ui["ui:description"]].filter(Boolean);
  return texts.map((x) => pick(x));
}

function enumLabels(schema, ui) {
  const names = (ui && ui["ui:enumNames"]) || schema.enumNames || [];
  return schema.enum.map((value, i) => (names[i] !== undefined ? pick(names[i]) : String(value)));
}

class Field {
  constructor(path, wrapper) {
    this.path = path;
    this.wrapper = wrapper;
    this.children = [];
  }
}

export class SchemaForm {
  constructor(schema, uiSchema = {}, data = {}, { idPrefix = "f" } = {}) {
    this.schema = schema || { type: "object", properties: {} };
    this.ui = uiSchema || {};
    this.idPrefix = idPrefix;
    this.fields = new Map();     // path -> {wrapper, errorEl, control}
    this.element = h("div", { class: "schema-form" });
    this.summary = h("div", { class: "error-summary", tabindex: "-1", hidden: true, role: "alert" });
    this.element.append(this.summary);
    this.root = this.objectBody(this.schema, this.ui, data || {}, "", this.element, true);
  }

  // ---------- building ----------
  objectBody(schema, ui, value, path, container, top = false) {
    const required = new Set(schema.required || []);
    const getters = {};
    for (const name of ordered(schema.properties, ui)) {
      const prop = schema.properties[name];
      const childUi = (ui && ui[name]) || {};
      if (childUi["ui:widget"] === "hidden") continue;
      const childPath = path ? `${path}.${name}` : name;
      const initial = value && Object.prototype.hasOwnProperty.call(value, name) ? value[name] : prop.default;
      getters[name] = this.field(prop, childUi, initial, childPath, required.has(name), container);
    }
    void top;
    return () => {
      const out = {};
      for (const [name, get] of Object.entries(getters)) {
        const v = get();
        if (v !== undefined) out[name] = v;
      }
      return out;
    };
  }

  field(schema, ui, value, path, required, container) {
    const type = typeOf(schema);
    if (type === "object") return this.objectField(schema, ui, value, path, container);
    if (type === "array") return this.arrayField(schema, ui, value, path, required, container);
    if (type === "boolean") return this.booleanField(schema, ui, value, path, required, container);
    if (schema.enum && ui["ui:widget"] === "radio") return this.radioField(schema, ui, value, path, required, container);
    return this.inputField(schema, ui, value, path, required, container);
  }

  register(path, wrapper, errorEl, focusEl, describedBy) {
    this.fields.set(path, { wrapper, errorEl, focusEl, describedBy });
  }

  labelText(schema, name, required) {
    const text = pick(schema.title || name);
    return [text, required ? h("span", { class: "required", "aria-hidden": "true" }, " *") : null];
  }

  helpNodes(schema, ui, id) {
    const texts = describe(schema, ui);
    if (!texts.length) return { nodes: [], ids: [] };
    return { nodes: [h("p", { class: "hint", id }, texts.join(" "))], ids: [id] };
  }

  inputField(schema, ui, value, path, required, container) {
    const id = uid(this.idPrefix);
    const type = typeOf(schema);
    const help = this.helpNodes(schema, ui, `${id}-help`);
    const errorEl = h("p", { class: "field-error", id: `${id}-err`, hidden: true });
    const readOnly = ui["ui:readonly"] || schema.readOnly;
    const common = {
      id, name: path, "aria-required": required ? "true" : null, readonly: readOnly || null,
      "aria-describedby": help.ids.join(" ") || null,
    };
    let control;
    if (schema.enum) {
      control = h("select", common,
        h("option", { value: "" }, t("choose")),
        enumLabels(schema, ui).map((text, i) => h("option", { value: String(i) }, text)));
      const index = schema.enum.findIndex((x) => x === value);
      control.value = index >= 0 ? String(index) : "";
      if (readOnly) control.disabled = true;
    } else if (type === "number" || type === "integer") {
      control = h("input", {
        ...common, type: "number", inputmode: type === "integer" ? "numeric" : "decimal",
        step: type === "integer" ? "1" : "any", min: schema.minimum, max: schema.maximum,
      });
      control.value = value === undefined || value === null ? "" : String(value);
    } else if (ui["ui:widget"] === "textarea") {
      const rows = (ui["ui:options"] && ui["ui:options"].rows) || 4;
      control = h("textarea", { ...common, rows, placeholder: ui["ui:placeholder"] ? pick(ui["ui:placeholder"]) : null });
      control.value = value === undefined || value === null ? "" : String(value);
    } else {
      const inputType = schema.format === "date" ? "date" : schema.format === "email" ? "email"
        : schema.format === "date-time" ? "datetime-local" : "text";
      control = h("input", { ...common, type: inputType, placeholder: ui["ui:placeholder"] ? pick(ui["ui:placeholder"]) : null });
      let v = value === undefined || value === null ? "" : String(value);
      if (inputType === "date" && /^\d{4}-\d{2}-\d{2}T/.test(v)) v = v.slice(0, 10);
      control.value = v;
    }
    const wrapper = h("div", { class: "field", "data-path": path },
      h("label", { for: id }, this.labelText(schema, path.split(".").pop(), required)),
      help.nodes, control, errorEl);
    container.append(wrapper);
    this.register(path, wrapper, errorEl, control, help.ids);
    return () => {
      if (schema.enum) return control.value === "" ? undefined : schema.enum[Number(control.value)];
      const raw = control.value;
      if (type === "number" || type === "integer") {
        if (raw === "") return undefined;
        const n = Number(raw);
        return Number.isNaN(n) ? raw : n;
      }
      return raw === "" ? undefined : raw;
    };
  }

  radioField(schema, ui, value, path, required, container) {
    const id = uid(this.idPrefix);
    const name = `${id}-radio`;
    const help = this.helpNodes(schema, ui, `${id}-help`);
    const errorEl = h("p", { class: "field-error", id: `${id}-err`, hidden: true });
    const inline = ui["ui:options"] && ui["ui:options"].inline;
    const radios = enumLabels(schema, ui).map((text, i) => {
      const rid = `${id}-${i}`;
      const input = h("input", { type: "radio", id: rid, name, value: String(i) });
      if (schema.enum[i] === value) input.checked = true;
      return h("div", { class: "choice" }, input, h("label", { for: rid }, text));
    });
    const fieldset = h("fieldset", {
      class: `field radios${inline ? " inline" : ""}`, "data-path": path, id,
      "aria-describedby": help.ids.join(" ") || null, "aria-required": required ? "true" : null,
    }, h("legend", {}, this.labelText(schema, path.split(".").pop(), required)), help.nodes, radios, errorEl);
    container.append(fieldset);
    this.register(path, fieldset, errorEl, () => fieldset.querySelector("input"), help.ids);
    return () => {
      const checked = fieldset.querySelector(`input[name="${name}"]:checked`);
      return checked ? schema.enum[Number(checked.value)] : undefined;
    };
  }

  booleanField(schema, ui, value, path, required, container) {
    const id = uid(this.idPrefix);
    const help = this.helpNodes(schema, ui, `${id}-help`);
    const errorEl = h("p", { class: "field-error", id: `${id}-err`, hidden: true });
    if (ui["ui:widget"] === "radio") {
      const name = `${id}-radio`;
      const options = [[true, t("yes")], [false, t("no")]].map(([v, text], i) => {
        const rid = `${id}-${i}`;
        const input = h("input", { type: "radio", id: rid, name, value: String(v) });
        if (value === v) input.checked = true;
        return h("div", { class: "choice" }, input, h("label", { for: rid }, text));
      });
      const inline = ui["ui:options"] && ui["ui:options"].inline;
      const fieldset = h("fieldset", {
        class: `field radios${inline ? " inline" : ""}`, "data-path": path, id,
        "aria-describedby": help.ids.join(" ") || null,
      }, h("legend", {}, this.labelText(schema, path.split(".").pop(), required)), help.nodes, options, errorEl);
      container.append(fieldset);
      this.register(path, fieldset, errorEl, () => fieldset.querySelector("input"), help.ids);
      return () => {
        const checked = fieldset.querySelector(`input[name="${name}"]:checked`);
        return checked ? checked.value === "true" : undefined;
      };
    }
    const control = h("input", { type: "checkbox", id, name: path, "aria-describedby": help.ids.join(" ") || null });
    control.checked = value === true;
    const wrapper = h("div", { class: "field checkbox", "data-path": path },
      h("div", { class: "choice" }, control, h("label", { for: id }, this.labelText(schema, path.split(".").pop(), required))),
      help.nodes, errorEl);
    container.append(wrapper);
    this.register(path, wrapper, errorEl, control, help.ids);
    return () => control.checked;
  }

  objectField(schema, ui, value, path, container) {
    const id = uid(this.idPrefix);
    const help = this.helpNodes(schema, ui, `${id}-help`);
    const errorEl = h("p", { class: "field-error", id: `${id}-err`, hidden: true });
    const fieldset = h("fieldset", { class: "field group", "data-path": path, id },
      h("legend", {}, pick(schema.title || path.split(".").pop())), help.nodes);
    const get = this.objectBody(schema, ui, value || {}, path, fieldset);
    fieldset.append(errorEl);
    container.append(fieldset);
    this.register(path, fieldset, errorEl, () => fieldset.querySelector("input, select, textarea"), help.ids);
    return get;
  }

  arrayField(schema, ui, value, path, required, container) {
    const id = uid(this.idPrefix);
    const items = schema.items || { type: "string" };
    const itemUi = (ui && ui.items) || {};
    const objects = typeOf(items) === "object";
    const help = this.helpNodes(schema, ui, `${id}-help`);
    const errorEl = h("p", { class: "field-error", id: `${id}-err`, hidden: true });
    const list = h("ol", { class: `array-items${objects ? " objects" : ""}` });
    const title = pick(schema.title || path.split(".").pop());
    const addButton = h("button", { type: "button", class: "secondary add-item" }, `+ ${t("add_item")}`);
    addButton.setAttribute("aria-label", `${t("add_item")}: ${title}`);
    const fieldset = h("fieldset", { class: "field array", "data-path": path, id, "aria-describedby": help.ids.join(" ") || null },
      h("legend", {}, this.labelText(schema, path.split(".").pop(), required)), help.nodes, list, addButton, errorEl);
    container.append(fieldset);
    this.register(path, fieldset, errorEl, () => fieldset.querySelector("input, select, textarea, button"), help.ids);
    const rows = [];

    const renumber = () => {
      rows.forEach((row, i) => {
        row.path = `${path}.${i}`;
        row.li.dataset.path = row.path;
        row.remove.textContent = "×";
        row.remove.setAttribute("aria-label", t("remove_item", { n: i + 1 }) + ` (${title})`);
        row.remove.title = t("remove_item", { n: i + 1 });
        if (row.legend) row.legend.textContent = `${pick(items.title || title)} ${i + 1}`;
        // re-key registered child paths
        for (const [key, entry] of [...this.fields.entries()]) {
          if (entry.rowToken === row.token) {
            this.fields.delete(key);
            this.fields.set(`${row.path}${entry.suffix}`, entry);
            entry.wrapper.dataset.path = `${row.path}${entry.suffix}`;
          }
        }
      });
    };

    const addRow = (itemValue, focus = false) => {
      const index = rows.length;
      const li = h("li", { "data-path": `${path}.${index}` });
      const remove = h("button", { type: "button", class: "icon remove-item" }, "×");
      const row = { li, remove, token: uid("row"), path: `${path}.${index}` };
      const before = new Set(this.fields.keys());
      if (objects) {
        const inner = h("fieldset", { class: "group item" });
        row.legend = h("legend", {}, `${pick(items.title || title)} ${index + 1}`);
        inner.append(row.legend);
        row.get = this.objectBody(items, itemUi, itemValue || {}, row.path, inner);
        li.append(inner, remove);
      } else {
        const itemId = uid(this.idPrefix);
        const control = h("input", {
          id: itemId, type: items.format === "date" ? "date" : "text",
          placeholder: itemUi["ui:placeholder"] ? pick(itemUi["ui:placeholder"]) : null,
        });
        control.setAttribute("aria-label", `${title} ${t("item_n", { n: index + 1 })}`);
        control.value = itemValue === undefined || itemValue === null ? "" : String(itemValue);
        const itemError = h("p", { class: "field-error", id: `${itemId}-err`, hidden: true });
        const box = h("div", { class: "item-row", "data-path": row.path }, control, remove);
        li.append(box, itemError);
        this.fields.set(row.path, { wrapper: li, errorEl: itemError, focusEl: control, describedBy: [], rowToken: row.token, suffix: "" });
        row.get = () => (control.value.trim() === "" ? undefined : control.value);
        row.focus = control;
      }
      for (const key of this.fields.keys()) {
        if (!before.has(key) && key.startsWith(row.path)) {
          const entry = this.fields.get(key);
          entry.rowToken = row.token;
          entry.suffix = key.slice(row.path.length);
        }
      }
      remove.addEventListener("click", () => {
        const at = rows.indexOf(row);
        rows.splice(at, 1);
        for (const [key, entry] of [...this.fields.entries()]) if (entry.rowToken === row.token) this.fields.delete(key);
        li.remove();
        renumber();
        (rows[Math.min(at, rows.length - 1)]?.remove || addButton).focus();
      });
      list.append(li);
      rows.push(row);
      renumber();
      if (focus) (row.focus || li.querySelector("input, select, textarea"))?.focus();
    };

    const initial = Array.isArray(value) ? value : [];
    initial.forEach((v) => addRow(v));
    if (!initial.length && (objects ? (schema.minItems || 0) > 0 : true)) addRow(undefined);
    addButton.addEventListener("click", () => addRow(undefined, true));

    return () => {
      const out = [];
      for (const row of rows) {
        const v = row.get();
        if (objects) {
          if (v && Object.keys(v).length) out.push(v);
        } else if (v !== undefined) out.push(v);
      }
      return out.length || required ? out : undefined;
    };
  }

  // ---------- using ----------
  value() { return this.root(); }

  clearErrors() {
    for (const entry of this.fields.values()) {
      entry.errorEl.hidden = true;
      entry.errorEl.textContent = "";
      entry.wrapper.classList.remove("invalid");
      const control = typeof entry.focusEl === "function" ? null : entry.focusEl;
      if (control) {
        control.removeAttribute("aria-invalid");
        control.setAttribute("aria-describedby", (entry.describedBy || []).join(" "));
        if (!control.getAttribute("aria-describedby")) control.removeAttribute("aria-describedby");
      }
    }
    this.summary.hidden = true;
    clear(this.summary);
  }

  entryFor(path) {
    let p = path || "";
    while (p) {
      if (this.fields.has(p)) return { entry: this.fields.get(p), path: p };
      p = p.includes(".") ? p.slice(0, p.lastIndexOf(".")) : "";
    }
    return null;
  }

  // errors: [{field, message}] from a 422 problem. Returns the number shown.
  showErrors(errors, heading) {
    this.clearErrors();
    const items = [];
    for (const error of errors || []) {
      const found = this.entryFor(error.field);
      const text = friendlyError(error.message);
      if (found) {
        const { entry } = found;
        const previous = entry.errorEl.textContent;
        entry.errorEl.textContent = previous ? `${previous};${text}` : text;
        entry.errorEl.title = error.message;
        entry.errorEl.hidden = false;
        entry.wrapper.classList.add("invalid");
        const control = typeof entry.focusEl === "function" ? entry.focusEl() : entry.focusEl;
        if (control) {
          control.setAttribute("aria-invalid", "true");
          const ids = new Set([...(control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean), entry.errorEl.id]);
          control.setAttribute("aria-describedby", [...ids].join(" "));
        }
        const labelEl = entry.wrapper.querySelector("label, legend");
        const name = labelEl ? labelEl.textContent.replace(/\s*\*$/, "") : error.field;
        const link = h("a", { href: `#${control ? control.id || entry.wrapper.id : ""}` }, `${name}:${text}`);
        link.addEventListener("click", (ev) => { ev.preventDefault(); control?.focus(); });
        items.push(h("li", {}, link));
      } else {
        items.push(h("li", {}, error.field && error.field !== "(form)" ? `${error.field}: ${text}` : text));
      }
    }
    if (items.length) {
      append(this.summary, [h("p", {}, heading || t("form_has_errors", { n: items.length })), h("ul", {}, items)]);
      this.summary.hidden = false;
      this.summary.focus();
    }
    return items.length;
  }
}
