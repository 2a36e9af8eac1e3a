// Reference data on the admin page: categories, actions and help lines through
// /api/v1/reference/{kind}. Codes never change and are never reused; an entry is retired, not deleted.

import { $, api, el, i18n, t } from "./common.js";
import { clearErrors, dateInput, field, formError, formId, notice, select, showErrors, textInput } from "./admin-forms.js";

const R = { kind: "categories", entries: [], editing: null, onChange: null };
const SERVICES = ["MR", "AT", "IR", "KT"];

function label(entry, lang) {
  return entry?.name?.[lang] || "";
}

function isHelpLine() {
  return R.kind === "help_lines";
}

function today() {
  return new Intl.DateTimeFormat("sv-SE", { timeZone: "Europe/Oslo" }).format(new Date()); // YYYY-MM-DD
}

function day(iso) {
  const [y, m, d] = iso.split("-").map(Number);
  return new Intl.DateTimeFormat(i18n.lang === "nb" ? "nb-NO" : "en-GB", { dateStyle: "medium", timeZone: "UTC" }).format(new Date(Date.UTC(y, m - 1, d)));
}

/** In use, coming into use, going out of use or retired: in words, with the dates. */
function status(entry) {
  const now = today();
  if (entry.retired) return el("span", { className: "badge badge-urgent", text: t("ref_retired") });
  if (entry.retired_from && entry.retired_from <= now) return el("span", { className: "badge badge-urgent", text: t("ref_retired_since", { date: day(entry.retired_from) }) });
  if (entry.valid_from && entry.valid_from > now) return el("span", { className: "badge badge-new", text: t("ref_from", { date: day(entry.valid_from) }) });
  const parts = [el("span", { className: "badge badge-info", text: t("ref_active") })];
  if (entry.retired_from) parts.push(" ", el("span", { className: "muted", text: t("ref_until", { date: day(entry.retired_from) }) }));
  return el("span", {}, ...parts);
}

function owner(entry) {
  return entry.service ? t("ref_own_of", { service: entry.service }) : t("ref_common");
}

export async function loadReferenceKind(kind = R.kind) {
  R.kind = kind;
  const data = await api(`/api/v1/reference/${kind}`);
  R.entries = data.entries;
  renderReference();
}

export function setupReference(onChange) {
  R.onChange = onChange;
  $("reference-kind").addEventListener("change", async (event) => {
    R.editing = null;
    $("reference-edit-slot").replaceChildren();
    await loadReferenceKind(event.target.value);
    renderAddForm();
  });
  $("reference-add").addEventListener("toggle", () => {
    if ($("reference-add").open) renderAddForm();
  });
}

export function renderReference() {
  const head = [t("ref_code"), t("ref_label_nb"), t("ref_label_en")];
  if (isHelpLine()) head.push(t("ref_number"), t("ref_hours"));
  if (R.kind === "categories") head.push(t("ref_owner"));
  head.push(t("ref_status"));
  $("reference-table").querySelector("thead tr").replaceChildren(
    ...head.map((text) => el("th", { scope: "col", text })),
    el("th", { scope: "col" }, el("span", { className: "visually-hidden", text: t("col_actions") })),
  );
  $("reference-table").querySelector("tbody").replaceChildren(
    ...R.entries.map((entry) => {
      const cells = [el("th", { scope: "row" }, el("code", { text: entry.code })), el("td", { lang: "nb", text: label(entry, "nb") }), el("td", { lang: "en", text: label(entry, "en") })];
      if (isHelpLine()) cells.push(el("td", { text: entry.number || "" }), el("td", { text: entry.hours || "" }));
      if (R.kind === "categories") cells.push(el("td", { text: owner(entry) }));
      const edit = el("button", { type: "button", className: "button button-quiet", text: t("ref_edit"), "aria-label": t("ref_edit_named", { code: entry.code }), dataset: { code: entry.code } });
      edit.addEventListener("click", () => openEdit(entry.code));
      cells.push(el("td", {}, status(entry)), el("td", {}, edit));
      return el("tr", { className: entry.retired ? "row-disabled" : "", dataset: { code: entry.code } }, ...cells);
    }),
  );
  $("reference-table").querySelector("thead").lang = i18n.lang;
}

