// The case-register form (docs/protocol.md §6, Case register): one screen, keyboard friendly, server-side
// validation shown next to each field. Codes and labels come from /api/v1/reference. RegistrationForm
// registers a closed chat; InquiryForm (below) an inquiry that came another way (phone, meeting …).
// Both ask "is this a case?" first, and a case may join an open case of the adviser's service.

import { ApiError, api, cap, el, entry, locale, name, ref, t } from "./common.js";

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
  if (field === "case_id" && /open case/.test(message)) return t("case_error_closed");
  if (field === "contact_date" && /future/.test(message)) return t("inquiry_error_future");
  if (/^required/.test(message) && field !== "main_category") return t("inquiry_error_required");
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
      if (event.target.name === "case_search") this.searchCases(event.target.value);
    });
    this.element.addEventListener("keydown", (event) => {
      // Enter in the case search looks, it does not save the form.
      if (event.key === "Enter" && event.target.name === "case_search") event.preventDefault();
    });
    this.cases = [];
    this.render();
    this.searchCases("");
  }

  get url() {
    return `/api/v1/conversations/${encodeURIComponent(this.conv.id)}/registration`;
  }

  get headingKey() {
    return "reg_heading";
  }

  /** POST registers; an amendment (AmendForm) PUTs the whole form again. */
  get method() {
    return "POST";
  }

  /** What a fresh form shows: nothing chosen (AmendForm: the registration as saved). */
  initialValues() {
    return {
      is_case: undefined,
      main_category: null,
      other_categories: [],
      violence_forms: [],
      contact: "unknown",
      age_group: "unknown",
      gender: "unknown",
      actions: [],
      note: "",
      case_id: "",
      case_ref: "",
      case_search: "",
    };
  }

  headingText() {
    return t(this.headingKey);
  }

  introText() {
    return t(this.introKey);
  }

  get introKey() {
    return "reg_intro";
  }

  /** Fields after "is this a case?" that only some forms have (InquiryForm: channel, date …). */
  extraFields() {
    return [];
  }

  fieldOrder() {
    return ["is_case", "main_category", "other_categories", "violence_forms", "contact", "age_group", "gender", "actions", "case_id", "case_ref", "note"];
  }

  // -------------------------------------------------------------- cases

  /** The open cases of the adviser's service an inquiry can join: newest first, or those found. */
  async searchCases(query) {
    const q = query.trim();
    const params = new URLSearchParams({ limit: "50" });
    if (/^\d{4}-\d{2}-\d{2}$/.test(q)) {
      params.set("from", q);
      params.set("to", q);
    } else if (q) params.set("ref", q);
    const asked = (this.caseQuery = params.toString());
    try {
      const data = await api(`/api/v1/cases?${params}`);
      if (asked !== this.caseQuery) return;
      this.cases = data.cases || [];
    } catch {
      this.cases = [];
    }
    this.fillCases();
  }

  caseLabel(c) {
    const category = c.main_category ? cap(name("categories", c.main_category)) : "–";
    return t("case_option", { ref: c.ref || t("case_no_ref"), date: c.last_contact_date || "", category, n: c.inquiry_count });
  }

  fillCases() {
    const select = this.element.elements.case_id;
    if (!select) return;
    const chosen = select.value;
    const known = this.cases.some((c) => c.case_id === chosen);
    const options = [el("option", { value: "", text: t("case_new") })];
    if (chosen && !known && this.chosenCase) options.push(el("option", { value: chosen, text: this.caseLabel(this.chosenCase) }));
    options.push(...this.cases.map((c) => el("option", { value: c.case_id, text: this.caseLabel(c) })));
    select.replaceChildren(...options);
    select.value = chosen;
    this.sync();
  }

  caseBlock(v) {
    const search = el(
      "div",
      { className: "field field-case_search" },
      el("label", { for: this.id("case_search"), text: t("case_search") }),
      el("input", { type: "search", id: this.id("case_search"), name: "case_search", autocomplete: "off", spellcheck: "false" }),
    );
    const attach = this.select("case_id", "case_attach", [["", t("case_new")]], "");
    const refField = el(
      "div",
      { className: "field field-case_ref" },
      el("label", { for: this.id("case_ref"), text: t("case_ref") }),
      el("input", {
        type: "text",
        id: this.id("case_ref"),
        name: "case_ref",
        maxlength: 24,
        autocomplete: "off",
        spellcheck: "false",
        "aria-describedby": this.id("case_ref", "-error"),
      }),
      this.errorNode("case_ref"),
    );
    refField.querySelector("input").value = v.case_ref || "";
    search.querySelector("input").value = v.case_search || "";
    const block = el(
      "fieldset",
      { className: "field field-case", id: this.id("case") },
      el("legend", { text: t("case_legend") }),
      search,
      attach,
      refField,
    );
    this.chosenCase = this.cases.find((c) => c.case_id === v.case_id) || this.chosenCase;
    return block;
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
      case_id: form.elements.case_id?.value || "",
      case_ref: form.elements.case_ref?.value || "",
      case_search: form.elements.case_search?.value || "",
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
    if (v.is_case === true && v.case_id) body.case_id = v.case_id;
    else if (v.is_case === true && v.case_ref.trim()) body.case_ref = v.case_ref.trim();
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
    const v = this.values() || this.initialValues();
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
    // The service's own categories (an administrator's, kept out of the published statistics) may be
    // other categories only, after the common ones.
    const own = ref.own.map((e) => e.code).filter((c) => !categories.includes(c));
    const others = this.fieldset("other_categories", "reg_other_categories", this.checkboxes("other_categories", [...categories, ...own], v.other_categories));
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
      el("h3", { id: `${this.prefix}-heading`, text: this.headingText() }),
      el("p", { className: "muted", text: this.introText() }),
      this.summary,
      isCase,
      ...this.extraFields(v),
      el(
        "div",
        { className: "reg-grid" },
        el("div", { className: "reg-col" }, main, inquiryHint, others, forms),
        el("div", { className: "reg-col" }, ...singles, actions),
      ),
      this.caseBlock(v),
      note,
      el("div", { className: "form-actions" }, button, ...this.moreButtons()),
    );
    this.fillCases();
    this.element.elements.case_id.value = v.case_id || "";
    this.sync();
    this.updateCount();
    for (const [field, error] of Object.entries(this.errors)) this.showError(field, fieldMessage(field, error.message, error.body));
  }

  moreButtons() {
    return [];
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
    const caseBlock = form.querySelector(".field-case");
    if (caseBlock) {
      caseBlock.hidden = v.is_case !== true;
      form.querySelector(".field-case_ref").hidden = Boolean(v.case_id);
    }
    const violence = !inquiry && [v.main_category, ...this.values().other_categories].includes("threats_violence");
    const forms = form.querySelector(".field-violence_forms");
    forms.hidden = !violence;
    if (!violence) for (const box of forms.querySelectorAll("input")) box.checked = false;
  }

  changed(event) {
    if (["is_case", "main_category", "other_categories", "case_id"].includes(event.target.name)) this.sync();
    const field = event.target.name;
    if (this.errors[field]) {
      delete this.errors[field];
      this.showError(field, null);
    }
  }

  // -------------------------------------------------------------- errors

  control(field) {
    const form = this.element;
    if (["is_case", "other_categories", "violence_forms", "actions", "channel"].includes(field)) return form.querySelector(`#${this.id(field)}`);
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
    for (const field of this.fieldOrder()) {
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
      const saved = await api(this.url, { method: this.method, body });
      this.onSaved(this.conv, "saved", { ...saved, case: this.cases.find((c) => c.case_id === saved?.case_id) || null, ref: body.case_ref || null });
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
        const known = { not_closed: "reg_not_closed", locked: "amend_locked", forbidden: "amend_forbidden" }[err.code];
        this.summary.textContent = known ? t(known) : t("error_generic", { message: err.message });
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

// ------------------------------------------------------------------ inquiries from other channels

function osloToday() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Oslo", year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
}

/** The form for an inquiry that did not come through the chat: the registration form plus the channel,
 * the date and what a conversation would have said (region, language, audience). */
export class InquiryForm extends RegistrationForm {
  constructor({ user, onSaved, onExpired, onCancel }) {
    super({ id: "inquiry" }, { onSaved, onExpired });
    this.user = user;
    this.onCancel = onCancel;
    this.element.classList.add("inquiry-form");
    this.element.replaceChildren(); // drawn again with the user's defaults (their county)
    this.render();
  }

  get url() {
    return "/api/v1/registrations";
  }

  get headingKey() {
    return "inquiry_form_heading";
  }

  get introKey() {
    return "inquiry_form_intro";
  }

  fieldOrder() {
    return ["is_case", "channel", "contact_date", "region", "language", "audience", ...super.fieldOrder().slice(1)];
  }

  values() {
    const v = super.values();
    if (!v) return null;
    const form = this.element;
    return {
      ...v,
      channel: form.querySelector('input[name="channel"]:checked')?.value || "",
      contact_date: form.elements.contact_date?.value || "",
      region: form.elements.region?.value || "",
      language: form.elements.language?.value || "",
      audience: form.elements.audience?.value || "",
    };
  }

  body() {
    const v = this.values();
    return {
      ...super.body(),
      channel: v.channel || null,
      contact_date: v.contact_date || null,
      region: v.region || null,
      language: v.language || null,
      audience: v.audience || null,
    };
  }

  extraFields(v) {
    const user = this.user || {};
    const regions = user.regions || [];
    const channels = codes("channels").filter((c) => c !== "chat");
    const channel = this.fieldset(
      "channel",
      "inquiry_channel",
      el(
        "div",
        { className: "choices choices-inline" },
        ...channels.map((code) => {
          const id = this.id("channel", `-${code}`);
          return el(
            "div",
            { className: "choice" },
            el("input", { type: "radio", id, name: "channel", value: code, checked: v.channel === code }),
            el("label", { for: id, text: cap(name("channels", code)) }),
          );
        }),
      ),
    );
    const today = osloToday();
    const date = el(
      "div",
      { className: "field field-contact_date" },
      el("label", { for: this.id("contact_date"), text: t("inquiry_contact_date") }),
      el("input", { type: "date", id: this.id("contact_date"), name: "contact_date", max: today, "aria-describedby": this.id("contact_date", "-error") }),
      this.errorNode("contact_date"),
    );
    date.querySelector("input").value = v.contact_date || today;
    const region = this.select(
      "region",
      "inquiry_region",
      [["", t("inquiry_region_unknown")], ...codes("regions").map((c) => [c, name("regions", c)])],
      v.region ?? (regions.length === 1 ? regions[0] : ""),
    );
    const languages = codes("languages");
    const language = this.select(
      "language",
      "inquiry_language",
      languages.map((c) => [c, cap(name("languages", c))]),
      v.language || (languages.includes("nb") ? "nb" : languages[0]),
    );
    const audience = this.select(
      "audience",
      "inquiry_audience",
      [["", t("reg_choose")], ...codes("audiences").map((c) => [c, cap(name("audiences", c))])],
      v.audience || "",
    );
    return [channel, el("div", { className: "reg-grid inquiry-facts" }, el("div", { className: "reg-col" }, date, region), el("div", { className: "reg-col" }, language, audience))];
  }

  moreButtons() {
    const cancel = el("button", { type: "button", className: "button button-quiet", text: t("inquiry_cancel") });
    cancel.addEventListener("click", () => this.onCancel?.());
    return [cancel];
  }
}

// ------------------------------------------------------------------ amendments (issue 17)

/** The saved registration again, to amend within its 7 days (PUT /api/v1/registrations/{id}). Codes,
 * actions and the note can change; the case link cannot (a case that stops being one leaves its case,
 * an inquiry that becomes a case opens its own: the server does both). */
export class AmendForm extends RegistrationForm {
  constructor(reg, { onSaved, onExpired, onCancel }) {
    super({ id: `amend-${reg.id}`, alias: reg.alias, reg }, { onSaved, onExpired });
    this.onCancel = onCancel;
    this.element.classList.add("amend-form");
  }

  get reg() {
    return this.conv.reg;
  }

  get url() {
    return `/api/v1/registrations/${encodeURIComponent(this.reg.id)}`;
  }

  get method() {
    return "PUT";
  }

  headingText() {
    return t("amend_heading", { what: this.reg.alias || cap(name("channels", this.reg.channel)) });
  }

  introText() {
    const until = new Intl.DateTimeFormat(locale(), { day: "numeric", month: "long", hour: "2-digit", minute: "2-digit" });
    return t("amend_intro", { until: until.format(new Date(this.reg.locked_at)) });
  }

  initialValues() {
    const r = this.reg;
    return {
      ...super.initialValues(),
      is_case: r.is_case,
      main_category: r.main_category,
      other_categories: r.other_categories || [],
      violence_forms: r.violence_forms || [],
      contact: r.contact || "unknown",
      age_group: r.age_group || "unknown",
      gender: r.gender || "unknown",
      actions: r.actions || [],
      note: r.note || "",
    };
  }

  body() {
    const body = super.body();
    delete body.case_id;
    delete body.case_ref;
    return body;
  }

  sync() {
    super.sync();
    const caseBlock = this.element.querySelector(".field-case");
    if (caseBlock) caseBlock.hidden = true;
  }

  moreButtons() {
    const cancel = el("button", { type: "button", className: "button button-quiet", text: t("inquiry_cancel") });
    cancel.addEventListener("click", () => this.onCancel?.());
    return [cancel];
  }
}

