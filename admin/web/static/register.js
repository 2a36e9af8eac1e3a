// The case-register form (docs/protocol.md §6, Case register): one screen, keyboard friendly, server-side
// validation shown next to each field. Codes and labels come from /api/v1/reference.

import { ApiError, api, cap, el, entry, name, ref, t } from "./common.js";

const NOTE_MAX = 500;
const SINGLE = ["contact", "age_group", "gender"];
const KIND = { contact: "contacts", age_group: "age_groups", gender: "genders" };

function codes(kind) {
  return (ref.data?.[kind] || []).map((e) => e.code);
}

function violenceForms() {
  return entry("categories", "threats_violence")?.forms || [];
}

/** Known server messages, said in the page language; anything else is shown as the server wrote it. */
function fieldMessage(field, message, body) {
  if (field === "is_case") return t("reg_error_is_case");
  if (field === "main_category" && /required/.test(message)) return t("reg_error_main_required");
  if (/inquiry/.test(message)) return t("reg_error_no_categories");
  if (field === "note" && /at most/.test(message)) return t("reg_error_note_long");
  if (field === "other_categories" && body.is_case === false) return t("reg_error_no_categories");
  return message;
}

export class RegistrationForm {
  constructor(conv, { onSaved, onExpired }) {
    this.conv = conv;
    this.onSaved = onSaved;
    this.onExpired = onExpired;
    this.prefix = `reg-${conv.id}`;
    this.errors = {};
    this.summary = null;
    this.element = el("form", { className: "registration", novalidate: true, "aria-labelledby": `${this.prefix}-heading` });
    this.element.addEventListener("submit", (event) => this.submit(event));
    this.element.addEventListener("change", (event) => this.changed(event));
    this.element.addEventListener("input", (event) => {
      if (event.target.name === "note") this.updateCount();
    });
    this.render();
  }

  id(field, suffix = "") {
    return `${this.prefix}-${field}${suffix}`;
  }

  // -------------------------------------------------------------- values

  values() {
    const form = this.element;
    if (!form.elements.length) return null;
    const checked = (field) => [...form.querySelectorAll(`input[name="${field}"]:checked`)].map((i) => i.value);
    const isCase = form.querySelector('input[name="is_case"]:checked')?.value;
    return {
      is_case: isCase === "yes" ? true : isCase === "no" ? false : undefined,
      main_category: form.elements.main_category?.value || null,
      other_categories: checked("other_categories"),
      violence_forms: checked("violence_forms"),
      contact: form.elements.contact?.value || "unknown",
      age_group: form.elements.age_group?.value || "unknown",
      gender: form.elements.gender?.value || "unknown",
      actions: checked("actions"),
      note: form.elements.note?.value || "",
    };
  }

  body() {
    const v = this.values();
    const body = {
      main_category: v.main_category,
      other_categories: v.other_categories,
      violence_forms: v.violence_forms,
      contact: v.contact,
      age_group: v.age_group,
      gender: v.gender,
      actions: v.actions,
      note: v.note.trim(),
    };
    if (v.is_case !== undefined) body.is_case = v.is_case; // left out when unanswered: the server says so
    if (v.is_case === false) {
      body.main_category = null;
      body.other_categories = [];
      body.violence_forms = [];
    }
    const violence = [v.main_category, ...v.other_categories].includes("threats_violence");
    if (!violence) body.violence_forms = [];
    return body;
  }

  // -------------------------------------------------------------- rendering

  errorNode(field) {
    const node = el("p", { className: "field-error", id: this.id(field, "-error"), hidden: true });
    return node;
  }

  checkboxes(field, items, chosen) {
    return el(
      "div",
      { className: "choices choices-columns" },
      ...items.map((code) => {
        const id = this.id(field, `-${code}`);
        return el(
          "div",
          { className: "choice" },
          el("input", { type: "checkbox", id, name: field, value: code, checked: chosen.includes(code) }),
          el("label", { for: id, text: cap(name(field === "violence_forms" ? "forms" : field === "actions" ? "actions" : "categories", code)) }),
        );
      }),
    );
  }