function labelFields(id, entry) {
  const nb = textInput(label(entry, "nb"), { maxlength: "200", lang: "nb" });
  const en = textInput(label(entry, "en"), { maxlength: "200", lang: "en" });
  const parts = [field(`${id}-nb`, "ref_label_nb", nb, { name: "name.nb" }), field(`${id}-en`, "ref_label_en", en, { name: "name.en" })];
  const extra = {};
  if (isHelpLine()) {
    extra.number = textInput(entry?.number || "", { inputmode: "tel", maxlength: "20" });
    extra.hours = textInput(entry?.hours || "", { maxlength: "200" });
    parts.push(field(`${id}-number`, "ref_number", extra.number, { name: "number" }), field(`${id}-hours`, "ref_hours", extra.hours, { name: "hours" }));
  }
  const from = dateInput(entry?.valid_from || "");
  const until = dateInput(entry?.retired_from || "");
  parts.push(field(`${id}-from`, "ref_valid_from", from, { name: "valid_from", hint: "ref_valid_from_hint" }));
  if (entry) parts.push(field(`${id}-until`, "ref_retired_from", until, { name: "retired_from", hint: "ref_retired_from_hint" }));
  return { parts, values: () => {
    const body = { name: { nb: nb.value.trim(), en: en.value.trim() } };
    if (extra.number) body.number = extra.number.value.trim();
    if (extra.hours && extra.hours.value.trim()) body.hours = extra.hours.value.trim();
    if (entry) {
      // A change only: an emptied date clears it.
      if ((entry.valid_from || "") !== from.value) body.valid_from = from.value || null;
      if ((entry.retired_from || "") !== until.value) body.retired_from = until.value || null;
    } else if (from.value) {
      body.valid_from = from.value;
    }
    return body;
  } };
}

function renderAddForm() {
  const id = formId("ref-add");
  const form = el("form", { className: "inline-form", novalidate: true });
  const code = textInput("", { autocomplete: "off", autocapitalize: "none", spellcheck: "false", maxlength: "48", pattern: "[a-z][a-z0-9_]{1,47}" });
  const labels = labelFields(id, null);
  const save = el("button", { type: "submit", className: "button button-primary", text: t("ref_add_submit") });
  const parts = [field(`${id}-code`, "ref_code", code, { name: "code", hint: "ref_code_hint" }), ...labels.parts];
  let service = null;
  if (R.kind === "categories") {
    service = select([["", t("ref_common_long")], ...SERVICES.map((s) => [s, t("ref_own_long", { service: s })])], "");
    parts.push(field(`${id}-service`, "ref_owner", service, { name: "service", hint: "ref_owner_hint" }));
  }
  form.append(formError(), el("div", { className: "form-grid" }, ...parts), el("div", { className: "form-actions" }, save));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearErrors(form);
    try {
      const body = { code: code.value.trim(), ...labels.values() };
      if (service?.value) body.service = service.value;
      await api(`/api/v1/reference/${R.kind}`, { method: "POST", body });
      notice(t("ref_added", { code: body.code }));
      await loadReferenceKind();
      R.onChange?.();
      renderAddForm();
    } catch (err) {
      showErrors(form, err);
    }
  });
  $("reference-add-slot").replaceChildren(form);
}

function openEdit(codeValue) {
  const entry = R.entries.find((e) => e.code === codeValue);
  if (!entry) return;
  R.editing = codeValue;
  const id = formId("ref-edit");
  const heading = el("h3", { id: `${id}-heading`, tabindex: "-1", text: t("ref_edit_heading", { code: entry.code }) });
  const form = el("form", { className: "inline-form", novalidate: true, "aria-labelledby": `${id}-heading` });
  const labels = labelFields(id, entry);
  const save = el("button", { type: "submit", className: "button button-primary", text: t("ref_save") });
  const retire = el("button", { type: "button", className: entry.retired ? "button button-secondary" : "button button-danger", text: t(entry.retired ? "ref_unretire" : "ref_retire") });
  const cancel = el("button", { type: "button", className: "button button-quiet", text: t("cancel") });
  form.append(formError(), el("div", { className: "form-grid" }, ...labels.parts), el("p", { className: "hint", text: t(entry.retired ? "ref_unretire_hint" : "ref_retire_hint") }), el("div", { className: "form-actions" }, save, retire, cancel));

  const close = () => {
    R.editing = null;
    $("reference-edit-slot").replaceChildren();
    $("reference-table").querySelector(`button[data-code="${CSS.escape(codeValue)}"]`)?.focus();
  };
  async function put(body, doneKey) {
    clearErrors(form);
    try {
      await api(`/api/v1/reference/${R.kind}/${encodeURIComponent(entry.code)}`, { method: "PUT", body });
      notice(t(doneKey, { code: entry.code }));
      await loadReferenceKind();
      R.onChange?.();
      close();
    } catch (err) {
      showErrors(form, err);
    }
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    put(labels.values(), "ref_saved");
  });
  retire.addEventListener("click", () => put({ retired: !entry.retired }, entry.retired ? "ref_unretired" : "ref_retired_done"));
  cancel.addEventListener("click", close);
  $("reference-edit-slot").replaceChildren(el("div", { className: "inline-panel" }, heading, form));
  heading.focus();
}

export function relabelReference() {
  renderReference();
  if ($("reference-add").open) renderAddForm();
  if (R.editing) openEdit(R.editing);
}