  fieldset(field, legendKey, content, extra = {}) {
    return el(
      "fieldset",
      { className: `field field-${field}`, id: this.id(field), "aria-describedby": this.id(field, "-error"), ...extra },
      el("legend", { text: t(legendKey) }),
      content,
      this.errorNode(field),
    );
  }

  select(field, labelKey, options, value) {
    const id = this.id(field);
    return el(
      "div",
      { className: `field field-${field}` },
      el("label", { for: id, text: t(labelKey) }),
      el(
        "select",
        { id, name: field, "aria-describedby": this.id(field, "-error") },
        ...options.map(([code, text]) => el("option", { value: code, text, selected: code === value })),
      ),
      this.errorNode(field),
    );
  }

  render() {
    const v = this.values() || {
      is_case: undefined,
      main_category: null,
      other_categories: [],
      violence_forms: [],
      contact: "unknown",
      age_group: "unknown",
      gender: "unknown",
      actions: [],
      note: "",
    };
    const categories = codes("categories");
    const isCase = el(
      "fieldset",
      {
        className: "field field-is_case",
        id: this.id("is_case"),
        "aria-describedby": `${this.id("is_case", "-hint")} ${this.id("is_case", "-error")}`,
      },
      el("legend", { text: t("reg_is_case") }),
      el("p", { className: "hint", id: this.id("is_case", "-hint"), text: t("reg_is_case_hint") }),
      el(
        "div",
        { className: "choices choices-inline" },
        ...[
          ["yes", "reg_is_case_yes", v.is_case === true],
          ["no", "reg_is_case_no", v.is_case === false],
        ].map(([value, key, checked]) =>
          el(
            "div",
            { className: "choice" },
            el("input", { type: "radio", name: "is_case", id: this.id("is_case", `-${value}`), value, checked }),
            el("label", { for: this.id("is_case", `-${value}`), text: t(key) }),
          ),
        ),
      ),
      this.errorNode("is_case"),
    );

    const main = this.select(
      "main_category",
      "reg_main_category",
      [["", t("reg_choose")], ...categories.map((c) => [c, name("categories", c)])],
      v.main_category || "",
    );
    const others = this.fieldset("other_categories", "reg_other_categories", this.checkboxes("other_categories", categories, v.other_categories));
    const forms = this.fieldset("violence_forms", "reg_violence_forms", this.checkboxes("violence_forms", violenceForms(), v.violence_forms));
    const inquiryHint = el("p", { className: "hint inquiry-hint", id: this.id("inquiry-hint"), text: t("reg_inquiry_hint") });

    const singles = SINGLE.map((field) =>
      this.select(
        field,
        `reg_${field}`,
        codes(KIND[field]).map((c) => [c, cap(name(KIND[field], c))]),
        v[field],
      ),
    );
    const actions = this.fieldset("actions", "reg_actions", this.checkboxes("actions", codes("actions"), v.actions));

    const noteId = this.id("note");
    const note = el(
      "div",
      { className: "field field-note" },
      el("label", { for: noteId, text: t("reg_note") }),
      el("p", { className: "note-warning", id: this.id("note", "-warning") }, el("span", { "aria-hidden": "true", text: "⚠ " }), t("reg_note_warning")),
      el("textarea", {
        id: noteId,
        name: "note",
        rows: 3,
        maxlength: NOTE_MAX,
        "aria-describedby": `${this.id("note", "-warning")} ${this.id("note", "-count")} ${this.id("note", "-error")}`,
      }),
      el("p", { className: "hint note-count", id: this.id("note", "-count") }),
      this.errorNode("note"),
    );
    note.querySelector("textarea").value = v.note;

    this.summary = el("p", { className: "form-error", role: "alert", id: this.id("summary"), tabindex: "-1", hidden: true });
    const button = el("button", { type: "submit", className: "button button-primary", text: t("reg_submit") });
    this.button = button;

    this.element.replaceChildren(
      el("h3", { id: `${this.prefix}-heading`, text: t("reg_heading") }),
      el("p", { className: "muted", text: t("reg_intro") }),
      this.summary,
      isCase,
      el(
        "div",
        { className: "reg-grid" },
        el("div", { className: "reg-col" }, main, inquiryHint, others, forms),
        el("div", { className: "reg-col" }, ...singles, actions),
      ),
      note,
      el("div", { className: "form-actions" }, button),
    );
    this.sync();
    this.updateCount();
    for (const [field, error] of Object.entries(this.errors)) this.showError(field, fieldMessage(field, error.message, error.body));
  }

  updateCount() {
    const area = this.element.elements.note;
    const count = this.element.querySelector(".note-count");
    if (area && count) count.textContent = t("reg_note_count", { n: area.value.length });
  }

  /** Keep the dependent fields consistent: an inquiry has no categories; forms only for violence. */
  sync() {
    const v = this.values();
    const form = this.element;
    const inquiry = v.is_case === false;
    form.elements.main_category.disabled = inquiry;
    for (const box of form.querySelectorAll('input[name="other_categories"]')) {
      const isMain = box.value === v.main_category;
      box.disabled = inquiry || isMain;
      if (isMain || inquiry) box.checked = false;
    }
    form.querySelector(".inquiry-hint").hidden = !inquiry;
    const violence = !inquiry && [v.main_category, ...this.values().other_categories].includes("threats_violence");
    const forms = form.querySelector(".field-violence_forms");
    forms.hidden = !violence;
    if (!violence) for (const box of forms.querySelectorAll("input")) box.checked = false;
  }

  changed(event) {
    if (["is_case", "main_category", "other_categories"].includes(event.target.name)) this.sync();
    const field = event.target.name;
    if (this.errors[field]) {
      delete this.errors[field];
      this.showError(field, null);
    }
  }

  // -------------------------------------------------------------- errors

  control(field) {
    const form = this.element;
    if (["is_case", "other_categories", "violence_forms", "actions"].includes(field)) return form.querySelector(`#${this.id(field)}`);
    return form.elements[field] || null;
  }

  showError(field, message) {
    const node = this.element.querySelector(`#${CSS.escape(this.id(field, "-error"))}`);
    const control = this.control(field);
    if (node) {
      node.textContent = message || "";
      node.hidden = !message;
    }
    if (control) {
      if (message) control.setAttribute("aria-invalid", "true");
      else control.removeAttribute("aria-invalid");
    }
    return Boolean(node);
  }

  clearErrors() {
    for (const field of Object.keys(this.errors)) this.showError(field, null);
    this.errors = {};
    this.summary.hidden = true;
    this.summary.textContent = "";
  }

  focusFirstError() {
    for (const field of ["is_case", "main_category", "other_categories", "violence_forms", "contact", "age_group", "gender", "actions", "note"]) {
      if (!this.errors[field]) continue;
      const control = this.control(field);
      const target = control?.matches("fieldset") ? control.querySelector("input:not([disabled])") : control;
      if (target) {
        target.focus();
        return;
      }
    }
    this.summary.focus();
  }

  // -------------------------------------------------------------- submit

  async submit(event) {
    event.preventDefault();
    if (this.busy) return;
    this.clearErrors();
    const body = this.body();
    this.busy = true;
    this.button.disabled = true;
    this.button.textContent = t("reg_saving");
    try {
      await api(`/api/v1/conversations/${encodeURIComponent(this.conv.id)}/registration`, { method: "POST", body });
      this.onSaved(this.conv, "saved");
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      if (err.status === 401) {
        this.onExpired();
      } else if (err.code === "already_registered") {
        this.onSaved(this.conv, "already");
      } else if (err.code === "invalid" && err.fields) {
        const unplaced = [];
        for (const [field, message] of Object.entries(err.fields)) {
          const text = fieldMessage(field, String(message), body);
          this.errors[field] = { message: String(message), body };
          if (!this.showError(field, text)) unplaced.push(`${field}: ${text}`);
        }
        this.summary.textContent = [t("reg_has_errors"), ...unplaced].join(" ");
        this.summary.hidden = false;
        this.focusFirstError();
      } else {
        this.summary.textContent = err.code === "not_closed" ? t("reg_not_closed") : t("error_generic", { message: err.message });
        this.summary.hidden = false;
        this.summary.focus();
      }
    } finally {
      this.busy = false;
      this.button.disabled = false;
      this.button.textContent = t("reg_submit");
    }
  }
}
